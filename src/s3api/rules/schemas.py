"""Wire shapes of the rules endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from s3api.presets.catalog import MAX_CUSTOM_CONCEPT_LENGTH, PRESETS, Preset
from s3api.presets.edits import ConceptEdit, StoredConceptEdit
from s3api.timeutil import Timestamp

RuleName = Annotated[str, Field(min_length=1, max_length=100)]
ConceptName = Annotated[str, Field(min_length=1, max_length=64)]


def _names_of(preset: Preset) -> tuple[dict[str, Any], dict[str, Any]]:
    """The concept-name and protect-name schemas of one preset."""
    if preset.free_concepts:
        phrase = {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOM_CONCEPT_LENGTH}
        return phrase, phrase
    return {"enum": list(preset.concepts)}, {"enum": sorted(preset.protectable)}


def _per_preset_names(schema: dict[str, Any]) -> None:
    """Declare which concept and protect names each preset accepts (checked by the service)."""
    branches = []
    for preset in PRESETS.values():
        concept_names, protect_names = _names_of(preset)
        branches.append(
            {
                "properties": {
                    "preset_id": {"const": preset.id},
                    "concepts": {"propertyNames": concept_names},
                    "protect": {"items": protect_names},
                }
            }
        )
    schema["oneOf"] = branches


class RuleCreate(BaseModel):
    """`POST /rules` body."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_per_preset_names)

    name: RuleName
    preset_id: str = Field(min_length=1, max_length=64)
    concepts: dict[ConceptName, ConceptEdit] = Field(min_length=1, max_length=32)
    protect: list[ConceptName] | None = Field(default=None, max_length=32)
    """None: the preset's protect defaults not edited by the rule, stored as a list."""


class RuleUpdate(BaseModel):
    """`PUT /rules/{id}` body: only the given fields change."""

    model_config = ConfigDict(extra="ignore")

    name: RuleName | None = None
    concepts: dict[ConceptName, ConceptEdit] | None = Field(
        default=None, min_length=1, max_length=32
    )
    protect: list[ConceptName] | None = Field(default=None, max_length=32)


class RulePublic(BaseModel):
    """A rule as the client sees it."""

    id: str
    user_id: str
    name: str
    preset_id: str
    concepts: dict[str, StoredConceptEdit]
    protect: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class RuleEnvelope(BaseModel):
    """`{rule}`."""

    rule: RulePublic


class RuleList(BaseModel):
    """`{rules: [...]}`, newest first."""

    rules: list[RulePublic]


class RuleDeleted(BaseModel):
    """`{id, deleted: true}`."""

    id: str
    deleted: bool
