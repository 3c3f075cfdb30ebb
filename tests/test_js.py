"""The JavaScript verifier (site/porverify.js) passes the shared vectors under Node's test runner.

Node also verifies a real published site (the session's `published` fixture),
with tampered shards, manifests and signatures, through the module's own
`verifySite` and an in-memory fetch; and a real three-epoch history
(tests/history.py) with its attacks, through `verifySite` (with a remembered
checkpoint) and `verifyHistory`, reaching the same verdicts, check by check, as
the Python verifier run here on the same folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from porsegregate.serialization import parse_attestation
from porsegregate.state import ClientState
from porsegregate.verify import HistoryReport, Report, verify_history, verify_site

from . import history as h

ROOT = Path(__file__).parent.parent


def _rewrite_newest_attestation(copy: h.History) -> None:
    """The custodian re-signs the newest attestation and its manifest, but cannot fix the log."""
    from dataclasses import replace

    from porsegregate import _crypto
    from porsegregate.serialization import canonical, manifest_bytes, parse_manifest

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
    new_manifest = manifest_bytes(
        replace(manifest, attestation_sha256=_crypto.sha256_hex(data), files=files)
    )
    (copy.site / "manifest.json").write_bytes(new_manifest)
    (copy.site / "manifest.json.sig").write_bytes(key.sign(new_manifest))


def publish_with_newcomer(copy: h.History, epoch: str, seed: int) -> tuple[str, str]:
    """One more epoch in which one more client holds assets: a client of the newest epoch only."""
    from porsegregate.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
    from porsegregate.publish import publish

    liabilities = copy.workspace / "data" / f"liabilities-{epoch}-{seed}.csv"
    write_synthetic_liabilities(liabilities, h.CLIENTS + 1, seed)
    publish(
        copy.config,
        DEMO_PASSPHRASE,
        epoch,
        snapshot_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        site=copy.site,
        codes_path=copy.root / "client-codes.csv",
        liabilities_path=liabilities,
        allow_shortfall=True,
    )
    account = f"C{h.CLIENTS + 1:08d}"
    codes = dict(
        line.split(",", 1) for line in (copy.root / "client-codes.csv").read_text().splitlines()[1:]
    )
    return account, codes[account]


def _site(r: Report) -> dict[str, Any]:
    return r.to_json()


def _history(r: HistoryReport) -> dict[str, Any]:
    doc = r.to_json()
    return {
        "verified": doc["verified"],
        "latest": doc["latest"],
        "history": doc["history"],
        "epochs": [
            {
                "epoch": e["epoch"],
                "included": e["included"],
                "failed": e["report"]["failed"]["id"] if e["report"]["failed"] else None,
            }
            for e in doc["epochs"]
        ],
    }


def history_scenarios(tmp: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The history folders (and attacked copies) node verifies, and Python's verdicts on each."""
    clean = h.build_history(tmp / "clean")
    sites: dict[str, h.History] = {"clean": clean}
    for name, attack in (
        ("rewritten", h.rewrite_past_attestation),
        ("removed", h.remove_epoch),
        ("newest_rewritten", _rewrite_newest_attestation),
    ):
        sites[name] = clean.copy(tmp / name)
        attack(sites[name])
    sites["fork_a"], sites["fork_b"] = h.fork(clean, tmp / "fork")
    sites["newer"] = clean.copy(tmp / "newer")
    h.publish_next(sites["newer"], "next", seed=5)
    sites["newcomer"] = clean.copy(tmp / "newcomer")
    newcomer = publish_with_newcomer(sites["newcomer"], "next", seed=7)

    def site(name: str, state: ClientState | None = None, **kw: Any) -> dict[str, Any]:
        s = sites[name]
        return _site(verify_site(str(s.site), s.account, s.code, state=state, **kw))

    fork, rollback, growth = ClientState(), ClientState(), ClientState()
    newest = parse_attestation((clean.site / "attestation.json").read_bytes())
    assert newest.next_due is not None
    due = datetime.strptime(newest.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    before, after = due - timedelta(days=1), due + timedelta(seconds=1)
    python = {
        "clean_history": _history(
            verify_history(str(clean.site), clean.account, clean.code, state=ClientState())
        ),
        "rewritten_history": _history(
            verify_history(str(sites["rewritten"].site), clean.account, clean.code)
        ),
        "removed_history": _history(
            verify_history(str(sites["removed"].site), clean.account, clean.code)
        ),
        "newcomer_history": _history(
            verify_history(str(sites["newcomer"].site), *newcomer, state=ClientState())
        ),
        # A client who saw branch A is shown branch B (same size, another root), then A again.
        "fork": [site("fork_a", fork), site("fork_b", fork), site("fork_a", fork)],
        # A client who saw 4 entries is shown the old 3-entry site.
        "rollback": [site("newer", rollback), site("clean", rollback)],
        # A client who saw 3 entries comes back to 4: the log only grew.
        "growth": [site("clean", growth), site("newer", growth)],
        "newest_rewritten": [site("newest_rewritten")],
        "overdue": {
            "before": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "after": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reports": [site("clean", now=before), site("clean", now=after)],
        },
    }
    # The Python verdicts the browser's must equal (tests/test_history.py asserts the same).
    assert python["clean_history"]["verified"]
    assert python["rewritten_history"]["history"]["failed"]["id"] == "history-epoch"
    assert python["removed_history"]["history"]["failed"]["id"] == "history-epoch"
    assert python["newcomer_history"]["verified"]
    assert [e["failed"] for e in python["newcomer_history"]["epochs"]] == [
        "proof-found",
        "proof-found",
        "proof-found",
        None,
    ]
    assert [r["verified"] for r in python["fork"]] == [True, False, True]
    assert python["fork"][1]["failed"]["id"] == "log-consistency"
    assert python["rollback"][1]["failed"]["id"] == "log-consistency"
    assert [r["verified"] for r in python["growth"]] == [True, True]
    assert python["newest_rewritten"][0]["failed"]["id"] == "log-inclusion"
    assert [r["overdue"] for r in python["overdue"]["reports"]] == [False, True]
    doc = {
        "sites": {name: str(s.site) for name, s in sites.items()},
        "account": clean.account,
        "code": clean.code,
        "newcomer": {"account": newcomer[0], "code": newcomer[1]},
        "epochs": clean.epochs,
        "python": python,
    }
    env = {f"PORSEGREGATE_HISTORY_{name.upper()}": str(s.site) for name, s in sites.items()}
    return env, doc


def test_node_vectors_and_a_published_site(
    published: dict[str, Any], tmp_path_factory: Any
) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed for the JavaScript verifier tests"
    tmp = tmp_path_factory.mktemp("js-history")
    history_env, expected = history_scenarios(tmp)
    expect_path = tmp / "python-verdicts.json"
    expect_path.write_text(json.dumps(expected, indent=1))
    env = {
        **os.environ,
        "PORSEGREGATE_TEST_SITE": str(published["site"]),
        "PORSEGREGATE_TEST_CODES": str(published["result"].codes),
        **history_env,
        "PORSEGREGATE_HISTORY_EXPECT": str(expect_path),
    }
    proc = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
    assert "# skipped 0" in proc.stdout, "the site and history tests must run"
