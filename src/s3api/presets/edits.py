"""Concept edits (`{Concept: {action, value}}`) and their validation against a preset."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, WithJsonSchema

from s3api.errors import ApiError, ErrorCode
from s3api.presets.catalog import MAX_CUSTOM_CONCEPT_LENGTH, Preset
from s3api.presets.vocabulary import (
    COLOUR_NAMES,
    HEX_COLOUR_PATTERN,
    TEXTURE_NAMES,
    TONE_NAMES,
    check_edit_value,
)

_HEX_COLOUR = re.compile(HEX_COLOUR_PATTERN)


class EditAction(StrEnum):
    """What to do to a concept's region."""

    RECOLOR = "recolor"
    TONE = "tone"
    TEXTURE = "texture"
    REMOVE = "remove"


def _named_or_hex(names: tuple[str, ...], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in names or _HEX_COLOUR.match(value):
            return value
        raise ValueError(f"unknown {what} (use #RRGGBB or one of {', '.join(names)})")

    return check


def _named(names: tuple[str, ...], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in names:
            return value
        raise ValueError(f"unknown {what} (use one of {', '.join(names)})")

    return check


ColourValue = Annotated[
    str,
    AfterValidator(_named_or_hex(COLOUR_NAMES, "colour")),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": HEX_COLOUR_PATTERN},
                {"type": "string", "enum": list(COLOUR_NAMES)},
            ]
        }
    ),
]
ToneValue = Annotated[
    str,
    AfterValidator(_named(TONE_NAMES, "tone")),
    WithJsonSchema({"type": "string", "enum": list(TONE_NAMES)}),
]
TextureValue = Annotated[
    str,
    AfterValidator(_named(TEXTURE_NAMES, "texture")),
    WithJsonSchema({"type": "string", "enum": list(TEXTURE_NAMES)}),
]


class RecolorEdit(BaseModel):
    """Paint the concept a `#RRGGBB` colour or a named palette colour."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["recolor"]
    value: ColourValue


class ToneEdit(BaseModel):
    """Shift the concept's tone (`warm`, `cool`, ...)."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["tone"]
    value: ToneValue


class TextureEdit(BaseModel):
    """Lay a material (or a palette colour as one) over the concept."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["texture"]
    value: TextureValue


class RemoveEdit(BaseModel):
    """Remove the concept; a value is allowed and ignored."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["remove"]
    value: str | None = Field(default=None, max_length=64)


ConceptEdit = Annotated[
    RecolorEdit | ToneEdit | TextureEdit | RemoveEdit,
    Discriminator("action"),
]
"""One concept's edit as a request sends it: every value is checked against the vocabulary."""


class StoredConceptEdit(BaseModel):
    """One concept's edit as saved; read leniently so rules saved by older versions still load."""

    model_config = ConfigDict(extra="ignore")

    action: EditAction
    value: str | None = None


AnyConceptEdit = RecolorEdit | ToneEdit | TextureEdit | RemoveEdit | StoredConceptEdit


def check_stored_edits(concepts: Mapping[str, StoredConceptEdit], field: str) -> None:
    """Raise `VALIDATION_FAILED` naming each saved edit the worker could not render."""
    problems = []
    for name, edit in concepts.items():
        try:
            check_edit_value(edit.action.value, edit.value)
        except ValueError as exc:
            problems.append({"field": f"{field}.{name}.value", "message": str(exc)})
    if problems:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, "Edit values are not valid", {"fields": problems}
        )


def check_edits_for_preset(
    preset: Preset, concepts: Mapping[str, object], protect: Sequence[str]
) -> None:
    """Raise `VALIDATION_FAILED` naming concepts or protect names the preset does not know,
    with the names it does know in `details`.

    A free preset (`custom`) knows every noun phrase of 1 to 60 characters.
    """
    if preset.free_concepts:
        unknown_concepts = sorted(name for name in concepts if not is_custom_concept(name))
        unknown_protect = sorted({name for name in protect if not is_custom_concept(name)})
        why = f"not a phrase of 1 to {MAX_CUSTOM_CONCEPT_LENGTH} printable characters"
    else:
        unknown_concepts = sorted(name for name in concepts if name not in preset.concepts)
        unknown_protect = sorted({name for name in protect if name not in preset.protectable})
        why = f"not a name of preset '{preset.id}' (names are case-sensitive)"
    if not unknown_concepts and not unknown_protect:
        return
    fields = [{"field": f"concepts.{name}", "message": why} for name in unknown_concepts]
    fields += [
        {"field": "protect", "message": f"{name_text(name)} is {why}"} for name in unknown_protect
    ]
    details: dict[str, Any] = {"fields": fields, "preset": preset.id}
    if unknown_concepts:
        details["unknown_concepts"] = unknown_concepts
    if unknown_protect:
        details["unknown_protect"] = unknown_protect
    if not preset.free_concepts:
        details["allowed_concepts"] = list(preset.concepts)
        details["allowed_protect"] = sorted(preset.protectable)
    names = ", ".join(name_text(name) for name in [*unknown_concepts, *unknown_protect][:5])
    if preset.free_concepts:
        message = f"Custom concept names must be phrases of 1 to {MAX_CUSTOM_CONCEPT_LENGTH} printable characters: {names}"
    else:
        message = (
            f"Unknown names for preset '{preset.id}': {names}. Names are case-sensitive; "
            "details.allowed_concepts and details.allowed_protect list the preset's own"
        )
    raise ApiError(ErrorCode.VALIDATION_FAILED, message, details)


def name_text(name: str) -> str:
    """A client's name as a message may show it: quoted, escaped, at most 60 characters."""
    return json.dumps(name[:MAX_CUSTOM_CONCEPT_LENGTH])


def is_custom_concept(name: str) -> bool:
    """A custom concept is a one-line phrase of 1 to 60 characters, not just blanks."""
    return 0 < len(name) <= MAX_CUSTOM_CONCEPT_LENGTH and bool(name.strip()) and name.isprintable()


def edits_to_json(concepts: Mapping[str, AnyConceptEdit]) -> dict[str, dict[str, str | None]]:
    """The stored and wire form of the edits."""
    return {
        name: {"action": str(edit.action), "value": edit.value} for name, edit in concepts.items()
    }
