"""Batch AI photo editing backend."""
