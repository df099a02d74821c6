"""Variants: the several edits a template renders of every photo (drafts, option colours).

`시안3안팩` renders the catalogue's three styles and `옵션보드` the request's `options`. Each
variant is a whole `concepts` object; the request's own edits apply in every variant (over a
draft's style, under an option's `Body` colour), and every variant shares the job's protect
list, instance selection and watermark. Variant 0 is the item's own result; the others are
stored beside it and charged with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3api.errors import ApiError, ErrorCode
from s3api.jobs.output_sets.plan import DRAFT_PACK, OPTION_BOARD
from s3api.presets.catalog import OutputTemplate
from s3api.presets.vocabulary import COLOUR_NAMES, HEX_COLOUR_PATTERN, parse_color
from s3api.storage.keys import is_valid_key

MIN_OPTIONS = 2
MAX_OPTIONS = 8
OPTION_CONCEPT = "Body"
"""The concept `옵션보드` recolours to each option."""
OPTIONS_FIELD = "options"

Edits = dict[str, dict[str, str | None]]


@dataclass(frozen=True)
class Variant:
    """One edit rendered of every photo: `name` is its id, `label` what a board shows."""

    name: str
    label: str
    concepts: Edits

    def to_json(self) -> dict[str, Any]:
        """The wire and stored form."""
        return {"name": self.name, "label": self.label, "concepts": self.concepts}


def _options_error(message: str, **details: Any) -> ApiError:
    fields = [{"field": OPTIONS_FIELD, "message": message}]
    return ApiError(ErrorCode.VALIDATION_FAILED, message, {"fields": fields, **details})


def checked_options(options: Sequence[str]) -> list[str]:
    """2 to 8 distinct recolor values (palette names in lower case, hex in lower case)."""
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise _options_error(
            f"options must hold {MIN_OPTIONS} to {MAX_OPTIONS} recolor values",
            min_options=MIN_OPTIONS,
            max_options=MAX_OPTIONS,
        )
    values: list[str] = []
    for position, option in enumerate(options):
        try:
            parse_color(option)
        except ValueError:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "Each option must be a recolor value: #RRGGBB or a colour name",
                {
                    "fields": [{"field": f"{OPTIONS_FIELD}.{position}", "message": "not a colour"}],
                    "pattern": HEX_COLOUR_PATTERN,
                    "allowed_names": list(COLOUR_NAMES),
                },
            ) from None
        values.append(option.strip().lower())
    if len(set(values)) != len(values):
        raise _options_error("options must not repeat a colour")
    return values


def plan_variants(
    template: OutputTemplate | None, base: Edits, options: Sequence[str] | None
) -> list[Variant] | None:
    """The variants a job with `template` renders, or None for one result per photo;
    `options` belong to `옵션보드` alone, and it needs them."""
    template_id = None if template is None else template.id
    if options is not None and template_id != OPTION_BOARD:
        raise _options_error("options are only for the 옵션보드 template")
    if template is None:
        return None
    if template.id == DRAFT_PACK:
        return [
            Variant(
                style.id,
                style.id.upper(),
                {**{name: dict(edit) for name, edit in style.concepts.items()}, **base},
            )
            for style in template.styles
        ]
    if template.id == OPTION_BOARD:
        if options is None:
            raise _options_error(
                f"옵션보드 needs options: {MIN_OPTIONS} to {MAX_OPTIONS} recolor values"
            )
        return [
            Variant(value, value, {**base, OPTION_CONCEPT: {"action": "recolor", "value": value}})
            for value in checked_options(options)
        ]
    return None


def renders_template(template: OutputTemplate | None) -> bool:
    """Whether the template's variants stand in for the request's own edits, so a request
    may leave `concepts` out."""
    return template is not None and template.id in (DRAFT_PACK, OPTION_BOARD)


def edited_concepts(base: Mapping[str, object], variants: Sequence[Variant] | None) -> list[str]:
    """Every concept an item of the job edits, in first-seen order."""
    names = list(base)
    for variant in variants or ():
        names += list(variant.concepts)
    return list(dict.fromkeys(names))


def variant_key(output_key: str, number: int) -> str:
    """Where variant `number` (1..n-1) of an item lies: beside its result, same format."""
    stem, _, extension = output_key.rpartition(".")
    prefix = stem.removesuffix("_result")
    key = f"{prefix}_variant_{number}.{extension}"
    assert is_valid_key(key)
    return key


def variant_keys(output_key: str, count: int) -> list[str]:
    """The keys of variants 1..count-1 of one item."""
    return [variant_key(output_key, number) for number in range(1, count)]
