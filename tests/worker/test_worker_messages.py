"""How the worker reads a message: the protect list it enforces."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from s3api.common.output_formats import OutputFormat
from s3api.worker.messages import WorkMessage


def _message(**overrides: Any) -> WorkMessage:
    body: dict[str, Any] = {
        "job_id": "job",
        "preset": "interior",
        "concepts": {"Floor": {"action": "recolor", "value": "oak_a"}},
        "protect": [],
        "items": [],
        "callback_url": "http://api/jobs/job/callback",
    }
    body.update(overrides)
    return WorkMessage.model_validate(body)


def test_an_empty_protect_list_protects_nothing() -> None:
    assert _message().effective_protect == []


def test_the_protect_list_is_used_as_sent_without_duplicates() -> None:
    message = _message(protect=["Door", "Grout", "Door"])
    assert message.effective_protect == ["Door", "Grout"]


def test_no_preset_default_is_added_to_the_list() -> None:
    assert _message(protect=["Wall"]).effective_protect == ["Wall"]
    assert _message(preset="seller", protect=["Body"]).effective_protect == ["Body"]


def test_a_message_without_output_format_asks_for_png_and_an_unknown_one_is_refused() -> None:
    assert _message().output_format is OutputFormat.PNG
    body = _message().model_dump(mode="json")
    assert WorkMessage.model_validate({**body, "output_format": "webp"}).output_format == "webp"
    with pytest.raises(ValidationError):
        WorkMessage.model_validate({**body, "output_format": "gif"})
