"""What a dataset is, in a form that travels inside config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DataInfo:
    """Describes a dataset so a model can be built for it and a saved model knows what it was trained on.

    kind: "image", "vector", "text", "series", "music", "audio", "video" or "paired_image".
    shape: per-example shape (C, H, W for images; D for vectors; None when variable).
    classes: class names when the data is labelled.
    value_range: the range the examples live in (images are [0, 1]).
    extra: family-specific facts (vocabulary size, sample rate, bits per pixel, ...).
    """

    name: str
    kind: str
    shape: tuple[int, ...] | None = None
    classes: list[str] | None = None
    value_range: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataInfo | None:
        if data is None:
            return None
        data = dict(data)
        for key in ("shape", "value_range"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)
