"""Follow a job's live event stream and turn its events into job states for the display.

The stream is read on a daemon thread that hands each state to the flow through a queue,
so the flow can stop waiting at its deadline even while the stream only carries pings.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from s3api.demo.client import ApiClient, DemoError
from s3api.jobs.schemas import ItemState, JobDetail
from s3api.jobs.states import ItemStatus

JobUpdate = JobDetail | DemoError | None
"""A new job state, a failure, or None once the stream has sent `end`."""


def _applied(state: JobDetail, kind: str, data: dict[str, Any]) -> JobDetail:
    """The job state after one `item` or `status` event."""
    if kind == "status":
        progress = data["progress"]
        return state.model_copy(
            update={
                "status": data["status"],
                "done_items": progress["done"],
                "failed_items": progress["failed"],
            }
        )
    items = [
        ItemState(idx=item.idx, status=data["status"], error=data["error"])
        if item.idx == data["idx"]
        else item
        for item in state.items
    ]
    done = sum(item.status == ItemStatus.DONE.value for item in items)
    failed = sum(item.status == ItemStatus.FAILED.value for item in items)
    return state.model_copy(update={"items": items, "done_items": done, "failed_items": failed})


def follow_job(client: ApiClient, job_id: str, updates: queue.Queue[JobUpdate]) -> None:
    """Put every state of the job on `updates` until its `end` (then None) or a failure."""
    state: JobDetail | None = None
    try:
        for event in client.job_events(job_id):
            data = json.loads(event.data)
            # a job with an output set ends its stream with the set's `output_set` event
            awaits_set = state is not None and state.output_set is not None
            if event.event == "output_set" or (event.event == "end" and not awaits_set):
                updates.put(None)
                return
            if event.event == "snapshot":
                state = JobDetail.model_validate(data)
            elif state is not None and event.event in ("item", "status"):
                state = _applied(state, event.event, data)
            if state is not None:
                updates.put(state)
        updates.put(DemoError("STREAM_ENDED", f"the event stream of job {job_id} ended early"))
    except DemoError as error:
        updates.put(error)
    except (ValueError, KeyError, TypeError) as exc:
        updates.put(DemoError("BAD_RESPONSE", f"unexpected event on the stream ({exc})"))


def start_following(client: ApiClient, job_id: str) -> queue.Queue[JobUpdate]:
    """Start reading the stream in the background; returns where its states arrive."""
    updates: queue.Queue[JobUpdate] = queue.Queue()
    threading.Thread(
        target=follow_job, args=(client, job_id, updates), name="job-events", daemon=True
    ).start()
    return updates
