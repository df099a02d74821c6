"""An edit item's stored segmentation: fetch the label maps to reuse, store the new ones.

The item's `segmentation` block names, per concept, a stored label map (GET) or where to
store the map this edit computes (PUT). Reused maps make the edit touch exactly the
instances the user chose; the new ones, with the merged instances file, are uploaded before
the item is reported, and the `done` callback lists them so later jobs reuse them too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from s3api.worker.api_client import RejectedApiError, WorkerApiClient
from s3api.worker.engine.engine import EngineResult, KnownInstances
from s3api.worker.engine.selection import InstanceSelection
from s3api.worker.messages import InstanceChoice, Segmentation, WorkItem

logger = logging.getLogger("s3api.worker.segmentation")

Upload = Callable[[str, bytes, str], Awaitable[None]]
_NOT_FOUND = 404


def to_selection(choices: dict[str, InstanceChoice]) -> dict[str, InstanceSelection]:
    """The engine's form of an item's `instances`."""
    return {
        concept: InstanceSelection(
            only=None if choice.only is None else tuple(choice.only),
            exclude=tuple(choice.exclude),
            lock=tuple(choice.lock),
        )
        for concept, choice in choices.items()
    }


def instances_document(width: int, height: int, concepts: dict[str, Any]) -> bytes:
    """The photo's instances file: `{width, height, concepts: {Concept: [summary…]}}`."""
    document = {"width": width, "height": height, "concepts": concepts}
    return json.dumps(document, separators=(",", ":")).encode()


def merged_instances(known: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """The photo's instances file lists every concept stored for it: the known summaries,
    with those segmented now put in their place."""
    listed = {concept: summaries for concept, summaries in known.items() if concept not in found}
    listed.update(found)
    return listed


@dataclass(frozen=True)
class StoredSegmentation:
    """The label maps fetched for one edit item, and its segmentation block."""

    spec: Segmentation
    maps: dict[str, bytes]

    @classmethod
    async def fetch(cls, api: WorkerApiClient, item: WorkItem) -> StoredSegmentation:
        """GET every stored map; one that has gone is segmented again (and not stored)."""
        spec = item.segmentation or Segmentation()
        maps: dict[str, bytes] = {}
        for concept, entry in spec.masks.items():
            if not entry.stored:
                continue
            try:
                maps[concept] = await api.download(entry.url)
            except RejectedApiError as exc:
                if exc.status_code != _NOT_FOUND:
                    raise
                logger.warning("label map %s is gone; segmenting %s again", entry.key, concept)
        return cls(spec, maps)

    def engine_options(self, item: WorkItem) -> dict[str, Any]:
        """The keyword arguments of `Engine.process` for this item."""
        return {
            "stored_maps": self.maps,
            "known_instances": cast(KnownInstances, self.spec.known_instances),
            "selection": to_selection(item.instances),
        }

    async def store(self, upload: Upload, result: EngineResult) -> dict[str, Any] | None:
        """Upload the maps this edit computed and the merged instances file; return the
        callback's `segmentation`, or None when there is nothing new to record."""
        spec = self.spec
        new = {
            concept: result.label_maps[concept]
            for concept, entry in spec.masks.items()
            if not entry.stored and concept in result.label_maps
        }
        if not new or spec.instances_url is None or spec.instances_key is None:
            return None
        for concept, label_map in new.items():
            await upload(spec.masks[concept].url, label_map.png, "image/png")
        found = {concept: label_map.instances for concept, label_map in new.items()}
        document = instances_document(
            result.width, result.height, merged_instances(spec.known_instances, found)
        )
        await upload(spec.instances_url, document, "application/json")
        return {
            "width": result.width,
            "height": result.height,
            "masks": {concept: spec.masks[concept].key for concept in new},
            "instances_key": spec.instances_key,
            "instances": found,
        }
