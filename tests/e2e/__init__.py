"""End-to-end tests through real HTTP against server processes."""
