"""The formats a job's full-size results can be written in, shared by the API and the worker."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """How the worker encodes a result; `png` (the default) is the only lossless one."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def extension(self) -> str:
        """The result key's file extension."""
        return _EXTENSIONS[self]

    @property
    def content_type(self) -> str:
        """The media type the result is stored with."""
        return _CONTENT_TYPES[self]


_EXTENSIONS = {OutputFormat.PNG: "png", OutputFormat.JPEG: "jpg", OutputFormat.WEBP: "webp"}
_CONTENT_TYPES = {
    OutputFormat.PNG: "image/png",
    OutputFormat.JPEG: "image/jpeg",
    OutputFormat.WEBP: "image/webp",
}
