"""The object key layout of API.md §5, in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3api.common.output_formats import OutputFormat

ALLOWED_PREFIXES = ("inputs/", "outputs/", "previews/", "masks/")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.\-/]+$")


class ObjectKeys:
    """Builds the keys of one job's objects."""

    @staticmethod
    def input(user_id: str, job_id: str, idx: int) -> str:
        """Where the client uploads item `idx`."""
        return f"inputs/{user_id}/{job_id}/{idx}.jpg"

    @staticmethod
    def output(
        user_id: str, job_id: str, idx: int, output_format: OutputFormat = OutputFormat.PNG
    ) -> str:
        """Where the worker writes the full-size result of item `idx`; the extension
        follows the job's output format."""
        return f"outputs/{user_id}/{job_id}/{idx}_result.{output_format.extension}"

    @staticmethod
    def preview(user_id: str, job_id: str, idx: int) -> str:
        """Where the worker writes the thumbnail of item `idx`."""
        return f"previews/{user_id}/{job_id}/{idx}_thumb.jpg"

    @staticmethod
    def mask(user_id: str, job_id: str, idx: int, concept: str) -> str:
        """Where a concept mask of item `idx` may be kept."""
        return f"masks/{user_id}/{job_id}/{idx}_{concept}.png"


@dataclass(frozen=True)
class KeyOwner:
    """The prefix, user and job that a key of the layout above lies under."""

    prefix: str
    user_id: str
    job_id: str

    @property
    def is_input(self) -> bool:
        """True for the client's uploads, False for what the worker writes."""
        return self.prefix == "inputs/"


def owner_of_key(key: str) -> KeyOwner | None:
    """Who a valid `<prefix><user_id>/<job_id>/<name>` key belongs to; None for other shapes."""
    if not is_valid_key(key):
        return None
    segments = key.split("/")
    if len(segments) != 4:
        return None
    return KeyOwner(prefix=f"{segments[0]}/", user_id=segments[1], job_id=segments[2])


def is_valid_key(key: str) -> bool:
    """True for keys under the four prefixes, free of `..`, empty segments and odd bytes."""
    if not key.startswith(ALLOWED_PREFIXES) or not _SAFE_KEY.match(key):
        return False
    segments = key.split("/")
    return all(segment not in ("", ".", "..") for segment in segments)
