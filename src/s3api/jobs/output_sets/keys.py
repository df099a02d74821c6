"""Object keys of a job's output set: its composed images and its zip, beside the results."""

from __future__ import annotations

SET_FILE_PREFIX = "set_"


def file_key(user_id: str, job_id: str, name: str) -> str:
    """A composed image of the set (`name` is one of the set's documented file names)."""
    return f"outputs/{user_id}/{job_id}/{SET_FILE_PREFIX}{name}"


def zip_key(user_id: str, job_id: str) -> str:
    """The zip with the results and the composed images."""
    return f"outputs/{user_id}/{job_id}/{SET_FILE_PREFIX}package.zip"


def result_entry(idx: int, extension: str) -> str:
    """A result's name inside the zip."""
    return f"results/{idx}_result.{extension}"


def composed_entry(name: str) -> str:
    """A composed image's name inside the zip."""
    return f"set/{name}"
