"""Database access: the engine wrapper, the tables and the migrations."""

from s3api.db.engine import Database

__all__ = ["Database"]
