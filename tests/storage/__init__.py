"""Tests of the object storage backends, their routes and their factory."""
