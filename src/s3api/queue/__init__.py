"""A durable message queue on the database: leases, retries and dead letters, nothing else."""
