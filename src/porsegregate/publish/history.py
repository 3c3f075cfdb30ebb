"""History across epochs: the workspace's log, the site's `log/` folder, earlier epochs kept.

The workspace holds the authoritative log (`<log>/transparency.sqlite`) and a
copy of every logged attestation and every signed checkpoint. Each publish
appends the new attestation to a *staged copy* of the log, writes the whole
`log/` folder of the new site from it, swaps the site in, and only then
replaces the workspace log with the staged copy. A run killed between the two
leaves a site one entry ahead of the workspace; the next run notices and
catches up from the site (`reconcile`), so the log can never fork.

Every epoch also has a permanent home, `epochs/<id>/`, written when it is
published (hard links to the root's files, pages whose links work from there,
its own manifest); later publishes hard-link those homes forward, so earlier
epochs stay browsable exactly as published (a republished epoch replaces its
own home; its attestation stays in the log).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import _crypto
from .._fs import atomic_write
from ..errors import ConfigError, FormatError
from ..protocol.models import Attestation, Checkpoint, ConsistencyProof, InclusionProof, LogEntry
from ..protocol.serialization import (
    checkpoint_bytes,
    consistency_bytes,
    entries_bytes,
    inclusion_bytes,
    parse_attestation,
    parse_checkpoint,
    parse_entries,
)
from ..protocol.transparency import TransparencyLog, consistency_proof, inclusion_path, root_of
from .keys import sign

LOG_DB = "transparency.sqlite"
EPOCHS = "epochs"
AUDITORS = "auditors"
SITE_LOG = "log"


def checkpoint_name(size: int) -> str:
    return f"{SITE_LOG}/checkpoints/{size}.json"


def attestation_name(index: int) -> str:
    return f"{SITE_LOG}/attestations/{index}.json"


@dataclass(frozen=True)
class HistoryPoint:
    """One published epoch (its final attestation), for the overview's history."""

    index: int
    epoch: str
    attestation: Attestation
    attestation_sha256: str
    latest: bool


class WorkspaceLog:
    """The custodian's copy of the log: the SQLite tree plus every attestation and checkpoint."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db = directory / LOG_DB

    def open(self, path: Path | None = None) -> TransparencyLog:
        return TransparencyLog(path or self.db)

    def read(self, relative: str) -> bytes:
        path = self.directory / relative.removeprefix(SITE_LOG + "/")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{path}: missing from the workspace log ({exc.strerror}); restore the log "
                "folder from your backup"
            ) from exc

    def write(self, relative: str, data: bytes) -> None:
        atomic_write(self.directory / relative.removeprefix(SITE_LOG + "/"), data)

    def checkpoints(self) -> list[tuple[Checkpoint, bytes, bytes]]:
        """Every checkpoint the workspace has signed: (parsed, bytes, signature), by size."""
        folder = self.directory / "checkpoints"
        out = []
        for path in sorted(folder.glob("*.json"), key=lambda p: int(p.stem)):
            data = path.read_bytes()
            out.append((parse_checkpoint(data), data, path.with_suffix(".json.sig").read_bytes()))
        return out


def site_checkpoint(site: Path) -> Checkpoint | None:
    path = site / SITE_LOG / "checkpoint.json"
    if not path.exists():
        return None
    try:
        return parse_checkpoint(path.read_bytes())
    except FormatError as exc:
        raise ConfigError(f"{path}: the published checkpoint is unreadable: {exc}") from exc


def reconcile(workspace: WorkspaceLog, site: Path) -> None:
    """Make sure the workspace log is exactly what the site last published (never fork)."""
    published = site_checkpoint(site)
    with workspace.open() as log:
        size = log.size
        if published is None:
            if size:
                raise ConfigError(
                    f"the workspace log has {size} entries but {site} shows none: publish into "
                    "the site this workspace published (or restore it from backup); a new site "
                    "would hide every earlier epoch"
                )
            return
        if published.size == size + 1:
            # The last run swapped the site in but died before committing the workspace log.
            data = (site / attestation_name(size)).read_bytes()
            log.append(_crypto.sha256(data))
            if log.root() != published.root:
                raise ConfigError(
                    f"{site}: the published log does not extend the workspace log; "
                    "refusing to continue (restore the workspace log from backup)"
                )
            workspace.write(attestation_name(size), data)
            workspace.write(
                attestation_name(size) + ".sig",
                (site / (attestation_name(size) + ".sig")).read_bytes(),
            )
            for name in (checkpoint_name(published.size), checkpoint_name(published.size) + ".sig"):
                workspace.write(name, (site / name).read_bytes())
            return
        if published.size != size or published.root != log.root():
            raise ConfigError(
                f"{site} shows a log of {published.size} entries (root {published.root.hex()}), "
                f"the workspace log has {size} (root {log.root().hex()}): they must be the same; "
                "restore the one that is behind from backup rather than publish a fork"
            )


@dataclass(frozen=True)
class StagedLog:
    files: dict[str, bytes]
    checkpoint: Checkpoint
    index: int
    db: Path


def stage_log(
    workspace: WorkspaceLog,
    attestation: Attestation,
    att_bytes: bytes,
    att_sig: bytes,
    signing_key: _crypto.Ed25519PrivateKey,
    time: str,
) -> StagedLog:
    """The new site's `log/` folder, from a staged copy of the workspace log with one entry more."""
    workspace.directory.mkdir(parents=True, exist_ok=True)
    staged = workspace.directory / f".{LOG_DB}.staged"
    staged.unlink(missing_ok=True)
    if workspace.db.exists():
        shutil.copyfile(workspace.db, staged)
    files: dict[str, bytes] = {}
    with workspace.open(staged) as log:
        entries_data = log.entries()
        index = log.append(_crypto.sha256(att_bytes))
        leaves = log.leaves()
        root = log.root()
        if root != root_of(leaves):
            raise ConfigError(f"{staged}: pymerkle's root is not RFC 9162's; not publishing")
    fingerprint = _crypto.fingerprint(signing_key.public_key())
    checkpoint = Checkpoint(fingerprint, len(leaves), root, time, attestation.epoch_id)
    cp_bytes = checkpoint_bytes(checkpoint)
    cp_sig = sign(signing_key, cp_bytes)

    # Every logged attestation, and the epoch of each entry.
    epochs: list[str] = []
    for i, digest in enumerate(entries_data):
        data = workspace.read(attestation_name(i))
        if _crypto.sha256(data) != digest:
            raise ConfigError(
                f"{workspace.directory}: attestation {i} does not match its log entry"
            )
        files[attestation_name(i)] = data
        files[attestation_name(i) + ".sig"] = workspace.read(attestation_name(i) + ".sig")
        epochs.append(parse_attestation(data).epoch_id)
    files[attestation_name(index)] = att_bytes
    files[attestation_name(index) + ".sig"] = att_sig
    epochs.append(attestation.epoch_id)
    entries = [
        LogEntry(i, epochs[i], _crypto.sha256_hex(files[attestation_name(i)]))
        for i in range(len(leaves))
    ]
    files[f"{SITE_LOG}/entries.json"] = entries_bytes(entries)

    # Every checkpoint ever signed, and a consistency proof from each to the new one.
    for old, data, sig in workspace.checkpoints():
        if old.size >= checkpoint.size or root_of(leaves[: old.size]) != old.root:
            raise ConfigError(
                f"{workspace.directory}: checkpoint {old.size} does not match the log; "
                "not publishing"
            )
        files[checkpoint_name(old.size)] = data
        files[checkpoint_name(old.size) + ".sig"] = sig
        extension = ConsistencyProof(
            old.size, checkpoint.size, tuple(consistency_proof(old.size, leaves))
        )
        files[f"{SITE_LOG}/consistency/{old.size}.json"] = consistency_bytes(extension)
    files[checkpoint_name(checkpoint.size)] = cp_bytes
    files[checkpoint_name(checkpoint.size) + ".sig"] = cp_sig
    files[f"{SITE_LOG}/checkpoint.json"] = cp_bytes
    files[f"{SITE_LOG}/checkpoint.json.sig"] = cp_sig

    # Inclusion of every entry in the new tree.
    for entry in entries:
        proof = InclusionProof(
            entry.index,
            checkpoint.size,
            entry.attestation_sha256,
            tuple(inclusion_path(entry.index, leaves)),
        )
        files[f"{SITE_LOG}/inclusion/{entry.index}.json"] = inclusion_bytes(proof)
    return StagedLog(files, checkpoint, index, staged)


def commit_log(workspace: WorkspaceLog, staged: StagedLog) -> None:
    """After the site is swapped in: the staged log becomes the workspace's."""
    for name in (
        attestation_name(staged.index),
        attestation_name(staged.index) + ".sig",
        checkpoint_name(staged.checkpoint.size),
        checkpoint_name(staged.checkpoint.size) + ".sig",
    ):
        workspace.write(name, staged.files[name])
    os.replace(staged.db, workspace.db)


def history(staged: StagedLog) -> list[HistoryPoint]:
    """The final attestation of every epoch, in log order (a republished epoch counts once)."""
    entries = parse_entries(staged.files[f"{SITE_LOG}/entries.json"])
    last: dict[str, LogEntry] = {}
    for entry in entries:
        last.pop(entry.epoch, None)
        last[entry.epoch] = entry
    points = []
    for entry in last.values():
        data = staged.files[attestation_name(entry.index)]
        points.append(
            HistoryPoint(
                entry.index,
                entry.epoch,
                parse_attestation(data),
                entry.attestation_sha256,
                entry.index == staged.index,
            )
        )
    return points


def carry_forward(
    site: Path, staging: Path, current_epoch: str | None, replace: bool, new_epoch: str
) -> None:
    """Hard-link every earlier epoch's home (epochs/<id>/) into the staging site.

    A republished epoch's old home is dropped (its attestation stays in the log).
    Co-signatures made on the root since the last publish move to their epoch's home.
    """
    if not site.is_dir():
        return
    old_epochs = site / EPOCHS
    if old_epochs.is_dir():
        for folder in old_epochs.iterdir():
            if folder.is_dir() and not (replace and folder.name == new_epoch):
                _link_tree(folder, staging / EPOCHS / folder.name)
    auditors = site / AUDITORS
    if current_epoch is not None and not replace and auditors.is_dir():
        _link_tree(auditors, staging / EPOCHS / current_epoch / AUDITORS)


def link_file(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    _link(source, destination)


def _link(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _link_tree(source: Path, destination: Path) -> None:
    for root, _dirs, files in os.walk(source):
        relative = Path(root).relative_to(source)
        (destination / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if not (destination / relative / name).exists():
                _link(Path(root) / name, destination / relative / name)
