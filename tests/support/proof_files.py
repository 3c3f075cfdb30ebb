"""Proof files saved from a published history, and the attacks on them every verifier must catch.

A porsegregate-proof/2 file (docs/protocol.md section 10) carries the published log
files by their published names, so that offline verification runs the site's log
checks. Each attack edits a saved proof file the way a hostile host, or a custodian
who shows different clients different logs, would; the Python verifier's tests, the
Node tests (with Python's verdicts) and the browser's run them alike.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from porsegregate.protocol import layout
from porsegregate.protocol.serialization import proof_file_bytes
from porsegregate.verify.client import verify_site

ProofDoc = dict[str, Any]


def save(site: Path, account: str, code: str) -> ProofDoc:
    """What `verify --site ... --save-proof` writes for this client, as JSON."""
    report = verify_site(str(site), account, code)
    assert report.verified and report.proof is not None, report.to_json()["failed"]
    doc: ProofDoc = json.loads(proof_file_bytes(report.proof))
    return doc


def inclusion_name(doc: ProofDoc) -> str:
    """The name of the inclusion proof a proof file carries (log/inclusion/<n-1>.json)."""
    (name,) = (n for n in doc["log_files"] if layout.INCLUSION_FILE.fullmatch(n))
    return name


def log_file(doc: ProofDoc, name: str) -> bytes:
    return base64.b64decode(doc["log_files"][name])


def _with(doc: ProofDoc, name: str, data: bytes) -> ProofDoc:
    return {**doc, "log_files": {**doc["log_files"], name: base64.b64encode(data).decode()}}


def checkpoint_signed_over_other_bytes(doc: ProofDoc, site: Path) -> ProofDoc:
    """The checkpoint's signature is a genuine custodian signature, over another checkpoint
    (the site's previous one): check log-checkpoint."""
    checkpoint = json.loads(log_file(doc, layout.CHECKPOINT))
    older = site / layout.sig(layout.checkpoint_name(checkpoint["size"] - 1))
    return _with(doc, layout.sig(layout.CHECKPOINT), older.read_bytes())


def inclusion_of_another_attestation(doc: ProofDoc, other: ProofDoc) -> ProofDoc:
    """The inclusion proof of the same entry in another log (a fork): it proves another
    attestation under another root. Check log-inclusion."""
    name = inclusion_name(doc)
    assert inclusion_name(other) == name and log_file(other, name) != log_file(doc, name)
    return _with(doc, name, log_file(other, name))


def without(doc: ProofDoc, name: str) -> ProofDoc:
    """A proof file missing one of the log files it must carry: a malformed file."""
    return {**doc, "log_files": {n: v for n, v in doc["log_files"].items() if n != name}}


def version_1(doc: ProofDoc) -> ProofDoc:
    """The same proof as a porsegregate-proof/1 file, which carries no log."""
    old = {k: v for k, v in doc.items() if k != "log_files"}
    old["format"] = "porsegregate-proof/1"
    return old


def write(doc: ProofDoc, path: Path) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path
