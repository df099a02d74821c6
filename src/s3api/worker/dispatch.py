"""Which kind of work a queue message is: the one place that reads a message's `kind`.

An edit message has no `kind`; an analysis message has `kind: "analysis"`. A new kind adds
its model here and its branch in `MessageProcessor.process`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from s3api.worker.messages import ANALYSIS_KIND, AnalysisMessage, WorkMessage

QueueMessage = WorkMessage | AnalysisMessage
"""Every message the worker processes."""


class MalformedMessageError(ValueError):
    """A message this worker cannot read: an unknown `kind` or a bad shape."""


def parse_message(body: Mapping[str, Any]) -> QueueMessage:
    """The message `body` holds, by its `kind`; raises MalformedMessageError."""
    kind = body.get("kind")
    try:
        if kind is None:
            return WorkMessage.model_validate(body)
        if kind == ANALYSIS_KIND:
            return AnalysisMessage.model_validate(body)
    except ValidationError as exc:
        raise MalformedMessageError(f"malformed {kind or 'edit'} message") from exc
    raise MalformedMessageError("unknown message kind")
