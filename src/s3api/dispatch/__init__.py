"""Push dispatch: deliver queue messages to an HTTP endpoint (a serverless GPU platform)."""
