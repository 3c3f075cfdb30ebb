"""History across epochs, checked by the Python verifier: every attack of tests/support/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from porsegregate.protocol.serialization import parse_attestation
from porsegregate.verify.client import verify_history, verify_site
from porsegregate.verify.state import ClientState

from .support import history as h


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> h.History:
    return h.build_history(tmp_path_factory.mktemp("history") / "demo")


def test_a_clean_history_verifies_in_every_epoch(clean: h.History, tmp_path: Path) -> None:
    state = ClientState(tmp_path / "state.json")
    result = verify_history(str(clean.site), clean.account, clean.code, state=state)
    assert result.verified, result.to_json()
    assert [e.epoch for e in result.epochs] == clean.epochs
    assert all(e.report is not None and e.report.verified for e in result.epochs)
    assert [c.id for c in result.checks] == [
        "history-log",
        "history-inclusion",
        "history-epoch",
        "history-chain",
    ]
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert newest.epoch_id == clean.epochs[-1]
    assert (clean.site / "epochs" / clean.epochs[0] / "index.html").is_file()
    ids = [c.id for c in result.latest.checks]
    assert ids.index("log-checkpoint") < ids.index("log-inclusion") < ids.index("reserves-control")


def test_history_attacks(clean: h.History, tmp_path: Path) -> None:
    for attack, check in (
        (h.rewrite_past_attestation, "history-epoch"),
        (h.remove_epoch, "history-epoch"),
    ):
        copy = clean.copy(tmp_path / attack.__name__)
        attack(copy)
        result = verify_history(str(copy.site), copy.account, copy.code)
        assert not result.verified, attack.__name__
        assert result.failed is not None and result.failed.id == check, result.to_json()["history"]


def test_one_wallet_counted_twice_is_caught(counted_twice: h.History) -> None:
    """T14: a second chain entry for Bitcoin mainnet and for chain id 1 lists the omnibus
    wallets again, every signature real: the signed coverage says over 200 %."""
    from click.testing import CliRunner

    from porsegregate.cli import main

    signed = parse_attestation((counted_twice.site / "attestation.json").read_bytes())
    btc = signed.reserves.asset_coverage("BTC")
    assert btc is not None and btc.segregated > 2 * btc.liabilities, "the attack doubles coverage"
    report = verify_site(str(counted_twice.site), counted_twice.account, counted_twice.code)
    assert report.failed is not None and report.failed.id == "reserves-distinct"
    assert report.failed.detail.startswith(
        "chains bitcoin and bitcoin-b are the same bitcoin network (mainnet): a network is "
        "listed once, so that no wallet is counted twice; chains ethereum and ethereum-b are "
        "the same evm network (1)"
    )
    for wallet in signed.reserves.wallets:
        if wallet.chain.endswith("-b"):
            assert (
                f"{wallet.chain} {wallet.address} (client_segregated) is the same wallet as "
                f"{wallet.chain[:-2]} {wallet.address} (client_segregated)"
            ) in report.failed.detail
    args = ["verify", "--site", str(counted_twice.site), "--account", counted_twice.account]
    result = CliRunner().invoke(main, args, env={"PORSEGREGATE_CODE": counted_twice.code})
    assert result.exit_code == 1
    assert "reserves-distinct" in result.output


def test_a_manifest_of_another_epoch_fails_manifest_attestation(
    clean: h.History, tmp_path: Path
) -> None:
    """The manifest names the attestation by hash and by epoch; both must be this one's."""
    copy = clean.copy(tmp_path / "manifest-epoch")
    h.manifest_of_another_epoch(copy)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "manifest-attestation"
    assert f"is for epoch '{copy.epochs[0]}'" in report.failed.detail


def test_a_signed_but_malformed_shard_fails_shard_hash_not_proof_found(
    clean: h.History, tmp_path: Path
) -> None:
    """The custodian re-publishes the client's shard with its entries out of order and
    re-signs the manifest: the shard matches the manifest but is malformed. That is the
    custodian's fault (shard-hash), never a typing mistake (proof-found)."""
    from porsegregate.protocol.codes import parse_code
    from porsegregate.protocol.hashing import epoch_keys

    from .support import bundles as b

    copy = clean.copy(tmp_path / "shard-order")
    lookup = epoch_keys(parse_code(copy.code), copy.epochs[-1]).lookup.hex()

    name = b.rewrite_newest_shard(copy, lookup, b.reverse_entries, raw=True)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "shard-hash"
    assert report.failed.detail.startswith(f"{name} is malformed: entry 1's lookup id")


@pytest.mark.parametrize(
    ("attack", "detail"),
    [
        ("shard_path_altered", "with its path does not fold to the signed manifest's shards_root"),
        ("shard_of_another_index", "it is served under another shard's name"),
        ("shard_missing", "is missing: every one of the 2^b shards is published"),
    ],
)
def test_a_shard_the_root_does_not_cover_fails_shard_hash(
    clean: h.History, tmp_path: Path, attack: str, detail: str
) -> None:
    """porsegregate/2: the host alters the client's shard's path, serves another shard under
    its name, or none: the signed shards root catches each (shard-hash), and the client never
    reads the manifest's files for it."""
    from .support import shard_attacks as sa

    copy = clean.copy(tmp_path / attack)
    getattr(sa, attack)(copy)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "shard-hash", report.to_json()
    assert detail in report.failed.detail
    # The epoch's home keeps its own copy of the shard: the client verifies there.
    assert verify_site(
        str(copy.site / "epochs" / copy.epochs[-1]), copy.account, copy.code
    ).verified


def test_a_changed_page_fails_its_epochs_manifest(clean: h.History, tmp_path: Path) -> None:
    copy = clean.copy(tmp_path / "changed")
    h.change_file(copy)
    from porsegregate.verify.fetch import SiteReader

    site = SiteReader(str(copy.site / "epochs" / copy.epochs[0]))
    from porsegregate.protocol.serialization import parse_manifest

    manifest = parse_manifest(site.need("manifest.json"))
    from porsegregate import _crypto

    assert _crypto.sha256_hex(site.need("verify.html")) != manifest.files["verify.html"]


def test_a_fork_is_caught_by_a_client_who_saw_the_other_branch(
    clean: h.History, tmp_path: Path
) -> None:
    first, second = h.fork(clean, tmp_path)
    state = ClientState(tmp_path / "state.json")
    seen = verify_site(str(first.site), first.account, first.code, state=state)
    assert seen.verified
    state.save()
    again = ClientState(tmp_path / "state.json")
    report = verify_site(str(second.site), second.account, second.code, state=again)
    assert not report.verified
    assert report.failed is not None and report.failed.id == "log-consistency"
    assert "a fork" in report.failed.detail
    # The honest branch, visited again, is consistent with what the client saw.
    report = verify_site(
        str(first.site), first.account, first.code, state=ClientState(tmp_path / "state.json")
    )
    assert report.verified


def test_a_rolled_back_site_is_caught(clean: h.History, tmp_path: Path) -> None:
    """A client who saw 4 entries is shown the old 3-entry site (a replay of history)."""
    newer = clean.copy(tmp_path / "newer")
    h.publish_next(newer, "next", seed=5)
    state = ClientState(tmp_path / "state.json")
    assert verify_site(str(newer.site), newer.account, newer.code, state=state).verified
    report = verify_site(str(clean.site), clean.account, clean.code, state=state)
    assert report.failed is not None and report.failed.id == "log-consistency"
    assert "you saw this log at size 4 before" in report.failed.detail


def test_the_log_only_grew_since_the_last_visit(clean: h.History, tmp_path: Path) -> None:
    newer = clean.copy(tmp_path / "newer")
    state = ClientState(tmp_path / "state.json")
    assert verify_site(str(newer.site), newer.account, newer.code, state=state).verified
    h.publish_next(newer, "next", seed=5)
    report = verify_site(str(newer.site), newer.account, newer.code, state=state)
    assert report.verified, report.failed
    consistency = next(c for c in report.checks if c.id == "log-consistency")
    assert consistency.detail == "the log only grew since your last check (size 3 to 4)"


def test_an_overdue_attestation_is_a_warning(clean: h.History) -> None:
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert newest.next_due is not None
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    fresh = verify_site(str(clean.site), clean.account, clean.code, now=due - timedelta(days=1))
    assert fresh.verified and not fresh.overdue and fresh.warnings == []
    late = verify_site(str(clean.site), clean.account, clean.code, now=due + timedelta(seconds=1))
    assert late.verified and late.overdue
    assert late.warnings[0].startswith(
        f"overdue: the custodian said the next attestation would be published by {newest.next_due}"
    )


def test_an_earlier_epoch_is_judged_fresh_against_the_newest(clean: h.History) -> None:
    """An earlier epoch's home is past its own next_due once the next epoch is out: its
    freshness is the newest attestation's (section 13), so no false "overdue"."""
    oldest = parse_attestation(
        (clean.site / "epochs" / clean.epochs[0] / "attestation.json").read_bytes()
    )
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert oldest.next_due is not None and newest.next_due is not None
    assert oldest.next_due < newest.next_due
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    home = str(clean.site / "epochs" / clean.epochs[0])
    for where in (home, home + "/"):
        report = verify_site(where, clean.account, clean.code, now=due - timedelta(days=1))
        assert report.verified and report.epoch == clean.epochs[0]
        assert not report.overdue and report.warnings == [] and report.next_due == newest.next_due
    # Once the newest is overdue too, the earlier page says so.
    late = verify_site(home, clean.account, clean.code, now=due + timedelta(seconds=1))
    assert late.verified and late.overdue and newest.next_due in late.warnings[0]


def test_an_earlier_epoch_without_a_verifiable_root_keeps_its_own_freshness(
    clean: h.History, tmp_path: Path
) -> None:
    """A root attestation that does not verify under the epoch's key is not trusted for
    freshness: the earlier epoch's own next_due counts, and it is overdue."""
    copy = clean.copy(tmp_path / "copy")
    sig = copy.site / "attestation.json.sig"
    sig.write_bytes(bytes(64))
    newest = parse_attestation((copy.site / "attestation.json").read_bytes())
    assert newest.next_due is not None
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    home = str(copy.site / "epochs" / copy.epochs[0])
    report = verify_site(home, copy.account, copy.code, now=due - timedelta(days=1))
    assert report.verified and report.overdue and report.next_due != newest.next_due


def test_a_rewritten_newest_attestation_is_not_in_the_log(clean: h.History, tmp_path: Path) -> None:
    """The custodian re-signs the newest attestation and manifest, but cannot fix the log."""
    import json

    from porsegregate import _crypto
    from porsegregate.protocol.serialization import canonical, manifest_bytes, parse_manifest

    copy = clean.copy(tmp_path / "newest")
    key = copy.signing_key()
    path = copy.site / "attestation.json"
    doc = json.loads(path.read_bytes())
    doc["generator"] += " (amended)"
    data = canonical(doc)
    path.write_bytes(data)
    (copy.site / "attestation.json.sig").write_bytes(key.sign(data))
    manifest = parse_manifest((copy.site / "manifest.json").read_bytes())
    files = dict(manifest.files)
    files["attestation.json"] = _crypto.sha256_hex(data)
    files["attestation.json.sig"] = _crypto.sha256_hex(
        (copy.site / "attestation.json.sig").read_bytes()
    )
    from dataclasses import replace

    new_manifest = manifest_bytes(
        replace(manifest, attestation_sha256=_crypto.sha256_hex(data), files=files)
    )
    (copy.site / "manifest.json").write_bytes(new_manifest)
    (copy.site / "manifest.json.sig").write_bytes(key.sign(new_manifest))
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "log-inclusion", report.failed


def test_the_overview_shows_the_history(clean: h.History) -> None:
    import re

    page = (clean.site / "index.html").read_text()
    for epoch in clean.epochs[:-1]:
        assert f'href="epochs/{epoch}/index.html"' in page
        assert (clean.site / "epochs" / epoch / "index.html").is_file()
    assert page.count('class="chart history-panel"') == 5, "one chart per asset"
    descriptions = re.findall(r'<desc id="hist-\d+-desc">(.*?)</desc>', page, re.S)
    assert len(descriptions) == 5
    for epoch in clean.epochs:
        assert all(f"{epoch}: " in d for d in descriptions), epoch
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert f'The next attestation is due by <time datetime="{newest.next_due}">' in page


def test_an_earlier_epochs_home_is_not_a_rollback(clean: h.History, tmp_path: Path) -> None:
    state = ClientState(tmp_path / "state.json")
    assert verify_site(str(clean.site), clean.account, clean.code, state=state).verified
    old = clean.site / "epochs" / clean.epochs[0]
    report = verify_site(str(old), clean.account, clean.code, state=state)
    assert report.failed is None or report.failed.id == "proof-found", report.failed
    detail = next(c.detail for c in report.checks if c.id == "log-consistency")
    assert detail.startswith("an earlier epoch's own copy")
    assert state.seen(report.key_fingerprint or "") is not None
    assert state.seen(report.key_fingerprint or "").size == len(clean.epochs)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "due",
    [
        "2026-02-30T00:00:00Z",  # no such date
        "\u0662\u0660\u0662\u0666-12-31T00:00:00Z",  # Arabic-Indic digits: not ASCII
        "2026-11-30T23:59:59Z",  # not after the snapshot
    ],
)
def test_next_due_must_be_a_real_later_time(clean: h.History, due: str) -> None:
    import json

    from porsegregate.errors import FormatError
    from porsegregate.protocol.serialization import canonical

    doc = json.loads((clean.site / "attestation.json").read_bytes())
    doc["epoch"]["snapshot_time"] = "2026-11-30T23:59:59Z"
    doc["epoch"]["next_due"] = due
    with pytest.raises(FormatError, match="next_due"):
        parse_attestation(canonical(doc))


def test_cli_verify_all_epochs_and_state(clean: h.History, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from porsegregate.cli import main

    state = tmp_path / "state.json"
    env = {"PORSEGREGATE_CODE": clean.code}
    args = ["verify", "--site", str(clean.site), "--account", clean.account, "--all-epochs"]
    result = CliRunner().invoke(main, [*args, "--state", str(state)], env=env)
    assert result.exit_code == 0, result.output
    assert "VERIFIED: your balances are included in the signed liabilities." in result.output
    for epoch in clean.epochs:
        assert f"  {epoch:<12} included: " in result.output
    saved = json.loads(state.read_text())
    assert [s["size"] for s in saved["logs"].values()] == [len(clean.epochs)]
    doc = json.loads(CliRunner().invoke(main, [*args, "--json"], env=env).stdout)
    assert doc["verified"] is True and [e["epoch"] for e in doc["epochs"]] == clean.epochs
    removed = clean.copy(tmp_path / "removed")
    h.remove_epoch(removed)
    args[2] = str(removed.site)
    result = CliRunner().invoke(main, [*args, "--state", str(state)], env=env)
    assert result.exit_code == 1
    assert "History check history-epoch FAILED: epoch" in result.output
    assert "NOT VERIFIED: your balances are in the newest epoch, but the history" in result.output
    assert json.loads(state.read_text()) == saved, "nothing remembered from a failed check"
    result = CliRunner().invoke(
        main, ["verify", "--proof", str(state), "--account", "a", "--all-epochs"], env=env
    )
    assert result.exit_code == 2 and "--all-epochs needs --site" in result.output


def test_hostile_host_files_fail_checks_not_the_verifier(clean: h.History, tmp_path: Path) -> None:
    """A key of an unknown algorithm, or a deeply nested index: a failed check, no traceback."""
    import base64

    copy = clean.copy(tmp_path / "hostile")
    oid = bytes([0x06, 0x03, 0x2A, 0x03, 0x04])  # 1.2.3.4: no such key algorithm
    algorithm = bytes([0x30, len(oid)]) + oid
    bits = bytes([0x03, 33, 0x00]) + b"\x11" * 32
    spki = bytes([0x30, len(algorithm) + len(bits)]) + algorithm + bits
    pem = b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki) + b"-----END PUBLIC KEY-----\n"
    (copy.site / "custodian.pub.pem").write_bytes(pem)
    report = verify_site(str(copy.site), copy.account, copy.code)
    assert report.failed is not None and report.failed.id == "attestation-signature"
    other = clean.copy(tmp_path / "nested")
    (other.site / "auditors").mkdir(exist_ok=True)
    (other.site / "auditors" / "index.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    report = verify_site(str(other.site), other.account, other.code)
    assert report.failed is not None and report.failed.id == "auditor-signature"
    assert "auditors/index.json is malformed: not JSON" in report.failed.detail


def test_a_changed_log_file_is_caught(clean: h.History, tmp_path: Path) -> None:
    """A host edits a file the verifier reads (the log's entry list) without the manifest."""
    import json

    from porsegregate.protocol.serialization import canonical

    copy = clean.copy(tmp_path / "entries")
    path = copy.site / "log" / "entries.json"
    doc = json.loads(path.read_bytes())
    doc["entries"][0]["epoch"] = "1999-01"
    path.write_bytes(canonical(doc))
    result = verify_history(str(copy.site), copy.account, copy.code)
    assert result.failed is not None and result.failed.id == "history-log"
    assert "log/entries.json does not match the signed manifest" in result.failed.detail
