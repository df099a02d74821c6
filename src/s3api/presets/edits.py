"""Concept edits (`{Concept: {action, value}}`) and their validation against a preset."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from s3api.errors import ApiError, ErrorCode
from s3api.presets.catalog import MAX_CUSTOM_CONCEPT_LENGTH, Preset

_VALUE_PATTERN = re.compile(r"^(#[0-9A-Fa-f]{6}|[A-Za-z][A-Za-z0-9_\-]{0,63})$")


class EditAction(StrEnum):
    """What to do to a concept's region."""

    RECOLOR = "recolor"
    TONE = "tone"
    TEXTURE = "texture"
    REMOVE = "remove"


class ConceptEdit(BaseModel):
    """One concept's edit: a `#RRGGBB` colour or a style name; no value needed for remove."""

    model_config = ConfigDict(extra="ignore")

    action: EditAction
    value: str | None = None

    @model_validator(mode="after")
    def _value_fits_action(self) -> ConceptEdit:
        if self.value is None:
            if self.action is not EditAction.REMOVE:
                raise ValueError(f"'{self.action.value}' needs a value")
        elif not _VALUE_PATTERN.match(self.value):
            raise ValueError("value must be a #RRGGBB colour or a name such as oak_a")
        return self


def check_edits_for_preset(
    preset: Preset, concepts: Mapping[str, ConceptEdit], protect: Sequence[str]
) -> None:
    """Raise `VALIDATION_FAILED` naming concepts or protect names the preset does not know.

    A free preset (`custom`) knows every noun phrase of 1 to 60 characters.
    """
    if preset.free_concepts:
        unknown_concepts = sorted(name for name in concepts if not is_custom_concept(name))
        unknown_protect = sorted({name for name in protect if not is_custom_concept(name)})
    else:
        unknown_concepts = sorted(name for name in concepts if name not in preset.concepts)
        unknown_protect = sorted({name for name in protect if name not in preset.protectable})
    if unknown_concepts or unknown_protect:
        details: dict[str, Any] = {"preset": preset.id}
        if unknown_concepts:
            details["unknown_concepts"] = unknown_concepts
        if unknown_protect:
            details["unknown_protect"] = unknown_protect
        raise ApiError(ErrorCode.VALIDATION_FAILED, f"Not valid for preset '{preset.id}'", details)


def is_custom_concept(name: str) -> bool:
    """A custom concept is a one-line phrase of 1 to 60 characters, not just blanks."""
    return 0 < len(name) <= MAX_CUSTOM_CONCEPT_LENGTH and bool(name.strip()) and name.isprintable()


def edits_to_json(concepts: Mapping[str, ConceptEdit]) -> dict[str, dict[str, str | None]]:
    """The stored and wire form of the edits."""
    return {
        name: {"action": edit.action.value, "value": edit.value} for name, edit in concepts.items()
    }
