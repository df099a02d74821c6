"""Signed webhooks: per-user secrets, the outbox written with job events, and delivery."""
