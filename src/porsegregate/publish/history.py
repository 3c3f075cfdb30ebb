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
from ..protocol import layout
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
from ..protocol.transparency import (
    EMPTY_ROOT,
    consistency_proof,
    final_entries,
    inclusion_path,
    leaf_hash,
    root_of,
)
from ..protocol.witness import checkpoint_body, checkpoint_note
from .keys import sign

LOG_DB = "transparency.sqlite"


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
        path = self.directory / relative.removeprefix(layout.LOG + "/")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{path}: missing from the workspace log ({exc.strerror}); restore the log "
                "folder from your backup"
            ) from exc

    def write(self, relative: str, data: bytes) -> None:
        atomic_write(self.directory / relative.removeprefix(layout.LOG + "/"), data)

    def checkpoints(self) -> list[tuple[Checkpoint, bytes, bytes]]:
        """Every checkpoint the workspace has signed: (parsed, bytes, signature), by size."""
        folder = self.directory / "checkpoints"
        out = []
        for path in sorted(folder.glob("*.json"), key=lambda p: int(p.stem)):
            data = path.read_bytes()
            out.append((parse_checkpoint(data), data, path.with_suffix(".json.sig").read_bytes()))
        return out


def site_checkpoint(site: Path) -> Checkpoint | None:
    path = site / layout.CHECKPOINT
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
            logged = layout.logged_attestation_name(size)
            data = (site / logged).read_bytes()
            log.append(_crypto.sha256(data))
            if log.root() != published.root:
                raise ConfigError(
                    f"{site}: the published log does not extend the workspace log; "
                    "refusing to continue (restore the workspace log from backup)"
                )
            checkpoint = layout.checkpoint_name(published.size)
            for name in (logged, layout.sig(logged), checkpoint, layout.sig(checkpoint)):
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
        logged = layout.logged_attestation_name(i)
        data = workspace.read(logged)
        if _crypto.sha256(data) != digest:
            raise ConfigError(
                f"{workspace.directory}: attestation {i} does not match its log entry"
            )
        files[logged] = data
        files[layout.sig(logged)] = workspace.read(layout.sig(logged))
        epochs.append(parse_attestation(data).epoch_id)
    files[layout.logged_attestation_name(index)] = att_bytes
    files[layout.sig(layout.logged_attestation_name(index))] = att_sig
    epochs.append(attestation.epoch_id)
    entries = [
        LogEntry(i, epochs[i], _crypto.sha256_hex(files[layout.logged_attestation_name(i)]))
        for i in range(len(leaves))
    ]
    files[layout.ENTRIES] = entries_bytes(entries)

    # Every checkpoint ever signed, and a consistency proof from each to the new one.
    for old, data, sig in workspace.checkpoints():
        if old.size >= checkpoint.size or root_of(leaves[: old.size]) != old.root:
            raise ConfigError(
                f"{workspace.directory}: checkpoint {old.size} does not match the log; "
                "not publishing"
            )
        files[layout.checkpoint_name(old.size)] = data
        files[layout.sig(layout.checkpoint_name(old.size))] = sig
        extension = ConsistencyProof(
            old.size, checkpoint.size, tuple(consistency_proof(old.size, leaves))
        )
        files[layout.consistency_name(old.size)] = consistency_bytes(extension)
    files[layout.checkpoint_name(checkpoint.size)] = cp_bytes
    files[layout.sig(layout.checkpoint_name(checkpoint.size))] = cp_sig
    files[layout.CHECKPOINT] = cp_bytes
    files[layout.sig(layout.CHECKPOINT)] = cp_sig
    # The same checkpoint as a C2SP signed note, for the witnesses to co-sign (section 13).
    files[layout.CHECKPOINT_NOTE] = checkpoint_note(signing_key, checkpoint_body(checkpoint))

    # Inclusion of every entry in the new tree.
    for entry in entries:
        proof = InclusionProof(
            entry.index,
            checkpoint.size,
            entry.attestation_sha256,
            tuple(inclusion_path(entry.index, leaves)),
        )
        files[layout.inclusion_name(entry.index)] = inclusion_bytes(proof)
    return StagedLog(files, checkpoint, index, staged)


def commit_log(workspace: WorkspaceLog, staged: StagedLog) -> None:
    """After the site is swapped in: the staged log becomes the workspace's."""
    for name in (
        layout.logged_attestation_name(staged.index),
        layout.sig(layout.logged_attestation_name(staged.index)),
        layout.checkpoint_name(staged.checkpoint.size),
        layout.sig(layout.checkpoint_name(staged.checkpoint.size)),
    ):
        workspace.write(name, staged.files[name])
    os.replace(staged.db, workspace.db)


def history(staged: StagedLog) -> list[HistoryPoint]:
    """The final attestation of every epoch, in log order (a republished epoch counts once)."""
    points = []
    for entry in final_entries(parse_entries(staged.files[layout.ENTRIES])).values():
        data = staged.files[layout.logged_attestation_name(entry.index)]
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
    The witnesses' co-signatures of every earlier checkpoint (log/witnesses/<size>/)
    stay at the root, as the log's history.
    """
    if not site.is_dir():
        return
    old_epochs = site / layout.EPOCHS
    if old_epochs.is_dir():
        for folder in old_epochs.iterdir():
            if folder.is_dir() and not (replace and folder.name == new_epoch):
                _link_tree(folder, staging / layout.EPOCHS / folder.name)
    witnesses = site / layout.WITNESSES
    if witnesses.is_dir():
        _link_tree(witnesses, staging / layout.WITNESSES)
    auditors = site / layout.AUDITORS
    if current_epoch is not None and not replace and auditors.is_dir():
        _link_tree(auditors, staging / layout.EPOCHS / current_epoch / layout.AUDITORS)


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


class TransparencyLog:
    """The custodian's log: one entry (an attestation's SHA-256) per published attestation.

    Storage is pymerkle's SQLite backend: an append-only table (triggers refuse
    updates and deletes) whose roots are RFC 9162's Merkle Tree Hash, checked
    against transparency.py's own computation on every append and publish.
    """

    def __init__(self, path: Path) -> None:
        from pymerkle import SqliteTree

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._tree = SqliteTree(str(path))
        except Exception as exc:  # sqlite3 errors, or pymerkle's "not contiguous"
            raise ConfigError(f"{path}: not a porsegregate transparency log ({exc})") from exc

    def close(self) -> None:
        self._tree.close()

    def __enter__(self) -> TransparencyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return int(self._tree.get_size())

    def entries(self) -> list[bytes]:
        return [bytes(self._tree.get_entry(i)) for i in range(1, self.size + 1)]

    def leaves(self) -> list[bytes]:
        return [bytes(self._tree.get_leaf(i)) for i in range(1, self.size + 1)]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else bytes(self._tree.get_root(size))

    def append(self, entry: bytes) -> int:
        """Append an entry; its 0-based index. The stored leaf must be RFC 9162's."""
        if len(entry) != 32:
            raise ValueError("log entries are 32-byte SHA-256 digests")
        index = int(self._tree.append_entry(entry)) - 1
        if bytes(self._tree.get_leaf(index + 1)) != leaf_hash(entry):
            raise ConfigError(f"{self.path}: the log does not hash leaves as RFC 9162")
        return index
