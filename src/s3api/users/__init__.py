"""Accounts: anonymous users and their live account state."""
