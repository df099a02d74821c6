"""Edit rules (one per concept) and their validation from the job's wire format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

from s3api.presets.vocabulary import parse_color, parse_material, parse_tone

Action = Literal["recolor", "tone", "texture", "remove"]
ACTIONS: tuple[str, ...] = get_args(Action)


@dataclass(frozen=True)
class ConceptEdit:
    """One edit rule for one concept; construction fails with ValueError on a bad rule."""

    action: Action
    value: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r} (expected {', '.join(ACTIONS)})")
        if self.action == "remove":
            return
        if not isinstance(self.value, str) or not self.value.strip():
            raise ValueError(f"action {self.action!r} needs a value")
        if self.action == "recolor":
            parse_color(self.value)
        elif self.action == "tone":
            parse_tone(self.value)
        else:
            parse_material(self.value)

    @property
    def required_value(self) -> str:
        """The value, for actions that validated one as present."""
        if self.value is None:
            raise ValueError(f"action {self.action!r} has no value")
        return self.value


def parse_edits(concepts: Mapping[str, Mapping[str, str | None]]) -> dict[str, ConceptEdit]:
    """Turn ``{"Floor": {"action": "recolor", "value": "oak_a"}}`` into validated edits."""
    edits: dict[str, ConceptEdit] = {}
    for name, spec in concepts.items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"{name}: rule must be an object with an action")
        action = spec.get("action")
        if not isinstance(action, str):
            raise ValueError(f"{name}: missing action")
        value = spec.get("value")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: value must be a string")
        try:
            # ConceptEdit itself rejects actions outside the Literal.
            edits[name] = ConceptEdit(cast(Action, action), value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return edits
