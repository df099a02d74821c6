"""Definitions that the server and the GPU worker both need, with no dependency on either."""
