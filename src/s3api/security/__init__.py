"""Credentials: user JWTs and the GPU side's shared secret."""
