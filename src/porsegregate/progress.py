"""How long steps say how far they are: the `Progress` protocol the library reports to.

A library function that can run for long takes `progress: Progress | None = None`
and reports its steps: `begin(label, total)` when one starts (total in the step's
own units, None when unknown), `advance(n)` as units get done (per chunk of
thousands, never per client: a call must cost nothing next to the work it
counts), `end()` when it finished. None means `NO_PROGRESS`. What is shown (a
bar on a terminal, periodic lines on stderr) is the command line's business
(_progress.py); the library never prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["NO_PROGRESS", "Progress", "step"]


class Progress(Protocol):
    def begin(self, step: str, total: int | None = None) -> None:
        """A new long step starts: its human label (e.g. "reading liabilities") and total."""

    def advance(self, n: int = 1) -> None:
        """`n` more units of the current step are done."""

    def end(self) -> None:
        """The current step finished."""


class _Silent:
    def begin(self, step: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def end(self) -> None:
        pass


NO_PROGRESS: Progress = _Silent()


@contextmanager
def step(progress: Progress | None, label: str, total: int | None = None) -> Iterator[Progress]:
    """`begin` a step and `end` it when the block completes; yields the reporter to advance.

    A step that raises is not ended (it did not finish): the command line closes
    whatever step is open when it reports the error.
    """
    reporter = NO_PROGRESS if progress is None else progress
    reporter.begin(label, total)
    yield reporter
    reporter.end()
