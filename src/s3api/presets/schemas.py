"""Wire shapes of the presets endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class PresetSummary(BaseModel):
    """One entry of `GET /presets`."""

    id: str
    name: str
    concept_count: int
    description: str


class DraftStylePublic(BaseModel):
    """One named draft a template renders of every photo."""

    id: str
    name: str
    concepts: dict[str, dict[str, str]]


class OutputTemplatePublic(BaseModel):
    """An output template of a preset, with what it costs."""

    id: str
    name: str
    description: str
    credits_per_photo: int
    billing_unit: Literal["photo", "option"]
    styles: list[DraftStylePublic]


class PresetDetail(BaseModel):
    """`GET /presets/{id}`."""

    id: str
    name: str
    description: str
    concepts: list[str]
    protect_defaults: list[str]
    output_templates: list[OutputTemplatePublic]
