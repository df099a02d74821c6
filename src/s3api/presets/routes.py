"""`GET /presets` and `GET /presets/{id}`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from s3api.http.envelope import Envelope, error_responses, ok
from s3api.presets.catalog import PRESETS, find_preset
from s3api.presets.schemas import (
    DraftStylePublic,
    OutputTemplatePublic,
    PresetDetail,
    PresetSummary,
)
from s3api.users.current import CurrentUser, get_current_user

router = APIRouter(prefix="/presets", tags=["presets"], responses=error_responses(401))
# the catalog is fixed: its summaries are built once
_SUMMARIES = [
    PresetSummary(
        id=preset.id,
        name=preset.name,
        concept_count=len(preset.concepts),
        description=preset.description,
    )
    for preset in PRESETS.values()
]


@router.get("", response_model=Envelope[list[PresetSummary]])
async def list_presets(request: Request) -> Response:
    """Every preset with its concept count. (The caller is checked here, not through a
    dependency: the app also serves this route before FastAPI's dispatch, see `app.py`.)"""
    await get_current_user(request)
    return ok(request, _SUMMARIES)


@router.get("/{preset_id}", response_model=Envelope[PresetDetail], responses=error_responses(404))
async def get_preset(request: Request, preset_id: str, _user: CurrentUser) -> Response:
    """One preset's concepts, protect defaults and output templates."""
    preset = find_preset(preset_id, status=404, field="preset_id")
    detail = PresetDetail(
        id=preset.id,
        name=preset.name,
        description=preset.description,
        concepts=list(preset.concepts),
        protect_defaults=list(preset.protect_defaults),
        output_templates=[
            OutputTemplatePublic(
                id=t.id,
                name=t.name,
                description=t.description,
                credits_per_photo=t.credits_per_photo,
                billing_unit=t.billing_unit,
                styles=[
                    DraftStylePublic(
                        id=style.id,
                        name=style.name,
                        concepts={name: dict(edit) for name, edit in style.concepts.items()},
                    )
                    for style in t.styles
                ],
            )
            for t in preset.output_templates
        ],
    )
    return ok(request, detail)
