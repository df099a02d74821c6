"""Users tests."""
