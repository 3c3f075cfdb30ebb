"""Progress of long steps: the reporters (lines throttled, a bar on a terminal), the choice
between them, and the commands' --progress on stderr (stdout stays the --json document)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate._progress import (
    BarReporter,
    LineReporter,
    percent,
    reporter,
    seconds,
)
from porsegregate.cli import main
from porsegregate.progress import NO_PROGRESS, step

from .conftest import PASSPHRASE

ROOM = "a data-room passphrase of its own"
ENV = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode(), "PORSEGREGATE_DATAROOM_PASSPHRASE": ROOM}
EPOCH = ["--epoch", "2026-11"]
SNAPSHOT = ["--snapshot-time", "2026-11-30T23:59:59Z", "--allow-shortfall"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_line_reporter_writes_a_line_at_begin_every_interval_and_at_end() -> None:
    clock, out = Clock(), io.StringIO()
    shown = LineReporter(out, clock, interval=2.0)
    shown.begin("building trees", 3_000_000)
    for t, n in [(0.5, 100_000), (1.0, 100_000), (1.99, 100_000)]:
        clock.now = 100 + t
        shown.advance(n)
    assert out.getvalue() == "  building trees: 0% (0/3,000,000)\n"  # nothing within 2 s
    clock.now = 102.0
    shown.advance(930_000)
    clock.now = 103.0  # 1 s after the last line: counted, not shown
    shown.advance(1)
    clock.now = 104.2
    shown.advance(269_999)
    clock.now = 105.5
    shown.end()
    assert out.getvalue().splitlines() == [
        "  building trees: 0% (0/3,000,000)",
        "  building trees: 41% (1,230,000/3,000,000) 2.0 s",
        "  building trees: 50% (1,500,000/3,000,000) 4.2 s",
        "  building trees: done (1,500,000) in 5.5 s",
    ]
    shown.advance(5)  # no step open: nothing
    shown.end()
    assert len(out.getvalue().splitlines()) == 4


def test_line_reporter_without_a_total_counts_and_an_interrupted_step_says_so() -> None:
    clock, out = Clock(), io.StringIO()
    shown = LineReporter(out, clock, interval=2.0)
    shown.begin("reading", None)
    clock.now += 3
    shown.advance(12_345)
    shown.begin("next step", 10)  # a new step ends the one before
    shown.close()
    assert out.getvalue().splitlines() == [
        "  reading: 0",
        "  reading: 12,345 3.0 s",
        "  reading: done (12,345) in 3.0 s",
        "  next step: 0% (0/10)",
        "  next step: stopped at 0% (0/10) after 0.0 s",
    ]


def test_percent_and_durations_are_honest() -> None:
    assert percent(999, 1000) == 99  # never 100 % before the end
    assert percent(1000, 1000) == 100
    assert percent(0, 0) == 100
    assert percent(5, 10) == 50
    assert (seconds(4.24), seconds(725), seconds(3725)) == ("4.2 s", "12 min 05 s", "1 h 02 min")


def test_bar_redraws_one_line_with_eta_and_ends_it() -> None:
    clock, out = Clock(), Terminal()
    bar = BarReporter(out, clock, interval=0.5, columns=120)
    bar.begin("writing proofs", 200)
    clock.now += 0.25
    bar.advance(10)  # within the interval: not redrawn
    clock.now += 0.25
    bar.advance(30)
    clock.now += 1.0
    bar.advance(10)
    bar.end()
    text = out.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")  # one line, redrawn in place
    frames = text[:-1].split("\r")[1:]
    assert len(frames) == 4, frames
    assert frames[0] == "  writing proofs [" + "-" * 24 + "]   0%  0/200  0.0 s\x1b[K"
    assert (
        frames[1]
        == "  writing proofs [" + "#" * 4 + "-" * 20 + "]  20%  40/200  0.5 s  ETA 2.0 s\x1b[K"
    )
    assert frames[2].endswith("]  25%  50/200  1.5 s  ETA 4.5 s\x1b[K")
    assert (
        frames[3] == "  writing proofs [" + "#" * 6 + "-" * 18 + "]  25%  50/200  1.5 s  done\x1b[K"
    )
    narrow = BarReporter(Terminal(), clock, columns=50)
    narrow.begin("checking epochs/2026-10/", 4128)
    narrow.done = 2064
    line = narrow.line(1.0)  # no room for a bar: the numbers, cut to the terminal's width
    assert line.startswith("  checking epochs/2026-10/  50%  2,064/4,128")
    assert len(line) == 49 and "[" not in line
    narrow.columns = 90  # room for a narrower bar, as wide whatever the numbers say
    assert "/ [#########---------]  50%  2,064/4,128  1.0 s  ETA 1.0 s" in narrow.line(1.0)
    narrow.done = 4128
    assert "/ [##################] 100%  4,128/4,128  2.0 s  done" in narrow.line(2.0, True)


def test_which_reporter_a_command_gets() -> None:
    pipe, terminal = io.StringIO(), Terminal()
    assert reporter(show=False, as_json=False, stream=pipe) is None  # no terminal: nothing
    assert reporter(show=False, as_json=True, stream=pipe) is None
    assert isinstance(reporter(show=True, as_json=True, stream=pipe), LineReporter)
    assert isinstance(reporter(show=False, as_json=False, stream=terminal), BarReporter)
    assert reporter(show=False, as_json=True, stream=terminal) is None  # --json: quiet
    assert isinstance(reporter(show=True, as_json=True, stream=terminal), BarReporter)


def test_a_step_ends_only_when_its_block_completes() -> None:
    clock, out = Clock(), io.StringIO()
    shown = LineReporter(out, clock)
    with step(shown, "a", 2) as s:
        s.advance(2)
    with pytest.raises(ValueError), step(shown, "b", 2):
        raise ValueError
    shown.close()
    assert out.getvalue().splitlines() == [
        "  a: 0% (0/2)",
        "  a: done (2) in 0.0 s",
        "  b: 0% (0/2)",
        "  b: stopped at 0% (0/2) after 0.0 s",
    ]
    with step(None, "silent", 1) as s:
        assert s is NO_PROGRESS


# --- the commands -----------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("progress") / "ws"
    assert run("init", str(ws)).exit_code == 0
    return ws


def steps(stderr: str) -> list[str]:
    """The labels of the steps that ended, in order."""
    return [line.split(": done")[0].strip() for line in stderr.splitlines() if ": done (" in line]


def test_publish_progress_goes_to_stderr_and_json_stays_on_stdout(workspace: Path) -> None:
    result = run("publish", "-w", str(workspace), *EPOCH, *SNAPSHOT, "--json", "--progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["clients"] == 4  # stdout: the JSON document alone
    assert steps(result.stderr) == [
        "reading liabilities (rows)",
        "deriving client keys",
        "building trees",
        "writing proofs",
    ]
    assert "  deriving client keys: 0% (0/4)" in result.stderr.splitlines()
    assert "  building trees: done (3) in " in result.stderr


def test_no_progress_without_the_flag_and_without_a_terminal(workspace: Path) -> None:
    """CliRunner's stderr is no terminal: without --progress nothing, with --json or not."""
    for extra in (["--json"], []):
        result = run("publish", "-w", str(workspace), *EPOCH, *SNAPSHOT, "--replace", *extra)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""


def test_audit_and_dataroom_progress(workspace: Path, tmp_path: Path) -> None:
    site = str(workspace / "site")
    if not (workspace / "site").exists():
        assert run("publish", "-w", str(workspace), *EPOCH, *SNAPSHOT).exit_code == 0
    room = tmp_path / "room"
    result = run("dataroom", "export", "-w", str(workspace), *EPOCH, "--out", str(room),
                 "--json", "--progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert steps(result.stderr) == ["reading liabilities (rows)", "deriving client keys"]

    result = run("audit", site, "--json", "--progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert steps(result.stderr)[0] == "checking the root"
    assert any(s.startswith("checking epochs/") for s in steps(result.stderr))

    result = run("audit", site, "--dataroom", str(room), "--all", "--json", "--progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert steps(result.stderr)[-3:] == [
        "reading liabilities (rows)",
        "building trees",
        "opening client proofs",
    ]
    assert "  opening client proofs: done (4) in " in result.stderr
    assert run("audit", site, "--json").stderr == ""


def test_an_interrupted_step_is_closed_before_the_error(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"account_id,asset,amount\nC1,BTC,1\nC2,BTC,\xff\n")
    result = run("publish", "-w", str(workspace), "--epoch", "2026-12", "--liabilities", str(bad),
                 "--snapshot-time", "2026-12-31T23:59:59Z", "--progress")  # fmt: skip
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "  reading liabilities (rows): 0"
    assert lines[1].startswith("  reading liabilities (rows): stopped at 0 after ")
    assert f"{bad}:3: not UTF-8 text" in lines[2]  # the error comes after, on its own line
