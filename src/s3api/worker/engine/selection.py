"""A photo's instance selection: which instances of a concept an edit reaches or keeps.

`only` / `exclude` narrow an edited concept to some of its instances; `lock` copies
instances back byte-identical after every edit, like a protected concept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from s3api.worker.engine.arrays import Mask
from s3api.worker.engine.label_maps import ConceptMap


@dataclass(frozen=True)
class InstanceSelection:
    """One concept's choice on one photo; `only=None` means every instance."""

    only: tuple[int, ...] | None = None
    exclude: tuple[int, ...] = ()
    lock: tuple[int, ...] = ()

    @property
    def named(self) -> set[int]:
        """Every id the selection names."""
        return {*(self.only or ()), *self.exclude, *self.lock}


Selection = Mapping[str, InstanceSelection]
"""concept → its selection on one photo."""


def check_selection(selection: Selection, maps: Mapping[str, ConceptMap]) -> None:
    """Raise ValueError when a selection names a concept or an id the maps lack."""
    for concept, choice in selection.items():
        concept_map = maps.get(concept)
        if concept_map is None:
            raise ValueError(f"instances: {concept} has no segmentation on this photo")
        unknown = sorted(choice.named - concept_map.ids)
        if unknown:
            raise ValueError(f"instances: {concept} has no instance {unknown[0]}")


def edit_mask(concept_map: ConceptMap, choice: InstanceSelection | None) -> Mask:
    """The pixels an edit of the concept reaches under its selection."""
    if choice is None or (choice.only is None and not choice.exclude):
        return concept_map.mask
    ids: Sequence[int] = (
        choice.only if choice.only is not None else sorted(concept_map.ids - set(choice.exclude))
    )
    return concept_map.pixels_of(ids)


def locked_mask(
    selection: Selection, maps: Mapping[str, ConceptMap], height: int, width: int
) -> Mask | None:
    """The locked instances' pixels over all concepts, or None when nothing is locked."""
    locked: Mask | None = None
    for concept, choice in selection.items():
        if choice.lock:
            pixels = maps[concept].pixels_of(choice.lock)
            locked = pixels if locked is None else locked | pixels
    if locked is None:
        return None
    return np.asarray(locked, dtype=np.bool_).reshape(height, width)
