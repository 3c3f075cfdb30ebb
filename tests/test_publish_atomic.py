"""Publishing never loses the site: a publish killed at any step of the swap, or of the
recovery that finishes it, leaves a complete site (the old or the new one) that the next
publish builds on, with every epoch's home.

The kills are real: publish runs in a subprocess that SIGKILLs itself at a fault point
named by PORSEGREGATE_FAULT (a test-only hook in `_fs.py`); the points come from
`_fs.FAULT_POINTS`, so a step added to the swap without a point fails
`test_every_fault_point_is_listed_and_tested`.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import porsegregate
from porsegregate import _crypto, _fs
from porsegregate.errors import ConfigError
from porsegregate.protocol.layout import shard_file
from porsegregate.protocol.serialization import parse_attestation, parse_manifest
from porsegregate.publish.pipeline import PublishOptions, publish
from porsegregate.verify.client import verify_history

from .conftest import PASSPHRASE

OLD, NEW, NEXT = "2026-11", "2026-12", "2027-01"

# The run that is killed at each point: how it is reached, and which site recovery keeps.
#   point -> (the swap's fault point of the first killed run, fallback?, the epoch kept)
# A recover:* point is hit by a second publish that finds what the first one left.
SCENARIOS: dict[str, tuple[str, bool, str]] = {
    "swap:after-rename": ("swap:after-rename", False, NEW),  # the first publish of a site
    "swap:after-exchange": ("swap:after-exchange", False, NEW),
    "swap:after-exchange-fsync": ("swap:after-exchange-fsync", False, NEW),
    "swap:after-journal": ("swap:after-journal", True, NEW),
    "swap:after-old-aside": ("swap:after-old-aside", True, NEW),
    "swap:after-new-in": ("swap:after-new-in", True, NEW),
    "swap:after-journal-removed": ("swap:after-journal-removed", True, NEW),
    "recover:after-old-aside": ("swap:after-journal", True, NEW),
    "recover:after-new-in": ("swap:after-old-aside", True, NEW),
    "recover:after-journal-removed": ("swap:after-new-in", True, NEW),
    # An earlier version's swap killed between its renames: no journal, no site, one old.
    "recover:after-restore": ("swap:after-old-aside", True, OLD),
}

SCRIPT = """
import os, sys
from pathlib import Path
from porsegregate import _crypto, _fs
from porsegregate.publish.config import load_config
from porsegregate.publish.pipeline import PublishOptions, publish
config, epoch, codes, mode = sys.argv[1:]
if mode == "fallback":
    _fs._RENAMEAT2 = None  # as where renameat2 is missing
options = PublishOptions(epoch, codes_path=Path(codes), allow_shortfall=True)
publish(load_config(Path(config)), os.environb[b"PORSEGREGATE_PASSPHRASE"], options)
"""


def run_publish(config: Any, epoch: str, codes: Path, fault: str, fallback: bool) -> int:
    """Publish in a real process, killed at `fault`; its exit status."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(porsegregate.__file__).parent.parent)
    env["PORSEGREGATE_PASSPHRASE"] = PASSPHRASE.decode()
    env[_fs.FAULT_ENV] = fault
    mode = "fallback" if fallback else "exchange"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config.path), epoch, str(codes), mode],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return done.returncode


def shown_epoch(site: Path) -> str:
    return parse_attestation((site / "attestation.json").read_bytes()).epoch_id


def assert_complete(site: Path, published: dict[str, Any], epochs: list[str]) -> None:
    """The site verifies for a client in every epoch of its log, which are `epochs`, each
    with its home, and its manifest lists exactly the files of its root."""
    account, code = next(iter(published["codes"].items()))
    result = verify_history(str(site), account, code, published["result"].fingerprint)
    assert result.verified, result.to_json()
    assert [e.epoch for e in result.epochs] == epochs
    for epoch in epochs:
        assert (site / "epochs" / epoch / "manifest.json").is_file()
    manifest = parse_manifest((site / "manifest.json").read_bytes())
    files = {
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file() and not p.relative_to(site).as_posix().startswith("epochs/")
    }
    # No manifest lists auditors/ (section 13): publish writes an empty index there.
    assert files >= {"auditors/index.json"}
    unlisted = {"manifest.json", "manifest.json.sig", "auditors/index.json"}
    # porsegregate/2 lists no shard: its shards root covers all 2^b of them.
    bits = manifest.shard_bits
    assert bits is not None
    shards = {shard_file(i, bits) for i in range(1 << bits)}
    assert {f for f in files if f.startswith("proofs/")} == shards
    assert set(manifest.files) == files - unlisted - shards


def assert_readable(
    site: Path, published: dict[str, Any], before: list[str], fallback: bool
) -> None:
    """Right after a kill, before any recovery, what a reader (`serve`, a web server) sees:
    with the exchange the site is always there and complete; only the fallback has a
    moment without it (its journal then names the complete new folder)."""
    if not site.exists():
        assert fallback and (site.parent / ".site.swap").is_file()
        return
    epochs = [*before, NEW] if shown_epoch(site) == NEW else before
    assert_complete(site, published, epochs)


def test_every_fault_point_is_listed_and_tested() -> None:
    """Every `_fault(...)` in _fs.py names a listed point, and every point has a scenario."""
    source = Path(_fs.__file__).read_text(encoding="utf-8")
    named = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"_fault", "_finish"}:
            literal = node.args[-1]
            if isinstance(literal, ast.Constant):
                named.add(literal.value)
            else:  # only _fault(point) inside _finish may pass a variable
                assert isinstance(literal, ast.Name) and literal.id == "point", ast.dump(node)
    assert named == set(_fs.FAULT_POINTS)
    assert set(SCENARIOS) == set(_fs.FAULT_POINTS)
    with pytest.raises(AssertionError):
        _fs._fault("swap:not-a-listed-point")


@pytest.mark.parametrize("point", _fs.FAULT_POINTS)
def test_a_publish_killed_at_any_step_loses_nothing(
    point: str, published: dict[str, Any], own_copy: tuple[Any, Path], tmp_path: Path
) -> None:
    config, site = own_copy
    setup, fallback, kept = SCENARIOS[point]
    before = [OLD]
    if point == "swap:after-rename":  # a workspace publishing for the first time
        shutil.rmtree(site)
        shutil.rmtree(config.log)
        before = []
    codes = tmp_path / "codes.csv"

    status = run_publish(config, NEW, codes, setup, fallback)
    assert status == -signal.SIGKILL, f"publish was not killed at {setup}"
    parent = site.parent
    assert_readable(site, published, before, fallback)
    if point == "recover:after-restore":
        (parent / ".site.swap").unlink()  # as an earlier version left it: no journal
        assert not site.exists() and len(list(parent.glob(".site.old-*"))) == 1
    if point.startswith("recover:"):
        status = run_publish(config, NEXT, codes, point, fallback)
        assert status == -signal.SIGKILL, f"the next publish was not killed at {point}"
        assert_readable(site, published, before, fallback)

    # What the next publish does first, under the lock: the site is complete, old or new.
    _fs.recover_swap(site)
    assert shown_epoch(site) == kept
    epochs = [*before, NEW] if kept == NEW else before
    assert_complete(site, published, epochs)
    assert sorted(p.name for p in parent.glob(".site*")) == [], "nothing left beside it"

    # And the next publish succeeds, keeping every epoch's home.
    publish(config, PASSPHRASE, PublishOptions(NEXT, codes_path=codes, allow_shortfall=True))
    assert_complete(site, published, [*epochs, NEXT])


def test_the_reported_state_is_restored_and_chained_to(
    published: dict[str, Any], own_copy: tuple[Any, Path], tmp_path: Path
) -> None:
    """The finding: an earlier version killed between its two renames left no site, the
    old one as .site.old-* and the new one as .site.staging-*. The next publish restores
    the old site before reading it, chains to its attestation and keeps its epoch home."""
    config, site = own_copy
    first = (site / "attestation.json").read_bytes()
    shutil.copytree(site, site.parent / ".site.staging-x")
    site.rename(site.parent / ".site.old-y")
    publish(
        config, PASSPHRASE, PublishOptions(NEW, codes_path=tmp_path / "c", allow_shortfall=True)
    )
    newest = parse_attestation((site / "attestation.json").read_bytes())
    assert newest.previous_attestation_sha256 == _crypto.sha256_hex(first)
    assert_complete(site, published, [OLD, NEW])
    assert sorted(p.name for p in site.parent.glob(".site*")) == []


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "fallback"])
def test_swap_dir_replaces_the_folder(
    fallback: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of swapping: the new folder in, the old one gone, nothing else left."""
    if fallback:
        monkeypatch.setattr(_fs, "_RENAMEAT2", None)
    target, staging = tmp_path / "site", tmp_path / ".site.staging-1"
    for folder, text in ((target, "old"), (staging, "new")):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f").write_text(text)
    if fallback:
        assert _fs.exchange(staging, target) is False, "nothing exchanged"
    _fs.swap_dir(staging, target)
    assert (target / "sub" / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_exchange_swaps_both_names_at_once(tmp_path: Path) -> None:
    """renameat2(RENAME_EXCHANGE) through ctypes: both names keep existing, contents swapped."""
    assert _fs._RENAMEAT2 is not None, "glibc >= 2.28 has renameat2"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("A")
    (b / "x").write_text("B")
    assert _fs.exchange(a, b) is True
    assert ((a / "x").read_text(), (b / "x").read_text()) == ("B", "A")
    with pytest.raises(FileNotFoundError):
        _fs.exchange(a, tmp_path / "missing")
    # EINVAL from the kernel (here: a folder exchanged with its own subfolder) is what a
    # file system without RENAME_EXCHANGE answers: False, nothing changed, the fallback.
    (a / "sub").mkdir()
    assert _fs.exchange(a, a / "sub") is False
    assert (a / "sub").is_dir() and (a / "x").read_text() == "B"


def test_the_fallback_writes_its_journal_before_renaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the first rename happens, the journal naming both folders is already there."""
    monkeypatch.setattr(_fs, "_RENAMEAT2", None)
    target, staging = tmp_path / "site", tmp_path / ".site.staging-1"
    target.mkdir()
    staging.mkdir()
    seen: list[Any] = []
    rename = os.rename

    def watch(src: Any, dst: Any) -> None:
        journal = tmp_path / ".site.swap"
        seen.append((Path(src).name, json.loads(journal.read_bytes())))
        rename(src, dst)

    monkeypatch.setattr(_fs.os, "rename", watch)
    _fs.swap_dir(staging, target)
    assert [name for name, _ in seen] == ["site", ".site.staging-1"]
    assert all(j["staging"] == ".site.staging-1" for _, j in seen)
    assert seen[0][1]["old"].startswith(".site.old-")
    assert not (tmp_path / ".site.swap").exists()


def test_a_missing_site_with_two_old_copies_is_refused_and_nothing_deleted(
    tmp_path: Path,
) -> None:
    for name in (".site.old-a", ".site.old-b", ".site.staging-c"):
        (tmp_path / name).mkdir()
    with pytest.raises(ConfigError, match="site is missing and 2 earlier copies"):
        _fs.recover_swap(tmp_path / "site")
    assert len(list(tmp_path.iterdir())) == 3


def test_an_unreadable_journal_is_refused_and_nothing_deleted(tmp_path: Path) -> None:
    (tmp_path / ".site.old-a").mkdir()
    (tmp_path / ".site.swap").write_text('{"staging": "../../etc", "old": ".site.old-a"}')
    with pytest.raises(ConfigError, match="not a staging folder"):
        _fs.recover_swap(tmp_path / "site")
    (tmp_path / ".site.swap").write_text("{")
    with pytest.raises(ConfigError, match="journal that cannot be read"):
        _fs.recover_swap(tmp_path / "site")
    assert (tmp_path / ".site.old-a").is_dir()


def test_a_killed_worker_stops_the_publish_and_loses_nothing(
    published: dict[str, Any], own_copy: tuple[Any, Path], tmp_path: Path
) -> None:
    """publish's worker processes (PORSEGREGATE_WORKERS=2): one of them SIGKILLed at its first
    task (the test-only hook engine.WORKER_FAULT) makes the run fail with WorkerError, never
    hang; the previous site stays whole and nothing is left beside it; the next run works."""
    from porsegregate.publish import engine

    config, site = own_copy
    codes = tmp_path / "codes.csv"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(porsegregate.__file__).parent.parent)
    env["PORSEGREGATE_PASSPHRASE"] = PASSPHRASE.decode()
    env[_fs.FAULT_ENV] = engine.WORKER_FAULT
    env[engine.WORKERS_ENV] = "2"

    def cli_publish() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "porsegregate.cli", "publish", "--workspace",
             str(config.path.parent), "--epoch", NEW, "--allow-shortfall", "--codes-out",
             str(codes)],
            env=env, capture_output=True, timeout=300, check=False, text=True,
        )  # fmt: skip

    done = cli_publish()
    assert done.returncode == 3, done.stderr
    assert "a worker process died before its work was done" in done.stderr
    assert "Traceback" not in done.stderr
    assert shown_epoch(site) == OLD
    assert_complete(site, published, [OLD])
    assert sorted(p.name for p in site.parent.glob(".site*")) == []
    assert not codes.exists()
    env.pop(_fs.FAULT_ENV)
    again = cli_publish()
    assert again.returncode == 0, again.stderr
    assert shown_epoch(site) == NEW
