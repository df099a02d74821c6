"""Queries on `job_analyses`, `analysis_items`, `stored_masks` and `job_selections`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.driver import execute
from s3api.db.models import AnalysisItem, Job, JobAnalysis, JobItem, JobSelection, StoredMask
from s3api.jobs.analysis import keys
from s3api.jobs.analysis.schemas import AnalysisItemStatus, AnalysisStatus

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class AnalysisRecord:
    """A job's analysis row."""

    job_id: str
    run_id: str
    status: AnalysisStatus
    concepts: list[str]


@dataclass(frozen=True)
class AnalysisItemRecord:
    """One photo of a job's analysis."""

    idx: int
    status: AnalysisItemStatus
    requested: list[str]
    error: str | None
    idempotency_key: str | None
    analysed_at: datetime | None


@dataclass(frozen=True)
class StoredMaskRecord:
    """A concept's stored label map of one input object."""

    input_key: str
    concept: str
    job_id: str
    idx: int
    mask_key: str
    instances_key: str
    instances: list[dict[str, Any]]
    width: int
    height: int


# built once, executed with parameters
_ANALYSES = cast(Table, JobAnalysis.__table__)
_ANALYSIS_ITEMS = cast(Table, AnalysisItem.__table__)
_MASKS = cast(Table, StoredMask.__table__)
_SELECTIONS = cast(Table, JobSelection.__table__)
_ITEMS = cast(Table, JobItem.__table__)
_JOBS = cast(Table, Job.__table__)

_FIND_ANALYSIS = select(
    _ANALYSES.c.job_id, _ANALYSES.c.run_id, _ANALYSES.c.status, _ANALYSES.c.concepts
).where(_ANALYSES.c.job_id == bindparam("job_id"))
_FIND_ANALYSIS_OF_RUN = select(_ANALYSES.c.job_id).where(_ANALYSES.c.run_id == bindparam("run_id"))
_INSERT_ANALYSIS = insert(_ANALYSES)
_START_RUN = (
    update(_ANALYSES)
    .where(_ANALYSES.c.job_id == bindparam("target_job"))
    .values(
        run_id=bindparam("new_run"),
        status=AnalysisStatus.RUNNING.value,
        concepts=bindparam("new_concepts"),
        updated_at=bindparam("changed_at"),
    )
)
_SET_STATUS = (
    update(_ANALYSES)
    .where(_ANALYSES.c.job_id == bindparam("target_job"))
    .values(status=bindparam("new_status"), updated_at=bindparam("changed_at"))
)
_FIND_ITEMS = (
    select(
        _ANALYSIS_ITEMS.c.idx,
        _ANALYSIS_ITEMS.c.status,
        _ANALYSIS_ITEMS.c.requested,
        _ANALYSIS_ITEMS.c.error,
        _ANALYSIS_ITEMS.c.idempotency_key,
        _ANALYSIS_ITEMS.c.analysed_at,
    )
    .where(_ANALYSIS_ITEMS.c.job_id == bindparam("job_id"))
    .order_by(_ANALYSIS_ITEMS.c.idx)
)
_INSERT_ITEMS = insert(_ANALYSIS_ITEMS)
_QUEUE_ITEM = (
    update(_ANALYSIS_ITEMS)
    .where(
        _ANALYSIS_ITEMS.c.job_id == bindparam("target_job"),
        _ANALYSIS_ITEMS.c.idx == bindparam("target_idx"),
    )
    .values(
        status=bindparam("new_status"),
        requested=bindparam("new_requested"),
        error=None,
        idempotency_key=None,
        updated_at=bindparam("changed_at"),
    )
)
_STORE_ITEM_RESULT = (
    update(_ANALYSIS_ITEMS)
    .where(
        _ANALYSIS_ITEMS.c.job_id == bindparam("target_job"),
        _ANALYSIS_ITEMS.c.idx == bindparam("target_idx"),
        _ANALYSIS_ITEMS.c.status == AnalysisItemStatus.PENDING.value,
    )
    .values(
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        idempotency_key=bindparam("new_key"),
        analysed_at=func.coalesce(_ANALYSIS_ITEMS.c.analysed_at, bindparam("analysed_now")),
        updated_at=bindparam("changed_at"),
    )
)
_FAIL_PENDING = (
    update(_ANALYSIS_ITEMS)
    .where(
        _ANALYSIS_ITEMS.c.job_id == bindparam("target_job"),
        _ANALYSIS_ITEMS.c.status == AnalysisItemStatus.PENDING.value,
    )
    .values(
        status=AnalysisItemStatus.FAILED.value,
        error=bindparam("reason"),
        updated_at=bindparam("changed_at"),
    )
    .returning(_ANALYSIS_ITEMS.c.idx)
)
# analysed items whose edit result is not done: used GPU time that settlement keeps
_ANALYSED_NOT_DONE = (
    select(func.count())
    .select_from(
        _ANALYSIS_ITEMS.join(
            _ITEMS,
            and_(
                _ITEMS.c.job_id == _ANALYSIS_ITEMS.c.job_id, _ITEMS.c.idx == _ANALYSIS_ITEMS.c.idx
            ),
        )
    )
    .where(
        _ANALYSIS_ITEMS.c.job_id == bindparam("job_id"),
        _ANALYSIS_ITEMS.c.analysed_at.is_not(None),
        _ITEMS.c.status != "done",
    )
)
_LIVE_RUNS = (
    select(_ANALYSES.c.run_id)
    .join(_JOBS, _JOBS.c.id == _ANALYSES.c.job_id)
    .where(
        _ANALYSES.c.run_id.in_(bindparam("run_ids", expanding=True)),
        _ANALYSES.c.status == AnalysisStatus.RUNNING.value,
        _JOBS.c.status == "uploaded",
    )
)
_FIND_MASKS = select(
    _MASKS.c.input_key,
    _MASKS.c.concept,
    _MASKS.c.job_id,
    _MASKS.c.idx,
    _MASKS.c.mask_key,
    _MASKS.c.instances_key,
    _MASKS.c.instances,
    _MASKS.c.width,
    _MASKS.c.height,
).where(_MASKS.c.input_key.in_(bindparam("input_keys", expanding=True)))
_MASK_KEYS_OF_INPUTS = select(_MASKS.c.mask_key, _MASKS.c.instances_key).where(
    _MASKS.c.input_key.in_(bindparam("input_keys", expanding=True))
)
_DELETE_MASKS_OF_INPUTS = delete(_MASKS).where(
    _MASKS.c.input_key.in_(bindparam("input_keys", expanding=True))
)
_MASK_KEYS_OF_USER = select(_MASKS.c.mask_key, _MASKS.c.instances_key).where(
    _MASKS.c.user_id == bindparam("user_id")
)
_ANALYSED_ITEMS_OF_USER = (
    select(_ANALYSIS_ITEMS.c.job_id, _ANALYSIS_ITEMS.c.idx)
    .join(_JOBS, _JOBS.c.id == _ANALYSIS_ITEMS.c.job_id)
    .where(_JOBS.c.user_id == bindparam("user_id"))
)
_INSERT_SELECTION = insert(_SELECTIONS)
_FIND_SELECTION = select(_SELECTIONS.c.instances).where(_SELECTIONS.c.job_id == bindparam("job_id"))


def _insert_mask_statement(dialect_insert: Any) -> Any:
    """`INSERT … ON CONFLICT (input_key, concept) DO NOTHING`: the first stored map wins."""
    return dialect_insert(_MASKS).on_conflict_do_nothing(index_elements=["input_key", "concept"])


_INSERT_MASK = {
    "postgresql": _insert_mask_statement(postgres_insert),
    "sqlite": _insert_mask_statement(sqlite_insert),
}


async def find_analysis(connection: AsyncConnection, job_id: str) -> AnalysisRecord | None:
    """The job's analysis, None before its first `analyze`."""
    row = (await execute(connection, _FIND_ANALYSIS, {"job_id": job_id})).first()
    if row is None:
        return None
    return AnalysisRecord(row.job_id, row.run_id, AnalysisStatus(row.status), list(row.concepts))


async def job_of_run(connection: AsyncConnection, run_id: str) -> str | None:
    """The job whose current run is `run_id`."""
    row = (await execute(connection, _FIND_ANALYSIS_OF_RUN, {"run_id": run_id})).first()
    return None if row is None else str(row.job_id)


async def find_items(connection: AsyncConnection, job_id: str) -> list[AnalysisItemRecord]:
    """The analysis's photos in idx order (none before the first `analyze`)."""
    rows = await execute(connection, _FIND_ITEMS, {"job_id": job_id})
    return [
        AnalysisItemRecord(
            idx=row.idx,
            status=AnalysisItemStatus(row.status),
            requested=list(row.requested),
            error=row.error,
            idempotency_key=row.idempotency_key,
            analysed_at=row.analysed_at,
        )
        for row in rows
    ]


async def start_run(
    connection: AsyncConnection,
    job_id: str,
    run_id: str,
    concepts: list[str],
    requested: dict[int, list[str]],
    total_items: int,
    now: datetime,
) -> None:
    """Make `run_id` the job's running run: its photos pending with the concepts to segment;
    the other photos keep what they have."""
    params = {"new_run": run_id, "new_concepts": concepts, "changed_at": now, "target_job": job_id}
    if (await execute(connection, _START_RUN, params)).rowcount == 0:
        await execute(
            connection,
            _INSERT_ANALYSIS,
            {
                "job_id": job_id,
                "run_id": run_id,
                "status": AnalysisStatus.RUNNING.value,
                "concepts": concepts,
                "created_at": now,
                "updated_at": now,
            },
        )
        await execute(
            connection,
            _INSERT_ITEMS,
            [
                {
                    "job_id": job_id,
                    "idx": idx,
                    "status": AnalysisItemStatus.PENDING.value,
                    "requested": requested.get(idx, []),
                    "updated_at": now,
                }
                for idx in range(total_items)
            ],
        )
        return
    for idx, wanted in sorted(requested.items()):
        await execute(
            connection,
            _QUEUE_ITEM,
            {
                "target_job": job_id,
                "target_idx": idx,
                "new_status": AnalysisItemStatus.PENDING.value,
                "new_requested": wanted,
                "changed_at": now,
            },
        )


async def store_item_result(
    connection: AsyncConnection,
    job_id: str,
    idx: int,
    status: AnalysisItemStatus,
    error: str | None,
    idempotency_key: str,
    now: datetime,
) -> bool:
    """First result of the run wins: False when the photo is not pending."""
    stored = await execute(
        connection,
        _STORE_ITEM_RESULT,
        {
            "target_job": job_id,
            "target_idx": idx,
            "new_status": status.value,
            "new_error": None if error is None else error[:MAX_ERROR_LENGTH],
            "new_key": idempotency_key,
            "analysed_now": now if status is AnalysisItemStatus.DONE else None,
            "changed_at": now,
        },
    )
    return stored.rowcount == 1


async def set_status(
    connection: AsyncConnection, job_id: str, status: AnalysisStatus, now: datetime
) -> None:
    """The analysis as a whole moved."""
    await execute(
        connection,
        _SET_STATUS,
        {"target_job": job_id, "new_status": status.value, "changed_at": now},
    )


async def fail_pending_items(
    connection: AsyncConnection, job_id: str, reason: str, now: datetime
) -> list[int]:
    """Every photo still pending fails with `reason`; their indexes."""
    rows = await execute(
        connection,
        _FAIL_PENDING,
        {"target_job": job_id, "reason": reason[:MAX_ERROR_LENGTH], "changed_at": now},
    )
    return sorted(int(row.idx) for row in rows)


async def count_analysed_not_done(connection: AsyncConnection, job_id: str) -> int:
    """Photos whose analysis succeeded but whose edit result is not done."""
    return int((await execute(connection, _ANALYSED_NOT_DONE, {"job_id": job_id})).scalar_one())


async def live_runs(connection: AsyncConnection, run_ids: Sequence[str]) -> set[str]:
    """Those of `run_ids` still running on a job that is still `uploaded`."""
    if not run_ids:
        return set()
    rows = await execute(connection, _LIVE_RUNS, {"run_ids": list(run_ids)})
    return {str(row.run_id) for row in rows}


async def find_masks(
    connection: AsyncConnection, input_keys: Sequence[str]
) -> dict[str, dict[str, StoredMaskRecord]]:
    """The stored label maps of these input objects: input key → concept → map."""
    found: dict[str, dict[str, StoredMaskRecord]] = {}
    if not input_keys:
        return found
    rows = await execute(connection, _FIND_MASKS, {"input_keys": sorted(set(input_keys))})
    for row in rows:
        record = StoredMaskRecord(
            input_key=row.input_key,
            concept=row.concept,
            job_id=row.job_id,
            idx=row.idx,
            mask_key=row.mask_key,
            instances_key=row.instances_key,
            instances=list(row.instances),
            width=row.width,
            height=row.height,
        )
        found.setdefault(record.input_key, {})[record.concept] = record
    return found


async def insert_masks(
    connection: AsyncConnection, user_id: str, records: Sequence[StoredMaskRecord], now: datetime
) -> None:
    """Record stored label maps; a map already known for an input and concept stays."""
    statement = _INSERT_MASK[connection.dialect.name]
    for record in records:
        await connection.execute(
            statement,
            {
                "input_key": record.input_key,
                "concept": record.concept,
                "user_id": user_id,
                "job_id": record.job_id,
                "idx": record.idx,
                "mask_key": record.mask_key,
                "instances_key": record.instances_key,
                "instances": record.instances,
                "width": record.width,
                "height": record.height,
                "created_at": now,
            },
        )


async def take_mask_keys(
    connection: AsyncConnection,
    user_id: str,
    job_id: str,
    item_count: int,
    unshared_inputs: Sequence[str],
) -> list[str]:
    """Forget the stored maps of the inputs no kept job reads any more and return their
    object keys (label maps, instances files), with the job's own overlays, which only its
    analysis shows."""
    inputs = sorted(set(unshared_inputs))
    found = {keys.overlay_key(user_id, job_id, idx) for idx in range(item_count)}
    if inputs:
        rows = await execute(connection, _MASK_KEYS_OF_INPUTS, {"input_keys": inputs})
        for row in rows:
            found.update((row.mask_key, row.instances_key))
        await execute(connection, _DELETE_MASKS_OF_INPUTS, {"input_keys": inputs})
    return sorted(found)


async def object_keys_of_user(connection: AsyncConnection, user_id: str) -> list[str]:
    """Every label map, instances file and overlay of every job of the user."""
    found: set[str] = set()
    for row in await execute(connection, _MASK_KEYS_OF_USER, {"user_id": user_id}):
        found.update((row.mask_key, row.instances_key))
    for row in await execute(connection, _ANALYSED_ITEMS_OF_USER, {"user_id": user_id}):
        found.update(
            (
                keys.instances_key(user_id, row.job_id, row.idx),
                keys.overlay_key(user_id, row.job_id, row.idx),
            )
        )
    return sorted(found)


async def store_selection(
    connection: AsyncConnection, job_id: str, instances: dict[str, Any]
) -> None:
    """The instance selection of a job being queued, by its own idx."""
    await execute(connection, _INSERT_SELECTION, {"job_id": job_id, "instances": instances})


async def find_selection(connection: AsyncConnection, job_id: str) -> dict[str, Any] | None:
    """The job's stored instance selection, if it was given one."""
    row = (await execute(connection, _FIND_SELECTION, {"job_id": job_id})).first()
    return None if row is None else dict(row.instances)


async def end_run(
    connection: AsyncConnection, job_id: str, reason: str, now: datetime
) -> list[int]:
    """Close a running run: its pending photos fail with `reason`, and the analysis is done
    when any photo of the run was analysed, else failed. The failed indexes; [] if none ran."""
    analysis = await find_analysis(connection, job_id)
    if analysis is None or analysis.status is not AnalysisStatus.RUNNING:
        return []
    failed = await fail_pending_items(connection, job_id, reason, now)
    await set_status(connection, job_id, await run_outcome(connection, job_id), now)
    return failed


async def run_outcome(connection: AsyncConnection, job_id: str) -> AnalysisStatus:
    """How the current run ended: done if any photo of it was analysed, else failed."""
    items = await find_items(connection, job_id)
    in_run = [item for item in items if item.requested]
    if any(item.status is AnalysisItemStatus.DONE for item in in_run):
        return AnalysisStatus.DONE
    return AnalysisStatus.FAILED
