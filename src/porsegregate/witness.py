"""A witness's co-signature of the log's checkpoint (docs/protocol.md section 13, T16).

A witness is a party the custodian names in its attestation (a C2SP verifier
key) whose co-signature verifiers require on the log's checkpoint. Before it
co-signs, the witness checks the site (the custodian's signatures and every
file the manifest lists) and that the new checkpoint extends the last one it
co-signed of this log (the site's RFC 9162 consistency proof), so a custodian
can only show two histories if the witnesses collude. What it co-signed is
remembered in its own state file, per log.

The co-signature is a C2SP cosignature/v1 line appended to the site's
`log/checkpoint.note`, written to `log/witnesses/<size>/<fingerprint>.note` of
the site's root and of the newest epoch's home. No manifest lists it (it is
added after publishing); the next publish keeps it at the root.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _crypto
from ._fs import atomic_write, folder_lock, read_bytes
from .cosign import load_cosigner_key, verify_epoch_site
from .errors import ConfigError, InputError, VerificationError
from .protocol import layout
from .protocol.models import Checkpoint, Witness
from .protocol.serialization import json_loads, parse_consistency, parse_inclusion
from .protocol.witness import cosignature_line, name_problem, origin, vkey
from .verify import checks
from .verify.fetch import SiteReader

STATE_FORMAT = "porsegregate-witness-state/1"
_ORIGIN = re.compile(r"porsegregate/[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
CHECK = "witness-consistency"


@dataclass(frozen=True)
class Signed:
    """The last checkpoint a witness co-signed of one log."""

    size: int
    root: bytes
    timestamp: int


class WitnessState:
    """The witness's memory: per log (origin), the last checkpoint it co-signed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.logs: dict[str, Signed] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = read_bytes(self.path, "witness state file")
        try:
            doc: Any = json_loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{self.path}: not a witness state file ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise InputError(f"{self.path}: not a {STATE_FORMAT} file")
        logs = doc.get("logs")
        if not isinstance(logs, dict):
            raise InputError(f"{self.path}: 'logs' must be an object")
        for log, item in logs.items():
            ok = (
                _ORIGIN.fullmatch(log)
                and isinstance(item, dict)
                and all(
                    isinstance(item.get(k), int) and not isinstance(item.get(k), bool)
                    for k in ("size", "timestamp")
                )
                and item["size"] > 0
                and item["timestamp"] >= 0
                and isinstance(item.get("root"), str)
                and _HEX64.fullmatch(item["root"])
            )
            if not ok:
                raise InputError(f"{self.path}: the entry for log {log!r} is malformed")
            self.logs[log] = Signed(item["size"], bytes.fromhex(item["root"]), item["timestamp"])

    def save(self) -> None:
        doc = {
            "format": STATE_FORMAT,
            "logs": {
                log: {"size": s.size, "root": s.root.hex(), "timestamp": s.timestamp}
                for log, s in sorted(self.logs.items())
            },
        }
        atomic_write(self.path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


@dataclass(frozen=True)
class WitnessResult:
    site: Path
    epoch: str
    origin: str
    size: int
    root: str
    name: str
    fingerprint: str
    timestamp: int
    previous_size: int | None  # the checkpoint this witness co-signed before, if any
    files: tuple[Path, ...]
    replaced: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "site": str(self.site),
            "epoch": self.epoch,
            "origin": self.origin,
            "size": self.size,
            "root": self.root,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "timestamp": self.timestamp,
            "previous_size": self.previous_size,
            "files": [str(f) for f in self.files],
            "replaced": self.replaced,
        }


def load_witness_key(path: Path, passphrase: Any) -> _crypto.Ed25519PrivateKey:
    """A witness's PEM Ed25519 private key, plain or encrypted (`passphrase` is only asked if
    needed)."""
    return load_cosigner_key(path, passphrase, "witness")


def witness_vkey(key: _crypto.Ed25519PrivateKey, name: str) -> str:
    """The verifier key a custodian puts in its config's [witnesses] keys."""
    problem = name_problem(name)
    if problem is not None:
        raise InputError(problem)
    return vkey(Witness(name, _crypto.raw_public_key(key.public_key())))


def _consistent(reader: SiteReader, checkpoint: Checkpoint, seen: Signed) -> None:
    """The new checkpoint extends the last one co-signed; VerificationError names the fork."""
    if checkpoint.size < seen.size:
        raise VerificationError(
            CHECK,
            f"the site's log has {checkpoint.size} entries but this witness co-signed "
            f"{seen.size} before: a rollback (or a fork); refusing to co-sign",
        )
    if checkpoint.size == seen.size:
        if checkpoint.root != seen.root:
            raise VerificationError(
                CHECK,
                f"the site's log of size {checkpoint.size} has root {checkpoint.root.hex()}, but "
                f"this witness co-signed root {seen.root.hex()} of that size: a fork; refusing "
                "to co-sign",
            )
        return
    relative = layout.consistency_name(seen.size)
    data = reader.read(relative)
    if data is None:
        raise VerificationError(
            CHECK,
            f"{relative} is missing: nothing proves the log of size {checkpoint.size} extends "
            f"the one of size {seen.size} this witness co-signed; refusing to co-sign",
        )
    proof = checks.parse_signed(data, parse_consistency, CHECK, relative)
    if not checks.extends(seen.size, seen.root, checkpoint, proof):
        raise VerificationError(
            CHECK,
            f"the log of size {checkpoint.size} (root {checkpoint.root.hex()}) is not an "
            f"extension of the one of size {seen.size} (root {seen.root.hex()}) this witness "
            "co-signed: a fork; refusing to co-sign",
        )


def witness(
    site: Path,
    key: _crypto.Ed25519PrivateKey,
    name: str,
    state_path: Path,
    *,
    force: bool = False,
    now: datetime | None = None,
) -> WitnessResult:
    """Co-sign the site's newest checkpoint as witness `name`, after checking the site and
    that the checkpoint extends the last one this witness co-signed of the log.

    Writes the co-signature (atomically) to the root and the newest epoch's home, then
    the state file (atomically). Never replaces an existing co-signature unless `force`.
    """
    problem = name_problem(name)
    if problem is not None:
        raise InputError(problem)
    if not site.is_dir():
        raise InputError(f"{site}: no such site folder")
    if layout.is_epoch_home(str(site.resolve())):
        raise InputError(
            f"{site} is an earlier epoch's home: a witness co-signs the site's newest checkpoint, "
            "at the site's root"
        )
    raw = _crypto.raw_public_key(key.public_key())
    fingerprint = _crypto.sha256_hex(raw)
    state = WitnessState(state_path)
    busy = f"a porsegregate publish or cosign is writing into {site.resolve().parent}; wait"
    with folder_lock(site.resolve().parent, busy):
        signed = verify_epoch_site(site)
        attestation = signed.attestation
        reader = SiteReader(str(site))
        custodian = checks.custodian_key(reader.need(layout.PUBLIC_KEY))
        checkpoint = checks.check_checkpoint(
            custodian,
            signed.fingerprint,
            reader.need(layout.CHECKPOINT),
            reader.need(layout.sig(layout.CHECKPOINT)),
        )
        relative = layout.inclusion_name(checkpoint.size - 1)
        inclusion = checks.parse_signed(
            reader.need(relative), parse_inclusion, "log-inclusion", relative
        )
        checks.check_newest_entry(signed.attestation_bytes, checkpoint, inclusion, checks.ignore)
        note = reader.read(layout.CHECKPOINT_NOTE)
        body = checks.check_checkpoint_note(custodian, checkpoint, note)
        assert note is not None
        named = next((w for w in attestation.witnesses.keys if w.key == raw), None)
        mine = vkey(Witness(name, raw))
        if named is None:
            raise ConfigError(
                f"{site}: the attestation of epoch {attestation.epoch_id} does not name this "
                f"witness key ({mine}), so verifiers would not count its co-signature; ask the "
                "custodian to add it to [witnesses] keys"
            )
        if named.name != name:
            raise ConfigError(
                f"{site}: the attestation names this key as witness {named.name!r}, not {name!r}"
            )
        log = origin(checkpoint.log)
        seen = state.logs.get(log)
        if seen is not None:
            _consistent(reader, checkpoint, seen)
        folders = [site]
        home = site / layout.epoch_home(attestation.epoch_id)
        if (home / layout.ATTESTATION).is_file() and (
            home / layout.ATTESTATION
        ).read_bytes() == signed.attestation_bytes:
            folders.append(home)
        relative = layout.witness_cosignature_name(checkpoint.size, fingerprint)
        replaced = any((f / relative).exists() for f in folders)
        if replaced and not force:
            raise ConfigError(
                f"{site / relative} already holds this witness's co-signature of checkpoint "
                f"{checkpoint.size}; refusing to overwrite it (use --force to replace it)"
            )
        timestamp = int((now or datetime.now(UTC)).timestamp())
        data = note + cosignature_line(key, name, body, timestamp)
        result = checks.witness_cosignature(named, body, data)
        if not result.ok:  # what every verifier will check, before anything is written
            raise VerificationError("log-witnesses", result.detail)
        for folder in folders:
            atomic_write(folder / relative, data)
        state.logs[log] = Signed(checkpoint.size, checkpoint.root, timestamp)
        state.save()
    return WitnessResult(
        site=site,
        epoch=attestation.epoch_id,
        origin=log,
        size=checkpoint.size,
        root=checkpoint.root.hex(),
        name=name,
        fingerprint=fingerprint,
        timestamp=timestamp,
        previous_size=None if seen is None else seen.size,
        files=tuple(f / relative for f in folders),
        replaced=replaced,
    )
