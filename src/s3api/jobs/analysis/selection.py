"""Instance selections of execute and rerun, checked against the stored analysis."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from s3api.errors import ApiError, ErrorCode
from s3api.jobs.analysis.messages import StoredMasks
from s3api.jobs.analysis.schemas import InstanceChoice, InstanceSelection

SelectionByInput = dict[str, dict[str, dict[str, list[int]]]]
"""input key → concept → {only|exclude|lock: ids}: what the edit message carries per item."""


def _refused(message: str, **details: Any) -> ApiError:
    return ApiError(ErrorCode.VALIDATION_FAILED, message, {"field": "instances", **details})


def checked_selection(
    selection: InstanceSelection | None,
    inputs_by_idx: Mapping[int, str],
    stored: StoredMasks,
    edited: Collection[str],
) -> SelectionByInput:
    """The selection keyed by input object, or a 400 naming the offending idx, concept, id.

    `only` and `exclude` narrow an edited concept and cannot be given together; `lock` may
    name any analysed concept. Every id must be one the stored analysis lists.
    """
    checked: SelectionByInput = {}
    for idx_text, concepts in (selection or {}).items():
        idx = int(idx_text) if idx_text.isdigit() and len(idx_text) <= 4 else None
        if idx is None or idx not in inputs_by_idx:
            raise _refused("instances names an item the job does not have", idx=idx_text)
        input_key = inputs_by_idx[idx]
        known = stored.get(input_key, {})
        for concept, choice in concepts.items():
            mask = known.get(concept)
            if mask is None:
                raise _refused(
                    "instances names a concept that was not analysed for this item",
                    idx=idx,
                    concept=concept,
                )
            ids = {int(instance["id"]) for instance in mask.instances}
            chosen = _checked_choice(choice, idx, concept, concept in edited, ids)
            if chosen:
                checked.setdefault(input_key, {})[concept] = chosen
    return checked


def _checked_choice(
    choice: InstanceChoice, idx: int, concept: str, is_edited: bool, ids: set[int]
) -> dict[str, list[int]]:
    if choice.only is not None and choice.exclude is not None:
        raise _refused("only and exclude cannot be combined", idx=idx, concept=concept)
    if (choice.only is not None or choice.exclude is not None) and not is_edited:
        raise _refused(
            "only and exclude narrow an edited concept; this one is not edited",
            idx=idx,
            concept=concept,
        )
    chosen: dict[str, list[int]] = {}
    for name in ("only", "exclude", "lock"):
        listed: list[int] | None = getattr(choice, name)
        if listed is None:
            continue
        for instance_id in listed:
            if instance_id not in ids:
                raise _refused(
                    "instances names an instance the analysis does not have",
                    idx=idx,
                    concept=concept,
                    id=instance_id,
                )
        chosen[name] = sorted(set(listed))
    return chosen
