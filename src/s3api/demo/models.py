"""What the demo reads from the API's `data` payloads, as small typed records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TERMINAL_JOB_STATES = frozenset({"done", "failed", "canceled"})


class MalformedResponseError(ValueError):
    """A response lacks a field the contract promises, or has it in the wrong type."""


def _field(data: Any, name: str, kind: type[Any]) -> Any:
    """`data[name]`, checked to be of `kind`."""
    if not isinstance(data, dict) or not isinstance(data.get(name), kind):
        raise MalformedResponseError(f"expected `{name}` ({kind.__name__}) in the response")
    return data[name]


@dataclass(frozen=True)
class Session:
    """An anonymous sign-in."""

    user_id: str
    token: str
    plan: str
    is_new: bool

    @classmethod
    def parse(cls, data: Any) -> Session:
        """Read `POST /auth/anon` data."""
        return cls(
            user_id=_field(data, "user_id", str),
            token=_field(data, "token", str),
            plan=_field(data, "plan", str),
            is_new=_field(data, "is_new", bool),
        )


@dataclass(frozen=True)
class Account:
    """The signed-in user's balance and limits (`GET /me`)."""

    plan: str
    credits: int
    rule_slots: int
    max_rule_slots: int
    max_items_per_job: int

    @classmethod
    def parse(cls, data: Any) -> Account:
        """Read `GET /me` data."""
        return cls(
            plan=_field(data, "plan", str),
            credits=_field(data, "credits", int),
            rule_slots=_field(data, "rule_slots", int),
            max_rule_slots=_field(data, "max_rule_slots", int),
            max_items_per_job=_field(data, "max_items_per_job", int),
        )


@dataclass(frozen=True)
class Preset:
    """A preset's name, concept vocabulary and default protected concepts (`GET /presets/{id}`)."""

    id: str
    name: str
    concepts: list[str]
    protect_defaults: list[str]

    @classmethod
    def parse(cls, data: Any) -> Preset:
        """Read `GET /presets/{id}` data."""
        return cls(
            id=_field(data, "id", str),
            name=_field(data, "name", str),
            concepts=[str(concept) for concept in _field(data, "concepts", list)],
            protect_defaults=[str(name) for name in _field(data, "protect_defaults", list)],
        )


@dataclass(frozen=True)
class Rule:
    """A saved rule (only what the demo needs of it)."""

    id: str
    name: str
    preset_id: str

    @classmethod
    def parse(cls, data: Any) -> Rule:
        """Read one rule object."""
        return cls(
            id=_field(data, "id", str),
            name=_field(data, "name", str),
            preset_id=_field(data, "preset_id", str),
        )


@dataclass(frozen=True)
class UploadTarget:
    """Where one item's input goes."""

    idx: int
    url: str


@dataclass(frozen=True)
class CreatedJob:
    """A job just created, with one upload URL per item."""

    job_id: str
    upload_targets: list[UploadTarget]

    @classmethod
    def parse(cls, data: Any) -> CreatedJob:
        """Read `POST /jobs` data."""
        targets = [
            UploadTarget(idx=_field(entry, "idx", int), url=_field(entry, "url", str))
            for entry in _field(data, "presigned_urls", list)
        ]
        return cls(job_id=_field(data, "job_id", str), upload_targets=targets)


@dataclass(frozen=True)
class ItemState:
    """One item's outcome so far."""

    idx: int
    status: str
    error: str | None


@dataclass(frozen=True)
class ResultLinks:
    """Fresh download URLs of one done item."""

    idx: int
    output_url: str
    preview_url: str


@dataclass(frozen=True)
class JobState:
    """A job as `GET /jobs/{id}` reports it."""

    job_id: str
    status: str
    total_items: int
    done_items: int
    failed_items: int
    items: list[ItemState]
    downloads: list[ResultLinks]

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change."""
        return self.status in TERMINAL_JOB_STATES

    @classmethod
    def parse(cls, data: Any) -> JobState:
        """Read `GET /jobs/{id}` data (the `job` object inside it)."""
        job = _field(data, "job", dict)
        items = [
            ItemState(
                idx=_field(entry, "idx", int),
                status=_field(entry, "status", str),
                error=entry.get("error") if isinstance(entry.get("error"), str) else None,
            )
            for entry in _field(job, "items", list)
        ]
        downloads = [
            ResultLinks(
                idx=_field(entry, "idx", int),
                output_url=_field(entry, "output_url", str),
                preview_url=_field(entry, "preview_url", str),
            )
            for entry in _field(job, "download_urls", list)
        ]
        return cls(
            job_id=_field(job, "job_id", str),
            status=_field(job, "status", str),
            total_items=_field(job, "total_items", int),
            done_items=_field(job, "done_items", int),
            failed_items=_field(job, "failed_items", int),
            items=items,
            downloads=downloads,
        )
