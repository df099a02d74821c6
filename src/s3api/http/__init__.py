"""HTTP plumbing shared by every domain: envelope, errors, middleware, dependencies."""
