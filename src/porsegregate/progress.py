"""Progress of long steps (placeholder until the progress helper's module lands)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, step: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def end(self) -> None: ...


class _NoProgress:
    def begin(self, step: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def end(self) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()
