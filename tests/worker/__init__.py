"""Tests for the GPU worker."""
