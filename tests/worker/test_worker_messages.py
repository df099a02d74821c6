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


def test_preset_protect_defaults_are_always_enforced() -> None:
    assert _message().effective_protect == ["Grout", "Frame_Molding", "Glass_highlight"]


def test_requested_protect_comes_first_without_duplicates() -> None:
    message = _message(protect=["Door", "Grout"])
    assert message.effective_protect == ["Door", "Grout", "Frame_Molding", "Glass_highlight"]


def test_a_default_concept_being_edited_is_not_protected_against_its_own_edit() -> None:
    message = _message(concepts={"Grout": {"action": "recolor", "value": "#FFFFFF"}})
    assert message.effective_protect == ["Frame_Molding", "Glass_highlight"]


def test_unknown_preset_protects_only_what_was_asked() -> None:
    assert _message(preset="nope", protect=["Body"]).effective_protect == ["Body"]


def test_a_message_without_output_format_asks_for_png_and_an_unknown_one_is_refused() -> None:
    assert _message().output_format is OutputFormat.PNG
    body = _message().model_dump(mode="json")
    assert WorkMessage.model_validate({**body, "output_format": "webp"}).output_format == "webp"
    with pytest.raises(ValidationError):
        WorkMessage.model_validate({**body, "output_format": "gif"})
