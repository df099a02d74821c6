"""The tables: accounts, rules, jobs and their items, the credit ledger, and the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from s3api.db.types import UtcDateTime


class Base(DeclarativeBase):
    """Declarative base shared by every table."""


class User(Base):
    """An account; `credits` is the balance that `billing_events` adds up to."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_hash: Mapped[str | None] = mapped_column(String(256), unique=True)
    plan: Mapped[str] = mapped_column(String(16), default="free")
    credits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Rule(Base):
    """A saved set of concept edits for one preset."""

    __tablename__ = "rules"
    __table_args__ = (Index("ix_rules_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    preset_id: Mapped[str] = mapped_column(String(32))
    concepts: Mapped[dict[str, Any]] = mapped_column(JSON)
    protect: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Job(Base):
    """A job and its live state: the single source of truth for the state machine."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    preset: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    total_items: Mapped[int] = mapped_column(Integer)
    done_items: Mapped[int] = mapped_column(Integer, default=0)
    failed_items: Mapped[int] = mapped_column(Integer, default=0)
    concepts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    protect: Mapped[list[str] | None] = mapped_column(JSON)
    rule_id: Mapped[str | None] = mapped_column(String(36))
    output_template: Mapped[str | None] = mapped_column(String(64))
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the job whose inputs this one re-runs
    parent_job_id: Mapped[str | None] = mapped_column(String(36))
    # when retention removed the job's objects; an expired job keeps its row and ledger
    expired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # how the worker encodes the results (`png`, `jpeg`, `webp`); set at execute or re-run
    output_format: Mapped[str] = mapped_column(String(8), default="png", server_default="png")


class JobItem(Base):
    """One image of a job; the first recorded result wins."""

    __tablename__ = "job_items"
    __table_args__ = (
        Index("ux_job_items_idempotency", "job_id", "idempotency_key", unique=True),
        # inputs are shared by re-runs: deletion asks which other jobs still use a key
        Index("ix_job_items_input_key", "input_key"),
    )

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    input_key: Mapped[str] = mapped_column(String(512))
    output_key: Mapped[str] = mapped_column(String(512))
    preview_key: Mapped[str] = mapped_column(String(512))
    error: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingEvent(Base):
    """One credit movement; a job has at most one `reserve` and one `refund`.

    `user_id` has no foreign key: the ledger outlives a deleted account, for accounting.
    """

    __tablename__ = "billing_events"
    __table_args__ = (
        Index("ix_billing_events_user_created", "user_id", "created_at"),
        Index("ux_billing_events_job_kind", "job_id", "kind", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    job_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IdempotencyKey(Base):
    """The first answer to a create sent with an `Idempotency-Key`, replayed for its retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of method, path and body: the same key with another request is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QueueMessage(Base):
    """An outbox row, written in the transaction of the change it announces, leased to consumers."""

    __tablename__ = "queue_messages"
    __table_args__ = (
        Index("ix_queue_messages_ready", "queue", "available_at"),
        Index("ux_queue_messages_lease", "lease_id", unique=True),
        Index("ux_queue_messages_subject", "queue", "subject_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64))
    # what the message is about (a job id on `gpu-jobs`): one live message per subject
    subject_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # epoch ms when the message may be claimed; while leased, the lease's expiry
    available_at: Mapped[int] = mapped_column(BigInteger)
    lease_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)


class DeadLetter(Base):
    """A message that used up its deliveries; kept for operators."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_queue_created", "queue", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobEvent(Base):
    """One event of a job's live stream; `seq` grows per job and is the stream's `id:`."""

    __tablename__ = "job_events"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobWebhook(Base):
    """Where a job's webhook goes, which events it wants, and how its last delivery went."""

    __tablename__ = "job_webhooks"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class WebhookSecret(Base):
    """A user's webhook signing secret, `whsec_<base64>`."""

    __tablename__ = "webhook_secrets"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobAnalysis(Base):
    """A job's analysis (segmentation only): its current run and every concept it covers."""

    __tablename__ = "job_analyses"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    # the run in flight or last run: queue subject and idempotency prefix of its message
    run_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    concepts: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AnalysisItem(Base):
    """One photo of a job's analysis; the first result of each run wins."""

    __tablename__ = "analysis_items"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    # the concepts the current run segments for this photo
    requested: Mapped[list[str]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(256))
    # the first analysis that succeeded: from then on the item has used GPU time
    analysed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StoredMask(Base):
    """A concept's label map of one input object, kept for every job that reads that input.

    `job_id` names the job under whose keys the objects lie; it has no foreign key, since a
    re-run keeps reading the maps after that job is deleted.
    """

    __tablename__ = "stored_masks"
    __table_args__ = (Index("ix_stored_masks_user", "user_id"),)

    input_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    concept: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(36))
    idx: Mapped[int] = mapped_column(Integer)
    mask_key: Mapped[str] = mapped_column(String(512))
    instances_key: Mapped[str] = mapped_column(String(512))
    # [{id, bbox: [x, y, w, h], area, score}], as the worker reported them
    instances: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobSelection(Base):
    """The instance selection an execute or re-run was given, by the job's own idx."""

    __tablename__ = "job_selections"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    instances: Mapped[dict[str, Any]] = mapped_column(JSON)


class JobShare(Base):
    """A job's customer share link: only the SHA-256 of its token is kept, one link a job."""

    __tablename__ = "job_shares"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutputSet(Base):
    """A job's output set: asked for at execute, assembled once the job ends with results."""

    __tablename__ = "output_sets"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    # queue subject and idempotency prefix of the assembly message
    set_id: Mapped[str] = mapped_column(String(36), unique=True)
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # the free plan's watermark spec chosen at execute, or None for clean compositions
    watermark: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # [{name, role, idx, key, width, height}]: planned when queued, measured when ready
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    zip_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # [{name, label, concepts}] rendered of every photo (drafts, options), or None for one
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # per idx, the keys of variants 1..n-1 (variant 0 is the item's result)
    variant_keys: Mapped[list[list[str]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
