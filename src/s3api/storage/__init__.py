"""Object storage behind one interface: local files with signed URLs, or any S3 store."""

from s3api.storage.base import ObjectInfo, ObjectStorage
from s3api.storage.keys import ObjectKeys

__all__ = ["ObjectInfo", "ObjectKeys", "ObjectStorage"]
