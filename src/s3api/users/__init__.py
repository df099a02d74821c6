"""Accounts: users, their plans and the limits the plans set."""
