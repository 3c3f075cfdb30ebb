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


def run_witnesses(h: History, states: Path) -> list[Exception]:
    """The demo's two witnesses run `porsegregate witness` on the site, each with its state
    file in `states`; what each refused (a VerificationError naming the fork), in order."""
    from porsegregate.errors import VerificationError
    from porsegregate.publish.demo import demo_witness_keys
    from porsegregate.witness import witness

    refused: list[Exception] = []
    for number, (name, key) in enumerate(demo_witness_keys(h.workspace), 1):
        try:
            witness(h.site, key, name, states / f"witness-{number}.json")
        except VerificationError as exc:
            refused.append(exc)
    return refused


def publish_next(
    h: History, epoch: str, seed: int, witness_states: Path | None = None
) -> list[Exception]:
    """Publish one more epoch into this copy (no reserves: a stated shortfall); then the
    demo's witnesses co-sign it (their state files in `witness_states`, by default the
    copy's own). Returns what the witnesses refused."""
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
    return run_witnesses(h, witness_states or h.root / "witness-states")


def fork(h: History, tmp: Path) -> tuple[History, History]:
    """Two copies that each publish a different next epoch: two logs of the same size.

    A client (or auditor) who saw the first must not accept the second. The same two
    witnesses (one state file each) co-sign the first, and refuse the second: it is not an
    extension of what they co-signed, so the second has no witness co-signatures and a
    client with no memory of the first rejects it too (log-witnesses).
    """
    first, second = h.copy(tmp / "fork-a"), h.copy(tmp / "fork-b")
    states = tmp / "witness-states"
    assert publish_next(first, "next", seed=101, witness_states=states) == []
    refused = publish_next(second, "next", seed=202, witness_states=states)
    assert len(refused) == 2 and all("a fork" in str(e) for e in refused), refused
    return first, second


def colluding_copy(h: History, destination: Path) -> History:
    """A copy of `h` co-signed by witnesses that keep no memory (fresh state files), as
    colluding witnesses would co-sign a fork: only what a client remembers still shows it."""
    copy = h.copy(destination)
    assert run_witnesses(copy, destination / "colluding-witness-states") == []
    return copy


def _newest_cosignatures(h: History) -> list[Path]:
    size = len(json.loads((h.site / "log" / "entries.json").read_bytes())["entries"])
    return sorted((h.site / "log" / "witnesses" / str(size)).glob("*.note"))


def strip_witness_cosignature(h: History) -> None:
    """A host removes one of the two witnesses' co-signatures of the newest checkpoint (the
    threshold is two): nothing any manifest lists changes."""
    _newest_cosignatures(h)[0].unlink()


def witness_cosignature_by_unnamed_key(h: History) -> None:
    """One witness's co-signature replaced by one made with a key the attestation does not
    name, under the same witness name: a genuine cosignature/v1, of the right checkpoint."""
    from porsegregate.protocol.witness import cosignature_line, parse_note

    path = _newest_cosignatures(h)[0]
    note = (h.site / "log" / "checkpoint.note").read_bytes()
    name = parse_note(path.read_bytes()).signatures[-1][0]
    line = cosignature_line(_crypto.generate_signing_key(), name, parse_note(note).body, 1)
    path.unlink()
    path.write_bytes(note + line)


def witness_cosignature_of_another_checkpoint(h: History) -> None:
    """One witness's co-signature of the newest checkpoint replaced by its genuine
    co-signature of the checkpoint before (log/witnesses/<n-1>/)."""
    path = _newest_cosignatures(h)[0]
    older = path.parent.parent / str(int(path.parent.name) - 1) / path.name
    path.unlink()
    path.write_bytes(older.read_bytes())


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
