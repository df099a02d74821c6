"""The GPU job queue: an outbox table with leases, retries and a dead-letter table."""
