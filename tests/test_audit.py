"""`porsegregate audit`: a clean history passes every check; each attack fails the right one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
from porsegregate.errors import InputError
from porsegregate.protocol import layout
from porsegregate.protocol.serialization import parse_attestation
from porsegregate.publish.dataroom_export import (
    EpochSecrets,
    derive_epoch_secrets,
    export_dataroom,
    write_dataroom,
)
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.publish.keys import load_master_secret
from porsegregate.publish.liabilities import read_liabilities
from porsegregate.verify.state import ClientState

from .support import bundles as b
from .support import history as h
from .support.reserves_attacks import COUNTED_TWICE_EPOCH

# The auditor holds the data room's own passphrase, never the workspace's.
ROOM_PASSPHRASE = b"the auditor's data-room passphrase"
ENV = {"PORSEGREGATE_DATAROOM_PASSPHRASE": ROOM_PASSPHRASE.decode()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("audit") / "demo")


@pytest.fixture(scope="module")
def exported(clean: h.History, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest epoch's data room, as the custodian exports it for the auditor."""
    return export(clean, tmp_path_factory.mktemp("dataroom") / "room")


def liabilities_of(history: h.History) -> Path:
    """The newest epoch's liabilities CSV (the demo writes each epoch's over the last)."""
    return history.config.liabilities


def reserves_of(history: h.History) -> Path:
    return history.workspace / "data" / f"reserves-{history.epochs[-1]}.toml"


def export(
    history: h.History,
    out: Path,
    *,
    liabilities: Path | None = None,
    reserves: Path | None = None,
) -> Path:
    """The custodian's `dataroom export` of the newest epoch (a dishonest one may give other
    liabilities or reserves than it published from)."""
    export_dataroom(
        history.config,
        DEMO_PASSPHRASE,
        history.epochs[-1],
        out,
        ROOM_PASSPHRASE,
        liabilities_path=liabilities or liabilities_of(history),
        reserves_path=reserves or reserves_of(history),
    )
    return out


def craft(
    history: h.History,
    out: Path,
    epoch: str,
    liabilities: Path,
    reserves: Path,
    change: Callable[[EpochSecrets], EpochSecrets] = lambda s: s,
) -> Path:
    """A data room written as the custodian's tool would not write it: its secrets changed,
    or a declaration the export refuses."""
    secrets = derive_epoch_secrets(
        load_master_secret(history.config.master_secret, DEMO_PASSPHRASE),
        epoch,
        read_liabilities(liabilities, history.config.assets).balances,
        history.config.assets,
    )
    write_dataroom(
        out,
        epoch=epoch,
        custodian=history.config.custodian.name,
        assets=history.config.assets,
        public_key_pem=history.config.public_key.read_bytes(),
        liabilities=liabilities.read_bytes(),
        reserves=(reserves, reserves.read_bytes()),
        secrets=change(secrets),
        dataroom_passphrase=ROOM_PASSPHRASE,
    )
    return out


def room(folder: Path, sample: int | None = None) -> DataRoom:
    return DataRoom.open(folder, ROOM_PASSPHRASE, sample)


def failed_ids(report: AuditReport) -> set[str]:
    return {c.id for c in report.failed}


def details(report: AuditReport, check: str) -> list[str]:
    return [c.detail for c in report.checks if c.id == check]


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["audit", *args], env=env or ENV, catch_exceptions=False)


def dataroom_args(folder: Path) -> list[str]:
    return ["--dataroom", str(folder)]


# -- a clean history ---------------------------------------------------------------------------


def test_a_clean_history_passes_every_check(clean: h.History, exported: Path) -> None:
    report = audit_site(str(clean.site), room(exported))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert [c.id for c in report.checks] == list(CHECKS)  # one line per check, in order
    statuses = {c.id: c.status for c in report.checks}
    assert statuses["auditor-signatures"] == NOT_APPLICABLE  # nobody co-signed yet
    assert statuses["log-state"] == NOT_APPLICABLE  # no state file
    assert statuses["reserves-reread"] == NOT_APPLICABLE  # no --rpc (tests/test_reread.py)
    skipped = ("auditor-signatures", "log-state", "reserves-reread")
    assert all(s == PASS for c, s in statuses.items() if c not in skipped)
    assert report.epochs == clean.epochs
    assert report.epoch == clean.epochs[-1]
    assert report.clients_checked == h.CLIENTS
    assert report.checkpoint is not None and report.checkpoint.size == h.EPOCHS
    assert (
        "the site publishes 4096 entries, 3796 of them dummies"
        in details(report, "dataroom-bundles")[0]
    )


def test_without_the_data_room_its_checks_are_not_applicable(clean: h.History) -> None:
    report = audit_site(str(clean.site))
    assert report.ok
    for check in CHECKS:
        if check.startswith("dataroom-"):
            assert report.status(check) == NOT_APPLICABLE
            assert "no data room" in details(report, check)[0]


def test_a_sample_opens_that_many_proofs(clean: h.History, exported: Path) -> None:
    report = audit_site(str(clean.site), room(exported, sample=25))
    assert report.ok, [(c.id, c.detail) for c in report.failed]
    assert report.status("dataroom-bundles") == PASS and report.clients_checked == 25
    assert "a random sample of clients" in details(report, "dataroom-bundles")[0]
    assert all(report.status(c) == PASS for c in CHECKS if c.startswith("dataroom-"))


def test_the_cli_passes_a_clean_history(clean: h.History, exported: Path) -> None:
    result = cli(str(clean.site), *dataroom_args(exported), "--all", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True and doc["failed"] == []
    assert doc["summary"]["clients_checked"] == h.CLIENTS
    assert {c["id"] for c in doc["checks"]} == set(CHECKS)
    human = cli(str(clean.site), *dataroom_args(exported), "--sample", "10")
    assert human.exit_code == 0, human.output
    lines = human.output.splitlines()
    assert sum(1 for line in lines if line.startswith(("  ok ", "  n/a "))) == len(CHECKS)
    assert lines[-1].startswith("AUDIT PASSED: every check holds")


def test_a_real_subprocess_audits_a_clean_history(clean: h.History, exported: Path) -> None:
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
            *dataroom_args(exported),
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


def test_one_wallet_counted_twice_fails_reserves_proofs(
    counted_twice: h.History, tmp_path: Path
) -> None:
    """T14 (tests/support/reserves_attacks.py): audit names the check and the wallets, with
    and without the data room; the data room's declaration is refused too."""
    report = audit_site(str(counted_twice.site))
    assert failed_ids(report) == {"reserves-proofs"}, [(c.id, c.detail) for c in report.failed]
    (detail,) = [d for d in details(report, "reserves-proofs") if not d.startswith("in all")]
    assert detail.startswith(
        "epoch doubled: reserves-distinct: chains bitcoin and bitcoin-b are the same bitcoin "
        "network (mainnet)"
    ), detail
    data = counted_twice.workspace / "data"
    doubled = (data / "liabilities-doubled.csv", data / "reserves-doubled.toml")
    # The custodian's export refuses the declaration, as publish does ...
    with pytest.raises(InputError) as refused:
        export_dataroom(
            counted_twice.config,
            DEMO_PASSPHRASE,
            COUNTED_TWICE_EPOCH,
            tmp_path / "room",
            ROOM_PASSPHRASE,
            liabilities_path=doubled[0],
            reserves_path=doubled[1],
        )
    assert any("same bitcoin network (mainnet)" in p for p in refused.value.problems)
    assert not (tmp_path / "room").exists()
    # ... and the audit refuses a data room written with it anyway.
    folder = craft(counted_twice, tmp_path / "crafted", COUNTED_TWICE_EPOCH, *doubled)
    with pytest.raises(InputError) as refused:
        audit_site(str(counted_twice.site), room(folder))
    assert any("same bitcoin network (mainnet)" in p for p in refused.value.problems)
    result = cli(str(counted_twice.site))
    assert result.exit_code == 1 and "reserves-distinct" in result.output


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
            "--state",
            str(state),
        ],
        env={"PORSEGREGATE_CODE": first.code},
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
    assert "not a path inside the site" in details(report, "manifest-signatures")[0]


# -- the data room ------------------------------------------------------------------------------


def test_a_changed_balance_fails_totals_roots_and_that_clients_proof(
    clean: h.History, tmp_path: Path
) -> None:
    lines = liabilities_of(clean).read_text().splitlines()
    account, asset, amount = lines[1].split(",")
    lines[1] = f"{account},{asset},1{amount}"  # a leading digit more: a higher balance
    changed = tmp_path / "liabilities.csv"
    changed.write_text("\n".join(lines) + "\n")
    report = audit_site(
        str(clean.site), room(export(clean, tmp_path / "room", liabilities=changed))
    )
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


@pytest.mark.parametrize(
    ("edit", "problem"),
    [(b.asset_twice, "is listed twice"), (b.assets_reversed, "out of the attestation's order")],
)
def test_a_bundle_with_an_asset_twice_or_out_of_order_fails_the_data_room(
    clean: h.History, tmp_path: Path, edit: Any, problem: str
) -> None:
    """The custodian re-encrypts a client's bundle (it holds the master secret) with an asset
    listed twice (its balance shown twice) or the assets out of order: every path folds to the
    signed root, the shard is in the re-signed manifest; the data room opens the bundle with
    the epoch's keys and the client verifier's rules, and bundle-format fails."""
    copy = clean.copy(tmp_path / "bundle")
    account = b.client_holding(copy, 2)
    b.rewrite_newest_bundle(copy, account, edit)
    assert audit_site(str(copy.site)).ok  # without the data room no bundle can be opened
    report = audit_site(str(copy.site), room(export(copy, tmp_path / "room")))
    assert failed_ids(report) == {"dataroom-bundles"}
    [detail] = details(report, "dataroom-bundles")
    assert detail.startswith(f"{account}: bundle-format failed: your proof is malformed: ")
    assert problem in detail


def test_the_data_room_compares_bundles_and_verifies_only_the_ones_that_differ(
    clean: h.History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every tree rebuilt with its signed root, an entry that decrypts to exactly the
    rebuilt bundle is done without the client's checks; one that differs (a bundle the
    custodian re-encrypted) goes through them, and only that one."""
    from porsegregate.verify import checks

    calls: list[str] = []
    real = checks.check_proof

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "check_proof", counted)
    folder = export(clean, tmp_path / "room")
    report = audit_site(str(clean.site), room(folder, None))
    assert report.ok and report.clients_checked > 100
    assert calls == []
    copy = clean.copy(tmp_path / "bundle")
    account = b.client_holding(copy, 2)
    b.rewrite_newest_bundle(copy, account, b.asset_twice)
    report = audit_site(str(copy.site), room(export(copy, tmp_path / "room2"), None))
    assert failed_ids(report) == {"dataroom-bundles"}
    assert calls == [account]


def _one_more_entry(entries: dict[bytes, bytes]) -> None:
    """A dummy entry beyond the signed count, as long as another one."""
    entries[bytes.fromhex("0" + "e" * 31)] = next(iter(entries.values()))


def _an_odd_length(entries: dict[bytes, bytes]) -> None:
    """One entry padded to a length no bucket has: it would tell its holder apart."""
    first = next(iter(entries))
    entries[first] += b"\x00"


@pytest.mark.parametrize(
    ("edit", "raw", "problem"),
    [
        (_one_more_entry, False, "the shards hold 4097 entries, the signed manifest says 4096"),
        (_an_odd_length, False, "not one of the lengths the signed layout allows"),
        (
            b.reverse_entries,
            True,
            "is malformed: entry 1's lookup id is not above the one before it",
        ),
    ],
)
def test_shards_that_tell_an_observer_more_fail_proof_shards(
    clean: h.History, tmp_path: Path, edit: Any, raw: bool, problem: str
) -> None:
    """T17: the custodian re-publishes a shard (re-signing the manifests) with one entry too
    many, an entry of a length no bucket has, or its entries out of order: proof-shards
    fails for the root and the epoch's home alike, and nothing else does."""
    copy = clean.copy(tmp_path / "shards")
    b.rewrite_newest_shard(copy, "0e", edit, raw)
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"proof-shards"}
    found = details(report, "proof-shards")
    assert len(found) == 2 and all(problem in d for d in found), found
    assert any(d.startswith(f"epochs/{copy.epochs[-1]}/") for d in found)


@pytest.mark.parametrize(
    ("attack", "problem"),
    [
        ("shard_path_altered", "with its path does not fold to the signed manifest's shards_root"),
        ("shard_of_another_index", "it is served under another shard's name"),
        ("shard_missing", "is missing: every one of the 2^"),
    ],
)
def test_a_shard_the_root_does_not_cover_fails_proof_shards(
    clean: h.History, tmp_path: Path, attack: str, problem: str
) -> None:
    """porsegregate/2: a root shard with a wrong path, another shard under its name, or none:
    proof-shards fails for the root only (the epoch's home keeps its copy); nothing else."""
    from porsegregate.protocol.bundle import decode_shard_v2

    from .support import shard_attacks as sa

    copy = clean.copy(tmp_path / attack)
    path, index, bits = sa.client_shard(copy)
    neighbour = copy.site / layout.shard_file(index ^ 1, bits)
    counts = {len(decode_shard_v2(p.read_bytes()).entries) for p in (path, neighbour)}
    getattr(sa, attack)(copy)
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"proof-shards"}, [(c.id, c.detail) for c in report.failed]
    found = details(report, "proof-shards")
    assert problem in found[0] and found[0].startswith("proofs/"), found
    # Another shard's entries under this name also change the count the shards add up to,
    # unless the two shards happen to hold as many entries (the keys are random each run).
    extra = 1 if attack == "shard_of_another_index" and len(counts) == 2 else 0
    assert len(found) == 1 + extra and all("the shards hold" in d for d in found[1:]), found


def test_a_stray_file_among_the_shards_fails_proof_shards(clean: h.History, tmp_path: Path) -> None:
    """porsegregate/2 lists no shard in its manifest: a file under proofs/ that is not one of
    the 2^b shards is reported (it is no one's shard), as manifest-extra would for another."""
    copy = clean.copy(tmp_path / "stray")
    (copy.site / "proofs" / "zz.bin").write_bytes(b"PSS2")
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"proof-shards"}
    assert details(report, "proof-shards") == [
        "proofs/zz.bin is not the name of one of the 2^7 shards (added by someone)"
    ]


def test_wrong_keys_for_a_client_fail_that_clients_bundle(clean: h.History, tmp_path: Path) -> None:
    """A data room whose keys for one client are not the published ones: that client's proof
    is not found, and only dataroom-bundles fails (the roots need the nonces, and the lookup
    ids only for the holders' order: this one differs from the published in its last bit, so
    the client keeps its place among the holders and the roots still rebuild)."""
    from dataclasses import replace

    from porsegregate.protocol.codes import client_secret
    from porsegregate.protocol.hashing import epoch_keys

    epoch = clean.epochs[-1]
    account = list(read_liabilities(liabilities_of(clean), clean.config.assets).balances)[4]

    def other_keys(secrets: EpochSecrets) -> EpochSecrets:
        other = epoch_keys(client_secret(os.urandom(32), account), epoch)
        mine = secrets.clients[account]
        near = mine.lookup[:-1] + bytes((mine.lookup[-1] ^ 1,))  # same place in lookup order
        wrong = replace(other, nonce=mine.nonce, lookup=near)  # the roots still rebuild
        return replace(secrets, clients={**secrets.clients, account: wrong})

    folder = craft(
        clean, tmp_path / "room", epoch, liabilities_of(clean), reserves_of(clean), other_keys
    )
    report = audit_site(str(clean.site), room(folder))
    assert failed_ids(report) == {"dataroom-bundles"}
    assert details(report, "dataroom-bundles") == [
        f"{account}: proof-found failed: no proof is published under this client's lookup id "
        "in this epoch"
    ]
    result = cli(str(clean.site), *dataroom_args(folder), "--all")
    assert result.exit_code == 1
    assert "FAIL dataroom-bundles" in result.output


def test_a_different_reserves_file_fails_coverage(clean: h.History, tmp_path: Path) -> None:
    text = reserves_of(clean).read_text()
    dedicated = text.index('category = "client_dedicated"')
    start = text.index("balances = { ETH = ", dedicated)
    end = text.index("\n", start)
    changed = tmp_path / "reserves.toml"
    changed.write_text(text[:start] + 'balances = { ETH = "0.5" }' + text[end:])
    report = audit_site(str(clean.site), room(export(clean, tmp_path / "room", reserves=changed)))
    assert failed_ids(report) == {"dataroom-coverage", "dataroom-wallets"}
    coverage = details(report, "dataroom-coverage")
    assert any(d.startswith("ETH: client_dedicated is") for d in coverage), coverage
    assert any(
        d.startswith("ETH: dedicated_shortfalls is 0 in the signed coverage") for d in coverage
    )
    assert "holdings" in details(report, "dataroom-wallets")[0]


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
    # The newest epoch's co-signature is published at the root and in its home: it is one
    # co-signature, counted once; with the oldest epoch's, two in all (not three).
    assert (copy.site / "epochs" / copy.epochs[-1] / "auditors" / "index.json").is_file()
    [summary] = details(report, "auditor-signatures")
    assert "all 2 auditor co-signature(s)" in summary, summary

    h.forge_auditor_signature(copy, copy.epochs[1])  # a signature over other bytes
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"auditor-signatures"}
    [problem] = details(report, "auditor-signatures")
    assert problem.startswith(f"epochs/{copy.epochs[1]}/: auditors/")
    assert "does not verify over this attestation.json" in problem


def test_a_bad_newest_cosignature_is_one_finding(clean: h.History, tmp_path: Path) -> None:
    """The newest epoch's co-signature, forged, in both places: one finding naming both."""
    import shutil

    copy = clean.copy(tmp_path / "forged-newest")
    fingerprint = h.forge_auditor_signature(copy)
    home = copy.site / "epochs" / copy.epochs[-1]
    shutil.copytree(copy.site / "auditors", home / "auditors", dirs_exist_ok=True)
    report = audit_site(str(copy.site))
    assert failed_ids(report) == {"auditor-signatures"}
    [problem] = details(report, "auditor-signatures")
    assert problem.startswith(f"./ and epochs/{copy.epochs[-1]}/: auditors/{fingerprint}/")


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


def test_bad_input_exits_3_and_bad_usage_2(
    clean: h.History, exported: Path, tmp_path: Path
) -> None:
    assert cli(str(tmp_path / "nowhere")).exit_code == 3
    assert cli(str(tmp_path)).exit_code == 3  # a folder, but not a site
    missing = cli(str(clean.site), "--dataroom", str(tmp_path / "no-room"))
    assert missing.exit_code == 3 and "no such data room folder" in missing.output
    not_a_room = cli(str(clean.site), "--dataroom", str(clean.workspace))
    assert not_a_room.exit_code == 3 and "dataroom.json" in not_a_room.output
    wrong = cli(
        str(clean.site),
        *dataroom_args(exported),
        env={"PORSEGREGATE_DATAROOM_PASSPHRASE": "not the passphrase"},
    )
    assert wrong.exit_code == 3 and "wrong data-room passphrase" in wrong.output
    assert cli(str(clean.site), *dataroom_args(exported), "--all", "--sample", "5").exit_code == 2
    assert cli(str(clean.site), "--sample", "5").exit_code == 2
    assert cli(str(clean.site), "--all").exit_code == 2
    old = cli(str(clean.site), "--liabilities", str(liabilities_of(clean)))
    assert old.exit_code == 2  # the workspace's files are no longer the auditor's data room


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
    export_dataroom(
        config,
        DEMO_PASSPHRASE,
        epoch,
        tmp_path / "room",
        ROOM_PASSPHRASE,
        reserves_path=config.workspace / "data" / f"reserves-{epoch}.toml",
    )
    started = time.perf_counter()
    report = audit_site(str(tmp_path / "demo" / "site"), room(tmp_path / "room"))
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
