"""What cohort extraction needs from a feature engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Engine"]


class Engine(Protocol):
    """What cohort extraction needs from an engine."""

    name: str
    version: str

    def config(self) -> dict[str, Any]: ...

    def compute(
        self, image: Any, items: Sequence[tuple[Any, int | str | None]]
    ) -> list[dict[str, float] | Exception]: ...
