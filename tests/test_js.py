"""The JavaScript verifier (site/porverify.js) passes the shared vectors under Node's test runner.

Node also verifies a real published site (the session's `published` fixture),
with tampered shards, manifests and signatures, through the module's own
`verifySite` and an in-memory fetch; and a real three-epoch history
(tests/support/history.py) with its attacks, through `verifySite` (with a remembered
checkpoint) and `verifyHistory`, reaching the same verdicts, check by check, as
the Python verifier run here on the same folders. The same history co-signed by
auditors (porsegregate.cosign), forged, altered after signing, and written by
hand with malformed parts (docs/protocol.md section 14), is checked the same way, and so are
the legal segregation attacks (tests/support/legal_attacks.py: an operating company holding a
client wallet, a published document swapped, a trustee change warned of in the same words).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from porsegregate import _crypto
from porsegregate.cosign import cosign
from porsegregate.protocol.cosignature import (
    COSIGN_FORMAT,
    COSIGN_FORMAT_REREAD,
    name_problem,
    statement_problem,
)
from porsegregate.protocol.serialization import canonical, parse_attestation, proof_file_from_dict
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.verify.client import (
    HistoryReport,
    Report,
    verify_history,
    verify_proof,
    verify_site,
)
from porsegregate.verify.state import ClientState

from .support import history as h
from .support import legal_attacks as la
from .support import proof_files as pf
from .support import shard_attacks as sa
from .support.reserves_attacks import count_wallets_twice

ROOT = Path(__file__).parent.parent


def _rewrite_newest_attestation(copy: h.History) -> None:
    """The custodian re-signs the newest attestation and its manifest, but cannot fix the log."""
    from dataclasses import replace

    from porsegregate import _crypto
    from porsegregate.protocol.serialization import canonical, manifest_bytes, parse_manifest

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
    from porsegregate.publish.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
    from porsegregate.publish.pipeline import PublishOptions, publish

    liabilities = copy.workspace / "data" / f"liabilities-{epoch}-{seed}.csv"
    write_synthetic_liabilities(liabilities, h.CLIENTS + 1, seed)
    options = PublishOptions(
        epoch,
        snapshot_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        site=copy.site,
        codes_path=copy.root / "client-codes.csv",
        liabilities_path=liabilities,
        allow_shortfall=True,
    )
    publish(copy.config, DEMO_PASSPHRASE, options)
    assert h.run_witnesses(copy, copy.root / "witness-states") == []
    account = f"C{h.CLIENTS + 1:08d}"
    codes = read_client_codes(copy.root / "client-codes.csv")
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


def write_cosignature(
    site: Path,
    key: _crypto.Ed25519PrivateKey,
    *,
    fields: dict[str, Any] | None = None,
    statement: bytes = b"Handwritten Audit LLP co-signs this attestation.\n",
    document: bytes | None = None,
    pem: bytes | None = None,
) -> str:
    """An auditor's folder written by hand (not by cosign), any part replaceable, and listed.

    `fields` change members of auditor.json (None drops one); `document` replaces its bytes,
    signed all the same. Returns the key's fingerprint.
    """
    attestation = (site / "attestation.json").read_bytes()
    fingerprint = _crypto.fingerprint(key.public_key())
    doc: dict[str, Any] = {
        "format": COSIGN_FORMAT,
        "name": "Handwritten Audit LLP",
        "fingerprint": fingerprint,
        "epoch": json.loads(attestation)["epoch"]["id"],
        "attestation_sha256": _crypto.sha256_hex(attestation),
        "statement_sha256": _crypto.sha256_hex(statement),
        "time": "2026-12-01T12:00:00Z",
        **(fields or {}),
    }
    data = (
        document
        if document is not None
        else canonical({k: v for k, v in doc.items() if v is not None})
    )
    folder = site / "auditors" / fingerprint
    folder.mkdir(parents=True)
    (folder / "auditor.pub.pem").write_bytes(pem or _crypto.public_key_pem(key.public_key()))
    (folder / "attestation.json.sig").write_bytes(key.sign(attestation))
    (folder / "statement.txt").write_bytes(statement)
    (folder / "auditor.json").write_bytes(data)
    (folder / "auditor.json.sig").write_bytes(key.sign(data))
    index = site / "auditors" / "index.json"
    listed = json.loads(index.read_bytes()) if index.exists() else []
    index.unlink(missing_ok=True)
    index.write_bytes(canonical(sorted({*listed, fingerprint})))
    return fingerprint


# Names with quotes and invisible characters, which must come back exactly as signed.
TRICKY_NAMES = ('O\'Brien "Q" Audit\u00a0LLP', "Zoë's Audit\u200d 🙂 \U000e0001Co")


def auditor_scenarios(tmp: Path, clean: h.History) -> dict[str, Any]:
    """Co-signed copies of the newest epoch (and one older), and Python's verdicts on each."""
    sites: dict[str, Path] = {}

    def copy(name: str) -> Path:
        sites[name] = clean.copy(tmp / name).site
        return sites[name]

    def key() -> _crypto.Ed25519PrivateKey:
        return _crypto.generate_signing_key()

    # One auditor, with porsegregate cosign (root and the epoch's home): verifies.
    cosign(copy("cosigned"), key(), "Example Audit LLP")
    # An attestation.json.sig over another epoch's attestation (tests/support/history.py).
    forged = clean.copy(tmp / "forged")
    h.forge_auditor_signature(forged)
    sites["forged"] = forged.site
    forged_older = clean.copy(tmp / "forged_older")
    h.forge_auditor_signature(forged_older, clean.epochs[0])
    sites["forged_older"] = forged_older.site
    # auditor.json's name changed after signing (as tests/test_cosign.py does).
    k = key()
    cosign(copy("renamed"), k, "Honest Audit LLP")
    document = sites["renamed"] / "auditors" / _crypto.fingerprint(k.public_key()) / "auditor.json"
    doc = json.loads(document.read_bytes())
    doc["name"] = "Big Four LLP"
    document.write_bytes(canonical(doc))
    # Two auditors whose names have quotes and invisible characters.
    for name in TRICKY_NAMES:
        cosign(sites.get("two") or copy("two"), key(), name)
    k = key()
    cosign(copy("statement_changed"), k, "Changed LLP")
    folder = sites["statement_changed"] / "auditors" / _crypto.fingerprint(k.public_key())
    (folder / "statement.txt").write_text("We audited nothing.\n")
    k = key()
    cosign(copy("missing_files"), k, "Gone LLP")
    folder = sites["missing_files"] / "auditors" / _crypto.fingerprint(k.public_key())
    (folder / "attestation.json.sig").unlink()
    (folder / "statement.txt").unlink()
    k = key()
    cosign(copy("wrong_key"), k, "Wrong Key LLP")
    folder = sites["wrong_key"] / "auditors" / _crypto.fingerprint(k.public_key())
    (folder / "auditor.pub.pem").write_bytes(_crypto.public_key_pem(key().public_key()))
    # The index: malformed in each way parse_index names.
    fp = _crypto.fingerprint(key().public_key())
    for name, data in (
        ("index_not_list", b'["not a fingerprint"]'),
        ("index_not_canonical", f'[ "{fp}" ]'.encode()),
        ("index_not_json", b""),
        ("index_nested", b"[[]]"),
    ):
        (copy(name) / "auditors").mkdir(exist_ok=True)
        (sites[name] / "auditors" / "index.json").write_bytes(data)
    cosign(copy("index_unsorted"), key(), "First LLP")
    cosign(sites["index_unsorted"], key(), "Second LLP")
    index = sites["index_unsorted"] / "auditors" / "index.json"
    listed = json.loads(index.read_bytes())
    index.unlink()
    index.write_bytes(canonical(listed[::-1]))
    # Written by hand: auditor.json, statement.txt or the key malformed, each signed all the same.
    arabic_year = "\u0662\u0660\u0662\u0666-12-01T12:00:00Z"  # not ASCII digits: refused
    surrogate = canonical({"a": "Lone X"}).replace(b"Lone X", b"Lone \\ud800")
    pem = _crypto.public_key_pem
    handwritten: dict[str, dict[str, Any]] = {
        "handwritten": {},
        "bad_date": {"fields": {"time": "2026-02-29T12:00:00Z"}},
        "leap_second": {"fields": {"time": "2026-12-31T23:59:60Z"}},
        "arabic_year": {"fields": {"time": arabic_year}},
        "arabic_month": {"fields": {"time": "2026-1\u0662-01T12:00:00Z"}},
        "bidi_name": {"fields": {"name": "Audit\u202eLLP"}},
        "padded_name": {"fields": {"name": "Audit LLP\u3000"}},
        "statement_not_utf8": {"statement": b"We audited \xe2\x82 it.\n"},
        "statement_control": {"statement": b"escape \x1b[31m red\n"},
        "statement_blank": {"statement": b" \r\n\t\x0b\x0c"},
        "extra_member": {"fields": {"extra": "x"}},
        "missing_member": {"fields": {"time": None}},
        "other_epoch": {"fields": {"epoch": "1999-01"}},
        "other_format": {"fields": {"format": "porsegregate-cosign/2"}},
        "upper_hex": {"fields": {"statement_sha256": "A" * 64}},
        "not_canonical_doc": {"document": json.dumps({"name": "Spaced LLP"}).encode()},
        "lone_surrogate": {"document": surrogate},
        "number_member": {"fields": {"time": 1}},
        # Python reads the first PEM block wherever it is, with any line ends.
        "lenient_pem": {"pem": lambda k: b"Auditor key\r\n" + pem(k).replace(b"\n", b"\r\n")},
        "pem_mismatched_labels": {
            "pem": lambda k: pem(k).replace(b"END PUBLIC KEY", b"END PUBLIC  KEY"),
        },
    }
    # Format 2: the chains the auditor read again must be the attestation's own blocks.
    signed = json.loads((clean.site / "attestation.json").read_bytes())["reserves"]["chains"]
    reread = [
        {"block_hash": c["block"]["hash"], "block_height": c["block"]["height"], "chain": c["id"]}
        for c in signed[:2]
    ]
    two = COSIGN_FORMAT_REREAD
    handwritten |= {
        "reread": {"fields": {"format": two, "reread": reread}},
        "reread_other_block": {
            "fields": {"format": two, "reread": [{**reread[0], "block_height": 1}]}
        },
        "reread_unlisted_chain": {
            "fields": {"format": two, "reread": [{**reread[0], "chain": "nochain"}]}
        },
        "reread_twice": {"fields": {"format": two, "reread": [reread[0], reread[0]]}},
        "reread_empty": {"fields": {"format": two, "reread": []}},
        "reread_in_format_1": {"fields": {"reread": reread}},
    }
    for name, spec in handwritten.items():
        k = key()
        make_pem = spec.pop("pem", None)
        write_cosignature(copy(name), k, pem=make_pem(k.public_key()) if make_pem else None, **spec)

    account, code = clean.account, clean.code
    python = {name: _site(verify_site(str(site), account, code)) for name, site in sites.items()}
    histories = {
        name: _history(verify_history(str(sites[name]), account, code))
        for name in ("cosigned", "forged_older")
    }
    verdicts = {
        name: (r["verified"], r["failed"] and r["failed"]["id"]) for name, r in python.items()
    }
    passing = {"cosigned", "two", "handwritten", "lenient_pem", "reread"}
    assert verdicts == {
        name: (True, None) if name in passing else (False, "auditor-signature")
        for name in sites
        if name != "forged_older"
    } | {"forged_older": (True, None)}, verdicts
    assert "signs other bytes" in python["forged"]["failed"]["detail"]
    assert "changed after signing" in python["renamed"]["failed"]["detail"]
    assert python["renamed"]["auditors"][0]["name"] is None
    assert sorted(a["name"] for a in python["two"]["auditors"]) == sorted(TRICKY_NAMES)
    assert histories["cosigned"]["verified"]
    assert [e["failed"] for e in histories["forged_older"]["epochs"]] == [
        "auditor-signature",
        None,
        None,
    ]
    return {
        "sites": {name: str(site) for name, site in sites.items()},
        "python": python,
        "histories": histories,
        "units": cosign_units(),
    }


def cosign_units() -> dict[str, Any]:
    """Python's verdicts on names, statements and PEM keys, for node to match one by one."""
    import base64

    names = [
        *TRICKY_NAMES,
        "",
        " padded",
        "padded\u00a0",
        "\x1cfile separator",
        "x" * 200,
        "x" * 201,
        "🙂" * 200,
        "🙂" * 201,
        "line\nbreak",
        "para\u2029graph",
        "evil\u202etxt.exe",
        "isolate\u2066",
        "bell\x07",
        "del\x7f",
        "c1\x85",
        "soft\u00adhyphen",
        "private\ue000use",
        "unassigned\u0378",
        "back\\slash 'and' \"both\"",
        "tab\tin",
    ]
    statements = [
        b"",
        b" \t\r\n\x0b\x0c",
        "\u00a0".encode(),
        b"x" * (64 * 1024),
        b"x" * (64 * 1024 + 1),
        b"ok \xff",
        b"ok \xe2\x82",
        b"ok \xe2\x28\xa1",
        b"x\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
        b"\xe0\x80\x80",
        b"\xf0\x9f\x98",
        "\ufeffBOM and 🙂\r\n\tindented\n".encode(),
        b"escape \x1b[31m",
        b"nul \x00",
        b"del \x7f",
        "c1 \x85".encode(),
        "bidi \u2067".encode(),
        "line \u2028 separator".encode(),
    ]
    key = _crypto.generate_signing_key().public_key()
    pem = _crypto.public_key_pem(key)
    body = pem.split(b"\n")[1]
    pems = [
        pem,
        pem.replace(b"\n", b"\r\n"),
        pem.rstrip(b"\n"),
        b"leading text\n" + pem + b"trailing text\n",
        b"\xff\xfe" + pem,
        pem + pem,
        b"-----BEGIN PUBLIC KEY-----" + body + b"-----END PUBLIC KEY-----",
        b"-----BEGIN PUBLIC KEY-----\n"
        + body[:9]
        + b" \x0c\x0b"
        + body[9:]
        + b"\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\n"
        + body[:9]
        + "\u3000".encode()
        + body[9:]
        + b"\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\nComment: x\n\n" + body + b"\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\nno colon\n\n" + body + b"\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n\n-----END PUBLIC KEY-----\n",
        pem.replace(b"=", b""),
        pem.replace(b"END PUBLIC KEY", b"END PUBLIC  KEY"),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + pem,
        pem.replace(b"PUBLIC KEY", b"RSA PUBLIC KEY"),
        b"not a key\n",
    ]

    def fingerprint(data: bytes) -> str | None:
        try:
            return _crypto.fingerprint(_crypto.load_public_key_pem(data))
        except (TypeError, ValueError):
            return None

    return {
        "names": [[n, name_problem(n)] for n in names],
        "statements": [[base64.b64encode(d).decode(), statement_problem(d)] for d in statements],
        "pems": [[base64.b64encode(d).decode(), fingerprint(d)] for d in pems],
    }


def proof_file_scenarios(
    sites: dict[str, h.History], before: datetime, after: datetime
) -> dict[str, Any]:
    """Proof files saved from the history and attacked (tests/support/proof_files.py), with
    the state each is checked against and Python's verdict, for node's verifyProof to match."""
    clean, first, second = sites["clean"], sites["fork_a"], sites["fork_b_colluded"]
    saved = pf.save(clean.site, clean.account, clean.code)
    saved_first = pf.save(first.site, first.account, first.code)
    saved_second = pf.save(second.site, second.account, second.code)
    seen_first = ClientState()
    assert verify_site(str(first.site), first.account, first.code, state=seen_first).verified
    [(log, remembered)] = seen_first.logs.items()
    state = {
        "log": log,
        "size": remembered.size,
        "root": remembered.root.hex(),
        "time": remembered.time,
        "epoch": remembered.epoch,
    }
    other_bytes = pf.checkpoint_signed_over_other_bytes(saved, clean.site)
    other_inclusion = pf.inclusion_of_another_attestation(saved_first, saved_second)
    cases: list[tuple[str, h.History, pf.ProofDoc, bool, datetime]] = [
        ("saved", clean, saved, False, before),
        ("stale", clean, saved, False, after),
        ("version_1", clean, pf.version_1(saved), False, before),
        ("checkpoint_other_bytes", clean, other_bytes, False, before),
        ("inclusion_other", first, other_inclusion, False, before),
        # The state remembers branch A (fork_a): a proof saved from branch B, from A, and an
        # older proof (3 entries) than the log remembered (4).
        ("fork", second, saved_second, True, before),
        ("same_log", first, saved_first, True, before),
        ("older_than_remembered", clean, saved, True, before),
    ]
    out: dict[str, Any] = {}
    for name, who, doc, remembers, now in cases:
        seen = ClientState()
        seen.logs = dict(seen_first.logs)
        report = verify_proof(
            proof_file_from_dict(doc),
            who.account,
            who.code,
            state=seen if remembers else None,
            now=now,
        )
        out[name] = {
            "account": who.account,
            "code": who.code,
            "proof": doc,
            "state": state if remembers else None,
            "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "python": _site(report),
        }
    verdicts = {name: (c["python"]["verified"], c["python"]["failed"]) for name, c in out.items()}
    assert verdicts["saved"][0] and verdicts["stale"][0] and verdicts["version_1"][0]
    assert out["stale"]["python"]["overdue"] and out["version_1"]["python"]["log"] is None
    failed = {name: v[1]["id"] for name, v in verdicts.items() if v[1]}
    assert failed == {
        "checkpoint_other_bytes": "log-checkpoint",
        "inclusion_other": "log-inclusion",
        "fork": "log-consistency",
    }, failed
    assert out["older_than_remembered"]["python"]["warnings"][0].startswith("log not compared")
    return out


SHARD_ATTACKS = ("shard_path_altered", "shard_of_another_index", "shard_missing")


def history_scenarios(tmp: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The history folders (and attacked copies) node verifies, and Python's verdicts on each."""
    clean = h.build_history(tmp / "clean")
    sites: dict[str, h.History] = {"clean": clean}
    for name, attack in (
        ("rewritten", h.rewrite_past_attestation),
        ("removed", h.remove_epoch),
        ("newest_rewritten", _rewrite_newest_attestation),
        ("manifest_epoch", h.manifest_of_another_epoch),
        ("witness_stripped", h.strip_witness_cosignature),
        ("witness_unnamed", h.witness_cosignature_by_unnamed_key),
        ("witness_other_checkpoint", h.witness_cosignature_of_another_checkpoint),
    ):
        sites[name] = clean.copy(tmp / name)
        attack(sites[name])
    sites["fork_a"], sites["fork_b"] = h.fork(clean, tmp / "fork")
    sites["fork_b_colluded"] = h.colluding_copy(sites["fork_b"], tmp / "fork_b_colluded")
    sites["newer"] = clean.copy(tmp / "newer")
    h.publish_next(sites["newer"], "next", seed=5)
    sites["counted_twice"] = clean.copy(tmp / "counted_twice")
    count_wallets_twice(sites["counted_twice"])
    sites["newcomer"] = clean.copy(tmp / "newcomer")
    newcomer = publish_with_newcomer(sites["newcomer"], "next", seed=7)
    # Legal segregation (issue 14): the operating company holds a client wallet, a published
    # document's bytes differ from its signed hash, and the trustee changes between epochs.
    sites["legal_opco"] = clean.copy(tmp / "legal_opco")
    la.operating_company_holds_client_wallet(sites["legal_opco"])
    sites["legal_swapped"] = clean.copy(tmp / "legal_swapped")
    la.swap_published_document(sites["legal_swapped"])
    sites["legal_trustee"] = la.change_trustee(clean.copy(tmp / "legal_trustee"))
    # porsegregate/2 shards the signed shards root does not cover (issue 11).
    for name in SHARD_ATTACKS:
        sites[name] = clean.copy(tmp / name)
        getattr(sa, name)(sites[name])

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
        "manifest_epoch": [site("manifest_epoch")],
        "counted_twice": [site("counted_twice")],
        # Witnesses (T16): below the threshold, and fork B (which they refused) seen fresh.
        "witnesses": {
            name: site(name)
            for name in (
                "witness_stripped",
                "witness_unnamed",
                "witness_other_checkpoint",
                "fork_b",
            )
        },
        "legal": {
            "opco": site("legal_opco"),
            "swapped": site("legal_swapped"),
            "trustee": site("legal_trustee"),
            "trustee_history": _history(
                verify_history(str(sites["legal_trustee"].site), clean.account, clean.code)
            ),
        },
        "shards": {name: site(name) for name in SHARD_ATTACKS},
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
    assert python["manifest_epoch"][0]["failed"]["id"] == "manifest-attestation"
    assert python["counted_twice"][0]["failed"]["id"] == "reserves-distinct"
    assert all(r["failed"]["id"] == "log-witnesses" for r in python["witnesses"].values())
    assert python["legal"]["opco"]["failed"]["id"] == "legal-holders"
    assert python["legal"]["swapped"]["failed"]["id"] == "legal-documents"
    assert python["legal"]["trustee"]["verified"] and python["legal"]["trustee"]["warnings"]
    assert [r["overdue"] for r in python["overdue"]["reports"]] == [False, True]
    assert all(r["failed"]["id"] == "shard-hash" for r in python["shards"].values())
    doc = {
        "proof_files": proof_file_scenarios(sites, before, after),
        "sites": {name: str(s.site) for name, s in sites.items()},
        "account": clean.account,
        "code": clean.code,
        "newcomer": {"account": newcomer[0], "code": newcomer[1]},
        "epochs": clean.epochs,
        "python": python,
        "auditors": auditor_scenarios(tmp / "auditors", clean),
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
    # The clients' codes as [[account id, code], ...], read the one way (read_client_codes).
    codes_path = tmp / "client-codes.json"
    codes_path.write_text(json.dumps(list(published["codes"].items()), ensure_ascii=False))
    env = {
        **os.environ,
        "PORSEGREGATE_TEST_SITE": str(published["site"]),
        "PORSEGREGATE_TEST_CODES": str(codes_path),
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
    failing = proc.stdout.split("\nnot ok ", 1)[1][:6000] if "\nnot ok " in proc.stdout else ""
    assert proc.returncode == 0, failing + proc.stdout[-3000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
    assert "# skipped 0" in proc.stdout, "the site and history tests must run"
