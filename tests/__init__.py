"""Tests of the s3api service."""
