"""What the service tells operators: Prometheus metrics and log context."""
