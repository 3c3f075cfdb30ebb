"""A downloaded proof file (porsegregate-proof/2) carries the log: offline verification checks it.

Saved from a real three-epoch history (tests/support/history.py), verified offline by
the library, the CLI in-process and one real subprocess; then every attack of
tests/support/proof_files.py, each rejected with its check id (or, for a malformed
file, a format error naming what is missing).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate.cli import main
from porsegregate.errors import FormatError
from porsegregate.protocol import layout
from porsegregate.protocol.serialization import (
    parse_attestation,
    parse_checkpoint,
    parse_proof_file,
    proof_file_bytes,
    proof_file_from_dict,
)
from porsegregate.verify.client import Report, verify_proof, verify_site
from porsegregate.verify.state import ClientState

from .support import history as h
from .support import proof_files as pf

LOG_CHECKS = ["log-checkpoint", "log-inclusion", "log-witnesses"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("proof-history") / "demo")


@pytest.fixture(scope="module")
def forks(
    clean: h.History, tmp_path_factory: pytest.TempPathFactory
) -> tuple[h.History, h.History]:
    """Two branches that each published a different next (fourth) epoch; the second
    co-signed by colluding witnesses, so that its checkpoint passes log-witnesses."""
    tmp = tmp_path_factory.mktemp("proof-fork")
    first, second = h.fork(clean, tmp)
    return first, h.colluding_copy(second, tmp / "colluded")


def _offline(doc: pf.ProofDoc, who: h.History, **kw: Any) -> Report:
    return verify_proof(proof_file_from_dict(doc), who.account, who.code, **kw)


def _ids(report: Report) -> list[str]:
    return [c.id for c in report.checks]


def _cli(*args: str, code: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"PORSEGREGATE_CODE": code})


def test_a_saved_proof_carries_the_published_log_files_and_round_trips(
    clean: h.History, tmp_path: Path
) -> None:
    saved = tmp_path / "proof.json"
    result = _cli(
        "verify", "--site", str(clean.site), "--account", clean.account, "--save-proof", str(saved),
        code=clean.code,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(saved.read_bytes())
    assert doc["format"] == "porsegregate-proof/2"
    n = parse_checkpoint((clean.site / layout.CHECKPOINT).read_bytes()).size
    names = [
        layout.CHECKPOINT,
        layout.sig(layout.CHECKPOINT),
        layout.inclusion_name(n - 1),
        layout.CHECKPOINT_NOTE,
        *(
            str(p.relative_to(clean.site))
            for p in (clean.site / layout.WITNESSES / str(n)).glob("*.note")
        ),
    ]
    assert len(names) == 6, "the demo's two witnesses co-signed"
    assert sorted(doc["log_files"]) == sorted(names)
    for name in names:  # the published bytes, exactly, not re-encoded
        assert pf.log_file(doc, name) == (clean.site / name).read_bytes(), name
    parsed = parse_proof_file(saved.read_bytes())
    assert parse_proof_file(proof_file_bytes(parsed)) == parsed
    assert proof_file_bytes(parsed) == saved.read_bytes()


def test_a_saved_proof_verifies_offline_with_the_log_checks(
    clean: h.History, tmp_path: Path
) -> None:
    doc = pf.save(clean.site, clean.account, clean.code)
    report = _offline(doc, clean)
    assert report.verified, report.to_json()["failed"]
    ids = _ids(report)
    assert ids[:6] == ["code", "attestation-signature", "format", *LOG_CHECKS]
    assert ids[6:10] == [
        "reserves-control",
        "reserves-distinct",
        "reserves-commingling",
        "reserves-coverage",
    ]
    assert report.checkpoint is not None and report.checkpoint.size == len(clean.epochs)
    assert report.warnings == [] and report.next_due is not None
    # The same checks, in the same order, as on the site (less the site's own files).
    site = verify_site(str(clean.site), clean.account, clean.code)
    site_only = {"manifest-signature", "manifest-attestation", "shard-hash", "legal-documents"}
    assert [i for i in _ids(site) if i not in site_only] == ids
    # The CLI, in-process, with --json.
    path = pf.write(doc, tmp_path / "proof.json")
    args = ["verify", "--proof", str(path), "--account", clean.account]
    result = _cli(*args, code=clean.code)
    assert result.exit_code == 0, result.output
    assert "ok   log-checkpoint: the log checkpoint (size 3" in result.output
    assert "ok   log-inclusion: this attestation is entry 2 of the signed log" in result.output
    out = json.loads(_cli(*args, "--json", code=clean.code).stdout)
    assert out["verified"] and out["log"]["size"] == len(clean.epochs)


def test_offline_verification_in_a_real_subprocess(clean: h.History, tmp_path: Path) -> None:
    path = pf.write(pf.save(clean.site, clean.account, clean.code), tmp_path / "proof.json")
    env = {**os.environ, "PORSEGREGATE_CODE": clean.code}
    command = [sys.executable, "-m", "porsegregate.cli", "verify", "--proof", str(path)]
    proc = subprocess.run(
        [*command, "--account", clean.account, "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert [c["id"] for c in out["checks"]][3:6] == LOG_CHECKS
    bad = pf.write(pf.without(json.loads(path.read_text()), layout.CHECKPOINT), tmp_path / "b.json")
    proc = subprocess.run(
        [*command[:-1], str(bad), "--account", clean.account],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"{bad}: proof.log_files has no log/checkpoint.json" in proc.stderr + proc.stdout


def test_a_checkpoint_signature_over_other_bytes_fails_log_checkpoint(clean: h.History) -> None:
    doc = pf.checkpoint_signed_over_other_bytes(
        pf.save(clean.site, clean.account, clean.code), clean.site
    )
    report = _offline(doc, clean)
    assert report.failed is not None and report.failed.id == "log-checkpoint"
    assert "not signed by the custodian key" in report.failed.detail
    assert report.balances == []


def test_an_inclusion_proof_of_another_attestation_fails_log_inclusion(
    forks: tuple[h.History, h.History],
) -> None:
    first, second = forks
    doc = pf.inclusion_of_another_attestation(
        pf.save(first.site, first.account, first.code),
        pf.save(second.site, second.account, second.code),
    )
    report = _offline(doc, first)
    assert report.failed is not None and report.failed.id == "log-inclusion"
    assert _ids(report)[-2:] == ["log-checkpoint", "log-inclusion"]


def test_a_proof_from_a_forked_log_fails_against_the_other_branch_remembered(
    forks: tuple[h.History, h.History], tmp_path: Path
) -> None:
    first, second = forks
    state_path = tmp_path / "state.json"
    state = ClientState(state_path)
    assert verify_site(str(first.site), first.account, first.code, state=state).verified
    state.save()
    remembered = state_path.read_bytes()
    forked = pf.save(second.site, second.account, second.code)
    assert _offline(forked, second).verified, "on its own, the forked branch verifies"
    report = _offline(forked, second, state=ClientState(state_path))
    assert report.failed is not None and report.failed.id == "log-consistency"
    assert "a fork" in report.failed.detail
    # The honest branch's proof is the log the client saw.
    honest = _offline(pf.save(first.site, first.account, first.code), first, state=state)
    assert honest.verified
    assert next(c for c in honest.checks if c.id == "log-consistency").detail == (
        f"the log is the one you saw before (size {len(first.epochs) + 1})"
    )
    # The CLI: --state with --proof fails the same way, and never writes the state.
    path = pf.write(forked, tmp_path / "forked.json")
    args = ["verify", "--proof", str(path), "--account", second.account, "--state", str(state_path)]
    result = _cli(*args, code=second.code)
    assert result.exit_code == 1, result.output
    assert "check log-consistency failed" in result.output
    path = pf.write(pf.save(first.site, first.account, first.code), tmp_path / "honest.json")
    args = ["verify", "--proof", str(path), "--account", first.account, "--state", str(state_path)]
    assert _cli(*args, code=first.code).exit_code == 0
    assert state_path.read_bytes() == remembered, "a proof file is never remembered"
    fresh = tmp_path / "none.json"
    assert _cli(*args[:-1], str(fresh), code=first.code).exit_code == 0
    assert not fresh.exists()


def test_a_remembered_log_of_another_size_is_a_warning(clean: h.History, tmp_path: Path) -> None:
    """A proof saved before the log grew: it carries no consistency proof to a newer log."""
    doc = pf.save(clean.site, clean.account, clean.code)
    newer = clean.copy(tmp_path / "newer")
    h.publish_next(newer, "next", seed=5)
    state = ClientState()
    assert verify_site(str(newer.site), newer.account, newer.code, state=state).verified
    report = _offline(doc, clean, state=state)
    assert report.verified, report.to_json()["failed"]
    assert "log-consistency" not in _ids(report)
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("log not compared: you remember this log at size 4")
    first_time = _offline(doc, clean, state=ClientState())
    assert "log-consistency" in _ids(first_time) and first_time.warnings == []


def test_a_stale_proof_past_next_due_is_warned(clean: h.History) -> None:
    doc = pf.save(clean.site, clean.account, clean.code)
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert newest.next_due is not None
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    fresh = _offline(doc, clean, now=due - timedelta(days=1))
    assert fresh.verified and not fresh.overdue and fresh.warnings == []
    late = _offline(doc, clean, now=due + timedelta(seconds=1))
    assert late.verified and late.overdue and late.next_due == newest.next_due
    assert late.warnings == [
        f"overdue: the custodian said the next attestation would be published by "
        f"{newest.next_due}, so this saved proof is stale: it shows your balances as they were "
        "then; verify on the site for the current attestation"
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: pf.without(d, layout.CHECKPOINT), "proof.log_files has no log/checkpoint.json"),
        (
            lambda d: pf.without(d, layout.sig(layout.CHECKPOINT)),
            "proof.log_files has no log/checkpoint.json.sig",
        ),
        (
            lambda d: pf.without(d, pf.inclusion_name(d)),
            "proof.log_files must hold exactly one log/inclusion/<n-1>.json",
        ),
        (lambda d: {k: v for k, v in d.items() if k != "log_files"}, "proof.log_files is missing"),
        (
            lambda d: {**d, "log_files": {**d["log_files"], "log/entries.json": ""}},
            "proof.log_files: 'log/entries.json' is not a file a proof file carries",
        ),
        (
            lambda d: {**d, "log_files": {**d["log_files"], layout.CHECKPOINT: "not base64!"}},
            "proof.log_files['log/checkpoint.json'] is not valid base64",
        ),
        (lambda d: {**d, "format": "porsegregate-proof/3"}, "not a porsegregate-proof/2"),
    ],
)
def test_a_malformed_proof_file_is_a_format_error_naming_the_member(
    clean: h.History, tmp_path: Path, edit: Any, message: str
) -> None:
    doc = edit(pf.save(clean.site, clean.account, clean.code))
    with pytest.raises(FormatError) as info:
        proof_file_from_dict(doc)
    assert message in str(info.value)
    path = pf.write(doc, tmp_path / "bad.json")
    result = _cli("verify", "--proof", str(path), "--account", clean.account, code=clean.code)
    assert result.exit_code == 3 and message in result.output, result.output


def test_an_inclusion_proof_of_another_entry_fails_log_inclusion(clean: h.History) -> None:
    """Well formed, but the inclusion proof carried is not the newest entry's."""
    doc = pf.save(clean.site, clean.account, clean.code)
    name = pf.inclusion_name(doc)
    older = layout.inclusion_name(0)
    edited = pf.without(doc, name)
    edited["log_files"][older] = base64.b64encode((clean.site / older).read_bytes()).decode()
    report = _offline(edited, clean)
    assert report.failed is not None and report.failed.id == "log-inclusion"
    assert report.failed.detail == f"the proof file carries no {name}"


def test_a_version_1_file_is_accepted_and_says_the_log_was_not_checked(
    clean: h.History, tmp_path: Path
) -> None:
    old = pf.version_1(pf.save(clean.site, clean.account, clean.code))
    parsed = proof_file_from_dict(old)
    assert parsed.log_files is None
    assert json.loads(proof_file_bytes(parsed)) == old
    report = _offline(old, clean, state=ClientState())
    assert report.verified, report.to_json()["failed"]
    assert not {"log-checkpoint", "log-inclusion", "log-consistency"} & set(_ids(report))
    assert report.checkpoint is None
    assert report.warnings[0].startswith(
        "log not checked: this is a porsegregate-proof/1 file, which carries no transparency log"
    )
    path = pf.write(old, tmp_path / "old.json")
    result = _cli("verify", "--proof", str(path), "--account", clean.account, code=clean.code)
    assert result.exit_code == 0, result.output
    assert "WARNING: log not checked: this is a porsegregate-proof/1 file" in result.output
