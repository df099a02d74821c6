"""AnalysisLifecycle: the transactions of an analysis, beside the job's own state machine.

The job stays `uploaded` throughout. Each method is one transaction under the job's row
lock; a run's queue message (subject: the run id) is written with the run, and each result
is recorded once, with its events, in the transaction that accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.jobs import item_repository
from s3api.jobs import repository as jobs_repository
from s3api.jobs.analysis import repository
from s3api.jobs.analysis.messages import analysis_message
from s3api.jobs.analysis.repository import StoredMaskRecord
from s3api.jobs.analysis.schemas import AnalysisItemStatus, AnalysisStatus
from s3api.jobs.event_log import EventKind, JobEventLog
from s3api.jobs.records import JobRecord
from s3api.jobs.states import JobStatus
from s3api.queue.message_queue import MessageQueue
from s3api.timeutil import utcnow


@dataclass(frozen=True)
class AnalysisPolicy:
    """What bounds analyses and how their messages are addressed."""

    max_concepts_per_job: int
    public_base_url: str
    batch_concurrency: int


@dataclass(frozen=True)
class AnalysisResult:
    """One photo's analysis as reported by the GPU side, already checked against storage."""

    run_id: str
    idx: int
    status: AnalysisItemStatus
    idempotency_key: str
    error: str | None = None
    masks: tuple[StoredMaskRecord, ...] = ()


@dataclass(frozen=True)
class AnalysisResultOutcome:
    """What recording a result did."""

    processed: bool
    duplicate: bool
    analysis_status: AnalysisStatus | None


class AnalysisLifecycle:
    """The only code that starts analysis runs or records their results."""

    def __init__(
        self,
        database: Database,
        queue: MessageQueue,
        events: JobEventLog,
        policy: AnalysisPolicy,
    ) -> None:
        self.database = database
        self.queue = queue
        self.events = events
        self.policy = policy

    async def start(self, user_id: str, job_id: str, concepts: list[str]) -> bool:
        """Queue a run for the (photo, concept) pairs not stored yet; False when none is
        missing, so the stored analysis answers."""
        async with self.database.transaction() as connection:
            job = await jobs_repository.find_job(connection, job_id, user_id=user_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            if job.status is not JobStatus.UPLOADED:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    f"Job is {job.status.value}; only uploaded jobs can be analysed",
                    {"status": job.status.value},
                )
            analysis = await repository.find_analysis(connection, job_id)
            if analysis is not None and analysis.status is AnalysisStatus.RUNNING:
                raise ApiError(ErrorCode.ANALYSIS_IN_PROGRESS, details={"status": "running"})
            items = await item_repository.find_items(connection, job_id)
            stored = await repository.find_masks(connection, [item.input_key for item in items])
            requested = {
                item.idx: missing
                for item in items
                if (missing := [c for c in concepts if c not in stored.get(item.input_key, {})])
            }
            if not requested:
                return False
            known = analysis.concepts if analysis is not None else []
            covered = list(dict.fromkeys([*known, *concepts]))
            limit = self.policy.max_concepts_per_job
            if len(covered) > limit:
                raise ApiError(
                    ErrorCode.ANALYSIS_CONCEPT_LIMIT,
                    f"A job's analysis covers at most {limit} distinct concepts",
                    {"max_concepts": limit, "analysed": len(known)},
                )
            run_id = new_id()
            now = utcnow()
            await repository.start_run(
                connection, job_id, run_id, covered, requested, job.total_items, now
            )
            body = analysis_message(
                job,
                items,
                run_id,
                requested,
                stored,
                self.policy.public_base_url,
                self.policy.batch_concurrency,
            )
            await self.queue.enqueue(connection, run_id, body)
            await self.events.append(
                connection, job, [(EventKind.ANALYSIS, _status_data(run_id, "running", covered))]
            )
            return True

    async def record_result(self, job_id: str, result: AnalysisResult) -> AnalysisResultOutcome:
        """Record the first result of a photo in the current run; close the run with its last."""
        async with self.database.transaction() as connection:
            job = await jobs_repository.find_job(connection, job_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            check_idx(job, result.idx)
            analysis = await repository.find_analysis(connection, job_id)
            if analysis is None:
                raise ApiError(
                    ErrorCode.JOB_INVALID_TRANSITION,
                    "The job has no analysis",
                    {"status": job.status.value},
                )
            if analysis.run_id != result.run_id:
                # a run that has been replaced: its results are old news
                return AnalysisResultOutcome(False, True, analysis.status)
            items = {item.idx: item for item in await repository.find_items(connection, job_id)}
            item = items[result.idx]
            seen = item.idempotency_key == result.idempotency_key
            if seen or item.status is not AnalysisItemStatus.PENDING:
                return AnalysisResultOutcome(False, True, analysis.status)
            if job.status is not JobStatus.UPLOADED:
                return AnalysisResultOutcome(False, False, analysis.status)
            now = utcnow()
            error = (
                (result.error or "failed") if result.status is AnalysisItemStatus.FAILED else None
            )
            await repository.store_item_result(
                connection, job_id, result.idx, result.status, error, result.idempotency_key, now
            )
            if result.status is AnalysisItemStatus.DONE:
                await repository.insert_masks(connection, job.user_id, result.masks, now)
            pending: list[tuple[EventKind, dict[str, Any]]] = [
                (
                    EventKind.ANALYSIS_ITEM,
                    _item_data(result.run_id, result.idx, result.status, error),
                )
            ]
            status = analysis.status
            others = [i for i in items.values() if i.idx != result.idx]
            if all(other.status is not AnalysisItemStatus.PENDING for other in others):
                status = await repository.run_outcome(connection, job_id)
                await repository.set_status(connection, job_id, status, now)
                pending.append(
                    (EventKind.ANALYSIS, _status_data(result.run_id, status, analysis.concepts))
                )
            await self.events.append(connection, job, pending)
        return AnalysisResultOutcome(True, False, status)

    async def fail_run(self, connection: AsyncConnection, run_id: str, reason: str) -> bool:
        """A dead-lettered analysis message: its pending photos fail, inside the caller's
        transaction; False when the run is no longer the job's running one."""
        job_id = await repository.job_of_run(connection, run_id)
        if job_id is None:
            return False
        job = await jobs_repository.find_job(connection, job_id, lock=True)
        analysis = await repository.find_analysis(connection, job_id)
        if job is None or analysis is None or analysis.status is not AnalysisStatus.RUNNING:
            return False
        failed = await repository.end_run(connection, job_id, reason, utcnow())
        ended = await repository.find_analysis(connection, job_id)
        assert ended is not None
        pending: list[tuple[EventKind, dict[str, Any]]] = [
            (EventKind.ANALYSIS_ITEM, _item_data(run_id, idx, AnalysisItemStatus.FAILED, reason))
            for idx in failed
        ]
        pending.append((EventKind.ANALYSIS, _status_data(run_id, ended.status, ended.concepts)))
        await self.events.append(connection, job, pending)
        return True


def check_idx(job: JobRecord, idx: int) -> None:
    """A photo of this job, else 400."""
    if not 0 <= idx < job.total_items:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            f"idx must be between 0 and {job.total_items - 1}",
            {"field": "idx"},
        )


def _item_data(
    run_id: str, idx: int, status: AnalysisItemStatus, error: str | None
) -> dict[str, Any]:
    return {"analysis_id": run_id, "idx": idx, "status": status.value, "error": error}


def _status_data(run_id: str, status: str, concepts: list[str]) -> dict[str, Any]:
    return {"analysis_id": run_id, "status": str(status), "concepts": concepts}
