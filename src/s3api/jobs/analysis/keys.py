"""Object keys of an item's analysis: label maps, the instances file and the overlay."""

from __future__ import annotations

import hashlib
import re

_PLAIN_CONCEPT = re.compile(r"^[A-Za-z0-9_]{1,60}$")
_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_SLUG_LENGTH = 32


def concept_key_part(concept: str) -> str:
    """The concept as it appears in a key.

    Preset concepts (`Wall`, `Frame_Molding`) stay as they are; any other phrase becomes
    `x-<slug>-<8 hex of its SHA-256>`, so "the red sofa" and "The red sofa!" never share a key.
    """
    if _PLAIN_CONCEPT.match(concept):
        return concept
    slug = _NOT_ALPHANUMERIC.sub("-", concept.lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    digest = hashlib.sha256(concept.encode()).hexdigest()[:8]
    return f"x-{slug}-{digest}" if slug else f"x-{digest}"


def label_map_key(user_id: str, job_id: str, idx: int, concept: str) -> str:
    """One concept's label map of item `idx` (0 = none, k = instance k)."""
    return f"masks/{user_id}/{job_id}/{idx}_{concept_key_part(concept)}.png"


def instances_key(user_id: str, job_id: str, idx: int) -> str:
    """`{width, height, concepts: {Concept: [instance…]}}` of item `idx`."""
    return f"masks/{user_id}/{job_id}/{idx}_instances.json"


def overlay_key(user_id: str, job_id: str, idx: int) -> str:
    """The small preview of item `idx` with its instances tinted and numbered."""
    return f"masks/{user_id}/{job_id}/{idx}.overlay.png"
