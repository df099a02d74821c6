"""The temporary files of local uploads: named, found beside their object, swept when stale.

An upload streams into `.<name>.<16 hex>.partial` beside its object and is renamed over it
at the end. A process killed mid-upload leaves that file behind; deletion removes the ones
beside the objects it deletes, and the background sweep those left idle too long.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio

from s3api.common.errors import StorageUnavailableError

PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{16}\.partial$")
DEFAULT_SWEEP_LIMIT = 1000
"""The most stale files one sweep removes; the rest wait for the next pass."""


def partial_path_for(target: Path) -> Path:
    """A fresh temporary path beside `target`, unique among concurrent uploads of it."""
    return target.parent / f".{target.name}.{secrets.token_hex(8)}{PARTIAL_SUFFIX}"


def target_name_of(partial_name: str) -> str | None:
    """The object name a temporary file was written for; None for other names."""
    matched = _PARTIAL_NAME.match(partial_name)
    return None if matched is None else matched["target"]


def remove_partials_beside(targets: Iterable[Path]) -> None:
    """Unlink the temporary files of uploads to these objects, one directory read each."""
    names_by_directory: dict[Path, set[str]] = defaultdict(set)
    for target in targets:
        names_by_directory[target.parent].add(target.name)
    for directory, names in names_by_directory.items():
        try:
            entries = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise StorageUnavailableError(f"cannot list {directory}: {exc}") from exc
        for entry in entries:
            if target_name_of(entry) in names:
                _unlink(directory / entry)


def remove_stale_partials(root: Path, idle_before: float, limit: int) -> list[Path]:
    """Unlink up to `limit` temporary files under `root` last written before `idle_before`
    (Unix seconds); returns them. Blocking: run it off the event loop."""
    removed: list[Path] = []
    for directory, _, files in os.walk(root):
        for name in files:
            if target_name_of(name) is None:
                continue
            path = Path(directory, name)
            try:
                if path.lstat().st_mtime >= idle_before:
                    continue
            except FileNotFoundError:
                continue  # finished or removed meanwhile
            _unlink(path)
            removed.append(path)
            if len(removed) >= limit:
                return removed
    return removed


class StalePartialSweep:
    """The background pass over local storage's abandoned upload files.

    A file still being written changes its modification time with every write, so only
    uploads idle for `max_idle_seconds` are removed; `clock` (Unix seconds) is replaceable
    so tests move past that age without waiting.
    """

    def __init__(self, root: Path, max_idle_seconds: int, limit: int = DEFAULT_SWEEP_LIMIT) -> None:
        self.root = root
        self.max_idle_seconds = max_idle_seconds
        self.limit = limit
        self.clock: Callable[[], float] = time.time

    async def remove_stale_partials(self) -> int:
        """One pass; returns how many files it removed."""
        idle_before = self.clock() - self.max_idle_seconds
        removed = await anyio.to_thread.run_sync(
            remove_stale_partials, self.root, idle_before, self.limit
        )
        return len(removed)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageUnavailableError(f"cannot delete {path.name}: {exc}") from exc
