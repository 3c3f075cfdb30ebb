"""`porsegregate audit`: a clean history passes every check; each attack fails the right one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate.audit import (
    CHECKS,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    AuditReport,
    DataRoom,
    audit_site,
)
from porsegregate.cli import main
from porsegregate.protocol.serialization import parse_attestation
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.verify.state import ClientState

from .support import history as h

ENV = {"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("audit") / "demo")


def liabilities_of(history: h.History) -> Path:
    """The newest epoch's liabilities CSV (the demo writes each epoch's over the last)."""
    return history.config.liabilities


def codes_of(history: h.History) -> Path:
    return history.root / "client-codes.csv"


def reserves_of(history: h.History) -> Path:
    return history.workspace / "data" / f"reserves-{history.epochs[-1]}.toml"


def room(
    history: h.History,
    *,
    passphrase: bool = True,
    liabilities: Path | None = None,
    codes: Path | None = None,
    reserves: Path | None = None,
    sample: int | None = None,
) -> DataRoom:
    return DataRoom(
        history.config,
        liabilities or liabilities_of(history),
        DEMO_PASSPHRASE if passphrase else None,
        codes or codes_of(history),
        reserves or reserves_of(history),
        sample,
    )


def failed_ids(report: AuditReport) -> set[str]:
    return {c.id for c in report.failed}


def details(report: AuditReport, check: str) -> list[str]:
    return [c.detail for c in report.checks if c.id == check]


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["audit", *args], env=env or ENV, catch_exceptions=False)


def dataroom_args(history: h.History) -> list[str]:
    return [
        "--liabilities",
        str(liabilities_of(history)),
        "--config",
        str(history.config.path),
        "--codes",
        str(codes_of(history)),
        "--reserves",
        str(reserves_of(history)),
    ]


# -- a clean history ---------------------------------------------------------------------------


def test_a_clean_history_passes_every_check(clean: h.History) -> None:
    report = audit_site(str(clean.site), room(clean))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert [c.id for c in report.checks] == list(CHECKS)  # one line per check, in order
    statuses = {c.id: c.status for c in report.checks}
    assert statuses["auditor-signatures"] == NOT_APPLICABLE  # nobody co-signed yet
    assert statuses["log-state"] == NOT_APPLICABLE  # no state file
    assert all(
        s == PASS for c, s in statuses.items() if c not in ("auditor-signatures", "log-state")
    )
    assert report.epochs == clean.epochs
    assert report.epoch == clean.epochs[-1]
    assert report.clients_checked == h.CLIENTS
    assert report.checkpoint is not None and report.checkpoint.size == h.EPOCHS
    assert "the site publishes exactly 300 proofs" in details(report, "dataroom-bundles")[0]


def test_without_the_data_room_its_checks_are_not_applicable(clean: h.History) -> None:
    report = audit_site(str(clean.site))
    assert report.ok
    for check in CHECKS:
        if check.startswith("dataroom-"):
            assert report.status(check) == NOT_APPLICABLE
            assert "no data room" in details(report, check)[0]


def test_without_the_passphrase_totals_are_checked_but_roots_not_rebuilt(clean: h.History) -> None:
    report = audit_site(str(clean.site), room(clean, passphrase=False, sample=25))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert report.status("dataroom-totals") == PASS
    assert report.status("dataroom-roots") == NOT_APPLICABLE
    assert "roots were not rebuilt" in details(report, "dataroom-roots")[0]
    assert report.status("dataroom-bundles") == PASS and report.clients_checked == 25
    assert report.status("dataroom-coverage") == PASS


def test_the_cli_passes_a_clean_history(clean: h.History) -> None:
    result = cli(str(clean.site), *dataroom_args(clean), "--all", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True and doc["failed"] == []
    assert doc["summary"]["clients_checked"] == h.CLIENTS
    assert {c["id"] for c in doc["checks"]} == set(CHECKS)
    human = cli(str(clean.site), *dataroom_args(clean), "--sample", "10")
    assert human.exit_code == 0, human.output
    lines = human.output.splitlines()
    assert sum(1 for line in lines if line.startswith(("  ok ", "  n/a "))) == len(CHECKS)
    assert lines[-1].startswith("AUDIT PASSED: every check holds")


def test_a_real_subprocess_audits_a_clean_history(clean: h.History) -> None:
    env = {**os.environ, **ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "porsegregate.cli", "audit", str(clean.site), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "porsegregate.cli",
            "audit",
            str(clean.site),
            *dataroom_args(clean),
            "--all",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AUDIT PASSED" in proc.stdout


@pytest.fixture
def served(clean: h.History) -> Iterator[str]:
    from porsegregate.serve import make_server

    server = make_server(clean.site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_site_says_extra_files_cannot_be_listed(served: str) -> None:
    report = audit_site(served)
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert report.status("manifest-extra") == NOT_APPLICABLE
    assert "cannot be listed" in details(report, "manifest-extra")[0]
    assert report.status("manifest-changed") == PASS
    assert report.status("history-epoch") == PASS


# -- attacks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        (
            h.rewrite_past_attestation,
            {"history-epoch", "manifest-changed", "manifest-signatures"},
        ),
        (h.remove_epoch, {"history-epoch"}),
        (h.change_file, {"manifest-changed"}),
        (h.add_unlisted_file, {"manifest-extra"}),
        (h.manifest_of_another_epoch, {"manifest-signatures"}),
    ],
    ids=lambda a: getattr(a, "__name__", ""),
)
def test_each_attack_fails_its_check(
    clean: h.History, tmp_path: Path, attack: Any, expected: set[str]
) -> None:
    copy = clean.copy(tmp_path / "copy")
    attack(copy)
    report = audit_site(str(copy.site))
    assert failed_ids(report) == expected, [(c.id, c.detail) for c in report.failed]
    result = cli(str(copy.site))
    assert result.exit_code == 1
    assert "AUDIT FAILED" in result.output


def test_the_attacks_say_what_happened(clean: h.History, tmp_path: Path) -> None:
    rewritten = clean.copy(tmp_path / "rewritten")
    h.rewrite_past_attestation(rewritten)
    report = audit_site(str(rewritten.site))
    assert any("it was rewritten" in d for d in details(report, "history-epoch"))
    removed = clean.copy(tmp_path / "removed")
    h.remove_epoch(removed)
    report = audit_site(str(removed.site))
    assert details(report, "history-epoch") == [
        f"epoch {removed.epochs[1]} is in the signed log but its site "
        f"(epochs/{removed.epochs[1]}/) is missing: it was removed"
    ]


def test_a_forked_checkpoint_is_caught_without_a_state_file(
    clean: h.History, tmp_path: Path
) -> None:
    copy = clean.copy(tmp_path / "forked")
    h.fork_log(copy)
    report = audit_site(str(copy.site))
    assert "log-checkpoint" in failed_ids(report)
    assert any("the log was forked" in d for d in details(report, "log-checkpoint"))
    assert "log-root" in failed_ids(report)


def test_a_fork_is_caught_with_the_state_of_the_other_branch(
    clean: h.History, tmp_path: Path
) -> None:
    first, second = h.fork(clean, tmp_path)
    state = tmp_path / "state.json"
    seen = CliRunner().invoke(
        main,
        [
            "verify",
            "--site",
            str(first.site),
            "--account",
            first.account,
            "--code",
            first.code,
            "--state",
            str(state),
        ],
        catch_exceptions=False,
    )
    assert seen.exit_code == 0, seen.output
    result = cli(str(second.site), "--state", str(state), "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    # The witnesses refused the second branch; the state shows it is a fork of the first.
    assert doc["failed"] == ["log-witnesses", "log-state"]
    fork = next(c for c in doc["checks"] if c["id"] == "log-state")
    assert "a fork" in fork["detail"]
    # The branch the state saw audits clean, and the audit keeps the state as it was.
    before = state.read_bytes()
    report = audit_site(str(first.site), state=ClientState(state))
    assert report.ok and report.status("log-state") == PASS
    assert state.read_bytes() == before


def test_a_state_file_remembers_the_audited_checkpoint(clean: h.History, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = cli(str(clean.site), "--state", str(state))
    assert first.exit_code == 0, first.output
    assert "n/a  log-state" in first.output  # nothing remembered yet
    again = cli(str(clean.site), "--state", str(state))
    assert again.exit_code == 0 and "ok   log-state" in again.output
    older = clean.copy(tmp_path / "older")
    h.publish_next(older, "next", seed=9)
    newer = cli(str(older.site), "--state", str(state))
    assert newer.exit_code == 0, newer.output
    rolled_back = audit_site(str(clean.site), state=ClientState(state))
    assert failed_ids(rolled_back) == {"log-state"}


def test_an_overdue_attestation_fails_freshness(clean: h.History) -> None:
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert newest.next_due is not None
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    fresh = audit_site(str(clean.site), now=due - timedelta(days=1))
    assert fresh.ok and fresh.status("freshness") == PASS
    late = audit_site(str(clean.site), now=due + timedelta(seconds=1))
    assert failed_ids(late) == {"freshness"}
    assert details(late, "freshness")[0].startswith("overdue:")


def test_a_manifest_path_outside_the_site_is_not_read(clean: h.History, tmp_path: Path) -> None:
    """A custodian's manifest cannot make the auditor's machine read (and hash) its files."""
    from dataclasses import replace

    from porsegregate.protocol.serialization import manifest_bytes, parse_manifest

    copy = clean.copy(tmp_path / "outside")
    path = copy.site / "manifest.json"
    manifest = parse_manifest(path.read_bytes())
    files = {**manifest.files, "../../workspace/porsegregate.toml": "0" * 64}
    data = manifest_bytes(replace(manifest, files=files))
    path.write_bytes(data)
    (copy.site / "manifest.json.sig").write_bytes(copy.signing_key().sign(data))
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"manifest-signatures"}
    assert "not a path inside its folder" in details(report, "manifest-signatures")[0]


# -- the data room ------------------------------------------------------------------------------


def test_a_changed_balance_fails_totals_roots_and_that_clients_proof(
    clean: h.History, tmp_path: Path
) -> None:
    lines = liabilities_of(clean).read_text().splitlines()
    account, asset, amount = lines[1].split(",")
    lines[1] = f"{account},{asset},1{amount}"  # a leading digit more: a higher balance
    changed = tmp_path / "liabilities.csv"
    changed.write_text("\n".join(lines) + "\n")
    report = audit_site(str(clean.site), room(clean, liabilities=changed))
    assert {"dataroom-totals", "dataroom-roots", "dataroom-bundles"} <= failed_ids(report)
    assert failed_ids(report) <= {
        "dataroom-totals",
        "dataroom-roots",
        "dataroom-bundles",
        "dataroom-coverage",  # the signed coverage's liabilities are the signed totals
        "dataroom-wallets",
    }
    assert any(
        d.startswith(f"{asset}: the liabilities CSV adds up to")
        for d in details(report, "dataroom-totals")
    )
    assert any(
        d.startswith(f"{asset}: the tree rebuilt") for d in details(report, "dataroom-roots")
    )
    assert details(report, "dataroom-bundles")[0].startswith(
        f"{account}: the published proof shows"
    )
    # Without the passphrase the totals still catch it.
    report = audit_site(str(clean.site), room(clean, liabilities=changed, passphrase=False))
    assert "dataroom-totals" in failed_ids(report)
    assert report.status("dataroom-roots") == NOT_APPLICABLE


def test_a_wrong_code_fails_that_clients_bundle(clean: h.History, tmp_path: Path) -> None:
    from porsegregate.protocol.codes import client_secret, format_code

    lines = codes_of(clean).read_text().splitlines()
    account = lines[5].split(",", 1)[0]
    lines[5] = f"{account},{format_code(client_secret(os.urandom(32), account))}"
    wrong = tmp_path / "codes.csv"
    wrong.write_text("\n".join(lines) + "\n")
    report = audit_site(str(clean.site), room(clean, codes=wrong))
    assert failed_ids(report) == {"dataroom-bundles"}
    assert details(report, "dataroom-bundles") == [
        f"{account}: proof-found failed: there is no proof for this account id and code in "
        "this epoch: check both for typos; if they are right, you were left out of the "
        "published proof"
    ]
    result = cli(
        str(clean.site),
        "--liabilities",
        str(liabilities_of(clean)),
        "--config",
        str(clean.config.path),
        "--codes",
        str(wrong),
        "--all",
    )
    assert result.exit_code == 1
    assert "FAIL dataroom-bundles" in result.output


def test_a_different_reserves_file_fails_coverage(clean: h.History, tmp_path: Path) -> None:
    text = reserves_of(clean).read_text()
    dedicated = text.index('category = "client_dedicated"')
    start = text.index("balances = { ETH = ", dedicated)
    end = text.index("\n", start)
    changed = tmp_path / "reserves.toml"
    changed.write_text(text[:start] + 'balances = { ETH = "0.5" }' + text[end:])
    report = audit_site(str(clean.site), room(clean, reserves=changed))
    assert failed_ids(report) == {"dataroom-coverage", "dataroom-wallets"}
    coverage = details(report, "dataroom-coverage")
    assert any(d.startswith("ETH: client_dedicated is") for d in coverage), coverage
    assert any(
        d.startswith("ETH: dedicated_shortfalls is 0 in the signed coverage") for d in coverage
    )
    assert "holdings" in details(report, "dataroom-wallets")[0]
    # The same without the passphrase: coverage needs no keys.
    report = audit_site(str(clean.site), room(clean, reserves=changed, passphrase=False))
    assert "dataroom-coverage" in failed_ids(report)


# -- auditors' co-signatures ------------------------------------------------------------------


def test_auditor_cosignatures_are_checked(clean: h.History, tmp_path: Path) -> None:
    from porsegregate import _crypto
    from porsegregate.cosign import cosign

    copy = clean.copy(tmp_path / "cosigned")
    key = _crypto.generate_signing_key()
    cosign(copy.site, key, "Honest Auditors LLP")
    cosign(copy.site / "epochs" / copy.epochs[0], key, "Honest Auditors LLP")
    report = audit_site(str(copy.site))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert report.status("auditor-signatures") == PASS
    # The newest epoch is co-signed at the root and in its home: three in all.
    assert "all 3 auditor co-signature(s)" in details(report, "auditor-signatures")[0]

    h.forge_auditor_signature(copy, copy.epochs[1])  # a signature over other bytes
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"auditor-signatures"}
    [problem] = details(report, "auditor-signatures")
    assert problem.startswith(f"epochs/{copy.epochs[1]}/: auditors/")
    assert "does not verify over this attestation.json" in problem


def test_an_unlisted_auditor_folder_fails(clean: h.History, tmp_path: Path) -> None:
    copy = clean.copy(tmp_path / "unlisted")
    fingerprint = h.forge_auditor_signature(copy)
    (copy.site / "auditors" / "index.json").unlink()
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"auditor-signatures"}
    assert details(report, "auditor-signatures")[0].startswith(
        f"auditors/{fingerprint}/ is not listed in auditors/index.json"
    )


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_exits_3_and_bad_usage_2(clean: h.History, tmp_path: Path) -> None:
    assert cli(str(tmp_path / "nowhere")).exit_code == 3
    assert cli(str(tmp_path)).exit_code == 3  # a folder, but not a site
    missing = cli(
        str(clean.site),
        "--liabilities",
        str(tmp_path / "no.csv"),
        "--config",
        str(clean.config.path),
    )
    assert missing.exit_code == 3 and "no such file" in missing.output
    wrong = cli(
        str(clean.site),
        *dataroom_args(clean),
        env={"PORSEGREGATE_PASSPHRASE": "not the passphrase"},
    )
    assert wrong.exit_code == 3 and "wrong passphrase" in wrong.output
    assert cli(str(clean.site), *dataroom_args(clean), "--all", "--sample", "5").exit_code == 2
    assert cli(str(clean.site), "--codes", str(codes_of(clean))).exit_code == 2
    assert cli(str(clean.site), "--liabilities", str(liabilities_of(clean))).exit_code == 2


# -- speed ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_clients_audit_in_well_under_a_minute(tmp_path: Path) -> None:
    from porsegregate.publish.demo import run_demo

    run_demo(tmp_path / "demo", clients=10_000, seed=3, epochs=3)
    config_path = tmp_path / "demo" / "workspace" / "porsegregate.toml"
    from porsegregate.publish.config import load_config

    config = load_config(config_path)
    epoch = parse_attestation(
        (tmp_path / "demo" / "site" / "attestation.json").read_bytes()
    ).epoch_id
    started = time.perf_counter()
    report = audit_site(
        str(tmp_path / "demo" / "site"),
        DataRoom(
            config,
            config.liabilities,
            DEMO_PASSPHRASE,
            tmp_path / "demo" / "client-codes.csv",
            config.workspace / "data" / f"reserves-{epoch}.toml",
            None,
        ),
    )
    seconds = time.perf_counter() - started
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert report.clients_checked == 10_000
    assert seconds < 30, f"auditing 10,000 clients took {seconds:.1f} s"
    print(f"audit of 3 epochs x 10,000 clients with every proof opened: {seconds:.2f} s")


def test_every_failure_is_reported_not_only_the_first(clean: h.History, tmp_path: Path) -> None:
    copy = clean.copy(tmp_path / "many")
    h.change_file(copy)
    h.add_unlisted_file(copy)
    h.remove_epoch(copy)
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"manifest-changed", "manifest-extra", "history-epoch"}
    assert all(c.status in (PASS, FAIL, NOT_APPLICABLE) for c in report.checks)


def test_every_audit_check_is_documented() -> None:
    protocol = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    audit_section = protocol[protocol.index("### Audit") : protocol.index("## 14.")]
    for check in CHECKS:
        assert f"`{check}`" in audit_section, f"audit check {check} is not in docs/protocol.md"
