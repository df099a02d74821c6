"""Delivery of queued jobs to the GPU side: pull leases, acks, retries, dead letters, push."""
