"""Preset definitions (API.md §3, endpoint 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from s3api.errors import ApiError, ErrorCode


@dataclass(frozen=True)
class DraftStyle:
    """A named draft of a template that renders several looks of each photo."""

    id: str
    name: str
    concepts: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class OutputTemplate:
    """A deliverable the client can ask for, and what it costs."""

    id: str
    name: str
    description: str
    credits_per_photo: int = 1
    """Credits per photo, or per photo and option where `billing_unit` is `option`."""
    billing_unit: Literal["photo", "option"] = "photo"
    styles: tuple[DraftStyle, ...] = field(default=())
    """The drafts rendered of every photo (`시안3안팩`); empty for the others."""


@dataclass(frozen=True)
class Preset:
    """A domain's concepts, the ones protected by default, and its output templates."""

    id: str
    name: str
    description: str
    concepts: tuple[str, ...]
    protect_defaults: tuple[str, ...]
    output_templates: tuple[OutputTemplate, ...]
    free_concepts: bool = False
    """Concept names are free noun phrases (the `custom` preset), not a fixed list."""

    @property
    def protectable(self) -> frozenset[str]:
        """Names allowed in a `protect` list (free presets check the phrase's form instead)."""
        return frozenset(self.concepts) | frozenset(self.protect_defaults)

    def requested_protect(self, protect: Sequence[str] | None, edited: Iterable[str]) -> list[str]:
        """What the engine keeps untouched: a sent list exactly (`[]` protects nothing), or,
        when none was sent, every protect default that is not itself being edited."""
        if protect is not None:
            return list(dict.fromkeys(protect))
        edited_names = set(edited)
        return [name for name in self.protect_defaults if name not in edited_names]


CUSTOM_PRESET_ID = "custom"
MAX_CUSTOM_CONCEPT_LENGTH = 60

CONCEPT_PROMPTS: dict[str, str] = {
    "Wall": "wall",
    "Floor": "floor",
    "Ceiling": "ceiling",
    "Window": "window",
    "Door": "door",
    "Frame_Molding": "door frame and wall molding",
    "Tile": "tiles",
    "Grout": "grout lines between tiles",
    "Cabinet": "cabinet",
    "Countertop": "countertop",
    "Light": "light fixture",
    "Handle": "handle",
    "Glass_highlight": "reflection highlight on glass",
    "Body": "the product",
    "Label_Text": "label text",
    "Logo": "logo",
    "Gloss": "glossy highlight",
    "Parts": "product parts",
    "Accessories": "accessories",
}
"""The text prompt a segmentation model gets for each preset concept: the one place to tune."""
_PROMPTS_BY_KEY = {name.casefold(): prompt for name, prompt in CONCEPT_PROMPTS.items()}


def prompt_for(concept: str) -> str:
    """The model prompt for a concept: the catalogue's text for a preset concept, else the
    name itself (a custom concept is a noun phrase used as-is)."""
    name = concept.strip()
    return _PROMPTS_BY_KEY.get(name.casefold(), name)


INTERIOR_DRAFT_STYLES: tuple[DraftStyle, ...] = (
    DraftStyle(
        "modern",
        "모던",
        {
            "Wall": {"action": "recolor", "value": "offwhite_a"},
            "Floor": {"action": "texture", "value": "concrete"},
            "Cabinet": {"action": "recolor", "value": "charcoal"},
        },
    ),
    DraftStyle(
        "natural",
        "내추럴",
        {
            "Wall": {"action": "recolor", "value": "offwhite_b"},
            "Floor": {"action": "texture", "value": "oak_a"},
            "Cabinet": {"action": "recolor", "value": "sage_green"},
        },
    ),
    DraftStyle(
        "hotel",
        "호텔",
        {
            "Wall": {"action": "tone", "value": "warm"},
            "Floor": {"action": "texture", "value": "marble"},
            "Cabinet": {"action": "recolor", "value": "walnut_a"},
        },
    ),
)
"""The three drafts of `시안3안팩`, as concept edits of the interior preset."""
BEFORE_AFTER_TEMPLATE = OutputTemplate("전후비교", "전/후 비교 세트", "Before+After 나란히 10장")

PRESETS: dict[str, Preset] = {
    "interior": Preset(
        id="interior",
        name="건축/인테리어",
        description="인테리어 공간의 벽, 바닥, 천장, 마감재 색상과 재질 변경",
        concepts=(
            "Wall",
            "Floor",
            "Ceiling",
            "Window",
            "Door",
            "Frame_Molding",
            "Tile",
            "Grout",
            "Cabinet",
            "Countertop",
            "Light",
            "Handle",
        ),
        protect_defaults=("Grout", "Frame_Molding", "Glass_highlight"),
        output_templates=(
            OutputTemplate(
                "시안3안팩",
                "시안 3안 패키지",
                "모던/내추럴/호텔 각 공간별 6~10장",
                credits_per_photo=len(INTERIOR_DRAFT_STYLES),
                styles=INTERIOR_DRAFT_STYLES,
            ),
            BEFORE_AFTER_TEMPLATE,
            OutputTemplate("고객공유카드", "고객 공유 카드", "Before+After+팔레트 요약"),
        ),
    ),
    "seller": Preset(
        id="seller",
        name="쇼핑/셀러",
        description="상품 사진의 본체 색상, 옵션 컬러 변경과 로고/라벨 보호",
        concepts=("Body", "Label_Text", "Logo", "Gloss", "Parts", "Accessories"),
        protect_defaults=("Label_Text", "Logo", "Gloss"),
        output_templates=(
            OutputTemplate("상품팩", "상품 패키지", "메인1+디테일4+착용1+패키지1"),
            OutputTemplate(
                "옵션보드", "옵션 보드", "옵션 색상별 동기화 보드", billing_unit="option"
            ),
            OutputTemplate("썸네일8종", "썸네일 8종", "플랫폼별 최적 사이즈 썸네일"),
        ),
    ),
    CUSTOM_PRESET_ID: Preset(
        id=CUSTOM_PRESET_ID,
        name="사용자 지정",
        description="원하는 대상을 짧은 영어 명사구로 지정 (예: the red sofa), 모델 엔진 전용",
        concepts=(),
        protect_defaults=(),
        output_templates=(BEFORE_AFTER_TEMPLATE,),
        free_concepts=True,
    ),
}


def find_preset(preset_id: str, *, status: int = 400, field: str = "preset") -> Preset:
    """The preset with this id, or `INVALID_PRESET` (400 in bodies, 404 in paths) with the
    known ids in `details.allowed`; the message never repeats the client's text."""
    preset = PRESETS.get(preset_id)
    if preset is None:
        message = "Unknown preset id (ids are case-sensitive; details.allowed lists them)"
        details = {
            "fields": [{"field": field, "message": "not a preset id"}],
            "preset": preset_id[:64],
            "allowed": sorted(PRESETS),
        }
        raise ApiError(ErrorCode.INVALID_PRESET, message, details, status=status)
    return preset
