"""What the command line shows of long steps (progress.py's protocol), on stderr only.

- On a terminal: one line redrawn in place (a bar with the step's label, percent,
  count, elapsed time and time left; a counter when the total is unknown), at
  most ten times a second.
- Elsewhere (`--progress` with stderr not a terminal: a log, CI): one line when a
  step begins, then at most one every `interval` seconds, and one when it ends
  with its duration:
      building trees: 41% (1,230,000/3,000,000) 4.2 s

stdout is never written, so `--json` output stays one JSON document. Without
`--progress` a bar is shown only when stderr is a terminal and --json is not given.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from .progress import Progress

Clock = Callable[[], float]

LINE_INTERVAL = 2.0  # seconds between two lines of the same step (--progress, not a terminal)
BAR_INTERVAL = 0.1  # seconds between two redraws of the bar
BAR_WIDTH = 24


def seconds(s: float) -> str:
    """A duration for people: 4.2 s, 12 min 05 s, 1 h 02 min."""
    if s < 60:
        return f"{s:.1f} s"
    whole = int(s)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def percent(done: int, total: int) -> int:
    """Whole percent done, 0..100 (100 only when done), in integers."""
    if total <= 0:
        return 100
    return max(0, min(100 if done >= total else 99, done * 100 // total))


class _Reporter:
    """The step being shown: label, total, units done and when it began; subclasses draw."""

    def __init__(self, stream: TextIO, clock: Clock, interval: float) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.label: str | None = None
        self.total: int | None = None
        self.done = 0
        self.started = 0.0
        self.shown = 0.0

    def begin(self, step: str, total: int | None = None) -> None:
        if self.label is not None:
            self.end()
        self.label, self.total, self.done = step, total, 0
        self.started = self.shown = self.clock()
        self.began()

    def advance(self, n: int = 1) -> None:
        if self.label is None:
            return
        self.done += n
        now = self.clock()
        if now - self.shown >= self.interval:
            self.shown = now
            self.update(now - self.started)

    def end(self) -> None:
        if self.label is None:
            return
        self.ended(self.clock() - self.started)
        self.label = None

    def close(self) -> None:
        """The command is over: a step still open was interrupted (an error, Ctrl-C)."""
        if self.label is not None:
            self.stopped(self.clock() - self.started)
            self.label = None
        self.stream.flush()

    def count(self) -> str:
        if self.total is None:
            return f"{self.done:,}"
        return f"{percent(self.done, self.total)}% ({self.done:,}/{self.total:,})"

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def began(self) -> None:
        raise NotImplementedError

    def update(self, elapsed: float) -> None:
        raise NotImplementedError

    def ended(self, elapsed: float) -> None:
        raise NotImplementedError

    def stopped(self, elapsed: float) -> None:
        raise NotImplementedError


class LineReporter(_Reporter):
    """Whole lines, throttled: for logs and pipes (`--progress` when stderr is no terminal)."""

    def __init__(
        self, stream: TextIO, clock: Clock = time.monotonic, interval: float = LINE_INTERVAL
    ) -> None:
        super().__init__(stream, clock, interval)

    def began(self) -> None:
        self.write(f"  {self.label}: {self.count()}\n")

    def update(self, elapsed: float) -> None:
        self.write(f"  {self.label}: {self.count()} {seconds(elapsed)}\n")

    def ended(self, elapsed: float) -> None:
        self.write(f"  {self.label}: done ({self.done:,}) in {seconds(elapsed)}\n")

    def stopped(self, elapsed: float) -> None:
        self.write(f"  {self.label}: stopped at {self.count()} after {seconds(elapsed)}\n")


class BarReporter(_Reporter):
    """One line redrawn in place with \\r: for a terminal."""

    def __init__(
        self,
        stream: TextIO,
        clock: Clock = time.monotonic,
        interval: float = BAR_INTERVAL,
        columns: int | None = None,
    ) -> None:
        super().__init__(stream, clock, interval)
        self.columns = columns or shutil.get_terminal_size((80, 24)).columns

    def line(self, elapsed: float, finished: bool = False) -> str:
        """The step, a bar as wide as the terminal leaves room for, percent, count, time."""
        head, bar = f"  {self.label}", ""
        if self.total is None:
            tail = f"  {self.done:,}  {seconds(elapsed)}"
        else:
            total, done = self.total, self.done
            tail = f" {percent(done, total):>3}%  {done:,}/{total:,}  {seconds(elapsed)}"
            if not finished and 0 < done < total:
                tail += f"  ETA {seconds(elapsed * (total - done) / done)}"
            # The bar keeps its width while the numbers change: room for the longest tail.
            longest = len(f" 100%  {total:,}/{total:,}  ") + len("59.9 s  ETA 9 min 59 s")
            width = min(BAR_WIDTH, self.columns - 1 - len(head) - longest - 3)
            if width >= 8:  # else no bar: the numbers matter more
                filled = width if total <= 0 else min(width, done * width // total)
                bar = f" [{'#' * filled}{'-' * (width - filled)}]"
        if finished:
            tail += "  done"
        return (head + bar + tail)[: max(self.columns - 1, 20)]

    def draw(self, text: str) -> None:
        self.write(f"\r{text}\x1b[K")

    def began(self) -> None:
        self.draw(self.line(0.0))

    def update(self, elapsed: float) -> None:
        self.draw(self.line(elapsed))

    def ended(self, elapsed: float) -> None:
        self.draw(self.line(elapsed, finished=True))
        self.write("\n")

    def stopped(self, elapsed: float) -> None:
        self.draw(self.line(elapsed))
        self.write("\n")


def reporter(show: bool, as_json: bool, stream: TextIO | None = None) -> _Reporter | None:
    """The reporter a command uses: `show` is --progress, `as_json` is --json.

    A bar when stderr is a terminal and either --progress or no --json; lines
    with --progress elsewhere; None (nothing shown) otherwise.
    """
    stream = stream if stream is not None else sys.stderr
    tty = stream.isatty()
    if tty and (show or not as_json):
        return BarReporter(stream)
    if show:
        return LineReporter(stream)
    return None


@contextmanager
def reporting(show: bool, as_json: bool) -> Iterator[Progress | None]:
    """The command's reporter for the duration of a block, closed (tidied) when it ends."""
    shown = reporter(show, as_json)
    try:
        yield shown
    finally:
        if shown is not None:
            shown.close()
