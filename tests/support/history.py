"""A published history of three epochs, and the attacks on it that every verifier must catch.

Each attack edits a private copy of the site the way a dishonest custodian (who
holds the signing key) or a hostile host (who does not) would. Shared by the
Python verifier's tests, the browser's, and `porsegregate audit`'s.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from porsegregate import _crypto
from porsegregate.protocol.serialization import canonical, checkpoint_bytes, parse_checkpoint
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import Config
from porsegregate.publish.demo import DEMO_PASSPHRASE, run_demo
from porsegregate.publish.keys import load_signing_key

EPOCHS = 3
CLIENTS = 300


@dataclass(frozen=True)
class History:
    root: Path  # the demo's folder: workspace/, site/, client-codes.csv
    site: Path
    workspace: Path
    config: Config
    account: str
    code: str
    codes: dict[str, str]
    epochs: list[str]  # oldest first; the last is at the site's root

    def copy(self, destination: Path) -> History:
        """A private copy (site, workspace and codes) to attack or publish into."""
        shutil.copytree(self.root, destination, symlinks=True)
        from porsegregate.publish.config import load_config

        config = load_config(destination / "workspace" / "porsegregate.toml")
        return History(
            destination,
            destination / "site",
            destination / "workspace",
            config,
            self.account,
            self.code,
            self.codes,
            self.epochs,
        )

    def signing_key(self) -> _crypto.Ed25519PrivateKey:
        return load_signing_key(self.config.signing_key, DEMO_PASSPHRASE)


def build_history(root: Path) -> History:
    from porsegregate.publish.config import load_config

    result = run_demo(root, clients=CLIENTS, seed=11, epochs=EPOCHS)

    codes = read_client_codes(root / "client-codes.csv")
    entries = json.loads((root / "site" / "log" / "entries.json").read_text())["entries"]
    return History(
        root,
        root / "site",
        root / "workspace",
        load_config(root / "workspace" / "porsegregate.toml"),
        result.sample_account,
        result.sample_code,
        codes,
        [e["epoch"] for e in entries],
    )


def _resign(history: History, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.with_name(path.name + ".sig").write_bytes(history.signing_key().sign(data))


def rewrite_past_attestation(h: History) -> None:
    """The custodian rewrites an old epoch's attestation (a lower total) and re-signs it."""
    path = h.site / "epochs" / h.epochs[0] / "attestation.json"
    doc = json.loads(path.read_bytes())
    doc["generator"] = doc["generator"] + " (amended)"
    _resign(h, path, canonical(doc))


def fork_log(h: History) -> None:
    """The custodian shows a different log of the same size: a new root, validly signed."""
    path = h.site / "log" / "checkpoint.json"
    checkpoint = parse_checkpoint(path.read_bytes())
    forked = checkpoint_bytes(
        type(checkpoint)(
            checkpoint.log,
            checkpoint.size,
            _crypto.sha256(b"another history" + checkpoint.root),
            checkpoint.time,
            checkpoint.epoch,
        )
    )
    _resign(h, path, forked)


def manifest_of_another_epoch(h: History) -> None:
    """The custodian re-signs the newest manifest naming an earlier epoch: every hash it lists
    still matches, but it is not this attestation's manifest (manifest-attestation)."""
    path = h.site / "manifest.json"
    doc = json.loads(path.read_bytes())
    doc["epoch"] = h.epochs[0]
    _resign(h, path, canonical(doc))


def remove_epoch(h: History) -> None:
    """An earlier epoch (where a client was shown a higher balance) disappears from the site."""
    shutil.rmtree(h.site / "epochs" / h.epochs[1])


def change_file(h: History) -> None:
    """A host edits a published page without touching the manifest."""
    page = h.site / "epochs" / h.epochs[0] / "verify.html"
    page.write_bytes(page.read_bytes().replace(b"<h1>", b"<h1>Trust us. ", 1))


def add_unlisted_file(h: History) -> None:
    """A host adds a file no manifest lists (e.g. a lookalike verifier)."""
    (h.site / "assets" / "verify-fast.js").write_text("/* not the custodian's */\n")


def publish_next(h: History, epoch: str, seed: int) -> None:
    """Publish one more epoch into this copy (no reserves: a stated shortfall)."""
    from datetime import UTC, datetime

    from porsegregate.publish.demo import write_synthetic_liabilities
    from porsegregate.publish.pipeline import PublishOptions, publish

    liabilities = h.workspace / "data" / f"liabilities-{epoch}-{seed}.csv"
    write_synthetic_liabilities(liabilities, CLIENTS, seed)
    options = PublishOptions(
        epoch,
        snapshot_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        site=h.site,
        codes_path=h.root / "client-codes.csv",
        liabilities_path=liabilities,
        allow_shortfall=True,
    )
    publish(h.config, DEMO_PASSPHRASE, options)


def fork(h: History, tmp: Path) -> tuple[History, History]:
    """Two copies that each publish a different next epoch: two logs of the same size.

    A client (or auditor) who saw the first must not accept the second.
    """
    first, second = h.copy(tmp / "fork-a"), h.copy(tmp / "fork-b")
    publish_next(first, "next", seed=101)
    publish_next(second, "next", seed=202)
    return first, second


def forge_auditor_signature(
    h: History, epoch: str | None = None, name: str = "Forged Auditor LLP"
) -> str:
    """An auditor's co-signature over other bytes (another epoch's attestation), listed.

    Everything else in `auditors/<fingerprint>/` is genuine: the key, the statement, and an
    `auditor.json` signed by that key naming this epoch's attestation; only
    `attestation.json.sig` is over the attestation of the epoch before (or, for the first
    epoch, after). Written by hand, not by porsegregate's cosign, so that it is an
    independent reading of docs/protocol.md section 14. Returns the auditor's fingerprint.
    """
    epoch = epoch or h.epochs[-1]
    i = h.epochs.index(epoch)

    def folder(e: str) -> Path:
        return h.site if e == h.epochs[-1] else h.site / "epochs" / e

    site = folder(epoch)
    other = (folder(h.epochs[i - 1] if i else h.epochs[i + 1]) / "attestation.json").read_bytes()
    attestation = (site / "attestation.json").read_bytes()
    key = _crypto.generate_signing_key()
    fingerprint = _crypto.fingerprint(key.public_key())
    statement = f"{name} co-signs epoch {epoch}.\n".encode()
    document = canonical(
        {
            "format": "porsegregate-cosign/1",
            "name": name,
            "fingerprint": fingerprint,
            "epoch": epoch,
            "attestation_sha256": _crypto.sha256_hex(attestation),
            "statement_sha256": _crypto.sha256_hex(statement),
            "time": "2026-12-01T12:00:00Z",
        }
    )
    target = site / "auditors" / fingerprint
    target.mkdir(parents=True)
    (target / "auditor.pub.pem").write_bytes(_crypto.public_key_pem(key.public_key()))
    (target / "attestation.json.sig").write_bytes(key.sign(other))
    (target / "statement.txt").write_bytes(statement)
    (target / "auditor.json").write_bytes(document)
    (target / "auditor.json.sig").write_bytes(key.sign(document))
    index = site / "auditors" / "index.json"
    listed = json.loads(index.read_bytes()) if index.exists() else []
    index.unlink(missing_ok=True)  # never write through a hard link into another epoch
    index.write_bytes(canonical(sorted({*listed, fingerprint})))
    return fingerprint
