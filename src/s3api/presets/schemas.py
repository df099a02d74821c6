"""Wire shapes of the presets endpoints."""

from __future__ import annotations

from pydantic import BaseModel


class PresetSummary(BaseModel):
    """One entry of `GET /presets`."""

    id: str
    name: str
    concept_count: int
    description: str


class OutputTemplatePublic(BaseModel):
    """An output template of a preset."""

    id: str
    name: str
    description: str


class PresetDetail(BaseModel):
    """`GET /presets/{id}`."""

    id: str
    name: str
    description: str
    concepts: list[str]
    protect_defaults: list[str]
    output_templates: list[OutputTemplatePublic]
