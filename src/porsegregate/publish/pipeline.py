"""Publishing an epoch: read, build, sign, write a whole site, then swap it in atomically.

Nothing is written into the output folder until every file of the new site
exists in a staging folder beside it, on disk; the swap (`_fs.swap_dir`) is an
atomic exchange of the two folders' names, or where the file system cannot,
a journal then two renames, so the site's name never stops naming a complete
site that a later run can find. Any failure or interrupt before the swap
removes the staging folder and leaves the previous site as it was; a run
killed during it is finished by the next one (`_fs.recover_swap`, under the
lock, before the site is read).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import _crypto
from .._fs import atomic_write_pieces, folder_lock, recover_swap, swap_dir
from .._version import __version__
from ..errors import ConfigError, FormatError, InputError, ReservesError
from ..progress import Progress, step
from ..protocol import layout
from ..protocol.bundle import (
    encode_shard,
    shard_bits,
    shard_tree,
)
from ..protocol.codes import client_secret
from ..protocol.control import EpochContext
from ..protocol.cosignature import index_bytes
from ..protocol.hashing import FORMAT_V1, FORMAT_V2, PROTOCOL_VERSION, check_epoch_id, epoch_keys
from ..protocol.legal import holder_problem
from ..protocol.models import Attestation, Manifest
from ..protocol.serialization import (
    attestation_bytes,
    liabilities_sha256,
    manifest_bytes,
    parse_attestation,
    reserves_to_dict,
)
from .assess import DEFAULT_MAX_BLOCK_SKEW, Assessment, EpochChallenges, assess, challenges
from .client_codes import write_client_codes_bytes
from .config import Config, EngineChoice
from .dask_engine import DaskEpoch, build_epoch_dask
from .engine import fork_map, ranges, worker_count
from .engine import shared_state as engine_shared
from .epoch import EpochProofs, build_epoch, fill_shard_header, write_shard_file
from .history import (
    StagedLog,
    WorkspaceLog,
    carry_forward,
    commit_log,
    history,
    link_file,
    reconcile,
    stage_log,
)
from .i18n import DEFAULT_LANGUAGE
from .keys import load_master_secret, load_signing_key, sign
from .liabilities import Liabilities, read_liabilities
from .readers import make_readers
from .reserves import ReservesDeclaration, read_reserves
from .site import render_site


@dataclass(frozen=True)
class PublishOptions:
    """What to publish and where: one epoch's inputs beyond the workspace config.

    A path left None is the config's. The epoch id is checked here, once, so an
    options object never names an epoch that could not be a folder of the site.
    """

    epoch: str
    snapshot_time: str | None = None  # ISO 8601 with a zone; None: now
    site: Path | None = None
    codes_path: Path | None = None
    liabilities_path: Path | None = None
    reserves_path: Path | None = None  # None: the config's, if that file exists
    rpc_urls: Mapping[str, str] = field(default_factory=dict)  # chain id -> node URL
    replace: bool = False  # republish the epoch the site shows now
    allow_shortfall: bool = False  # publish uncovered liabilities, saying so on every page
    max_block_skew: int = DEFAULT_MAX_BLOCK_SKEW  # seconds a block may be from the snapshot
    next_due: str | None = None  # None: the snapshot time plus the config's interval
    # The format to write: porsegregate/2. porsegregate/1 only reproduces the first format's
    # sites (a history that spans both, in tests); no command offers it.
    fmt: str = PROTOCOL_VERSION
    # The engine that builds the epoch: None is the config's ([engine]); both publish the
    # same bytes (issue 12).
    engine: EngineChoice | None = None

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)


@dataclass(frozen=True)
class PublishResult:
    """What one publish wrote: the site, the private codes, the signed attestation, the log."""

    site: Path
    codes: Path
    attestation: Attestation
    attestation_sha256: str
    fingerprint: str
    clients: int
    files: int
    bytes_written: int
    log_size: int = 0
    log_root: str = ""
    # On disk after the swap (each hard-linked file once): the whole site, and the new
    # epoch's permanent home epochs/<id>/, which stays online: the site's growth per epoch.
    site_bytes: int = 0
    epoch_bytes: int = 0
    warnings: tuple[str, ...] = ()  # what the reserves check warned about (not errors)
    entries: int = 0  # what the proof shards hold, dummies included

    @property
    def epoch(self) -> str:
        return self.attestation.epoch_id

    def to_json(self) -> dict[str, Any]:
        """The `publish --json` summary."""
        reserves = self.attestation.reserves
        return {
            "site": str(self.site),
            "codes": str(self.codes),
            "epoch": self.epoch,
            "clients": self.clients,
            "entries": self.entries,
            "files": self.files,
            "bytes": self.bytes_written,
            "site_bytes": self.site_bytes,
            "epoch_bytes": self.epoch_bytes,
            "warnings": list(self.warnings),
            "attestation_sha256": self.attestation_sha256,
            "key_fingerprint": self.fingerprint,
            "assets": [
                {
                    "code": a.code,
                    "total": str(a.total),
                    "padded_height": a.padded_height,
                    "parts": a.parts or 1,
                }
                for a in self.attestation.assets
            ],
            "log": {"size": self.log_size, "root": self.log_root},
            "next_due": self.attestation.next_due,
            "coverage": reserves_to_dict(reserves)["coverage"],
            "shortfall": reserves.shortfall,
        }


def _check_epoch(epoch: str) -> None:
    """An epoch id names a folder of the site: refuse a bad one before any work is done."""
    try:
        check_epoch_id(epoch)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def parse_snapshot_time(text: str | None) -> str:
    if text is None:
        return layout.now()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"snapshot time {text!r} is not an ISO 8601 date and time") from exc
    if when.tzinfo is None:
        raise InputError(f"snapshot time {text!r} needs a time zone, e.g. 2026-11-30T23:59:59Z")
    return layout.format_time(when)


def _next_due(snapshot: str, next_due: str | None, interval_days: int) -> str:
    """When the next attestation is due: given, or the snapshot time plus the interval."""
    if next_due is None:
        return layout.format_time(layout.parse_time(snapshot) + timedelta(days=interval_days))
    due = parse_snapshot_time(next_due)
    if due <= snapshot:
        raise InputError(f"--next-due {next_due} must be after the snapshot time {snapshot}")
    return due


def _previous(site: Path, epoch: str, replace: bool) -> tuple[str | None, str | None]:
    """(the hash to chain to, the epoch the site shows now): the site's current attestation
    is chained to, unless it is this epoch (republished: chain to what it chained to)."""
    if not site.exists():
        return None, None
    if not site.is_dir() or (any(site.iterdir()) and not (site / layout.MANIFEST).exists()):
        raise InputError(
            f"{site} exists and is not a porsegregate site; refusing to replace it (choose --out)"
        )
    current = site / layout.ATTESTATION
    if not current.exists():
        return None, None
    data = current.read_bytes()
    try:
        previous = parse_attestation(data)
    except FormatError as exc:
        raise InputError(f"{current}: the published attestation is unreadable: {exc}") from exc
    if previous.epoch_id == epoch:
        if not replace:
            raise InputError(
                f"epoch {epoch} is already published in {site}; use a new epoch id "
                "(or --replace to republish this one)"
            )
        return previous.previous_attestation_sha256, epoch
    return _crypto.sha256_hex(data), previous.epoch_id


@contextlib.contextmanager
def _exclusive(site: Path) -> Iterator[None]:
    """One publish at a time into a folder; a killed run's swap is finished first.

    The lock is on the site's parent folder itself, so nothing extra is created,
    and the kernel releases it when a killed process dies. Under it, before the
    site is read, `recover_swap` restores or promotes the site a killed swap left
    (never deleting its only complete copy) and removes the rest.
    """
    busy = f"another porsegregate publish is writing into {site.parent}; wait for it to finish"
    with folder_lock(site.parent, busy):
        recover_swap(site)
        yield


@dataclass
class PreparedEpoch:
    """An epoch's trees built and keys unlocked: what challenge, check and publish share."""

    config: Config
    epoch: str
    signing_key: _crypto.Ed25519PrivateKey
    master: bytes
    # The Dask engine holds only the rows the reserves checks ask for (the clients of
    # client-dedicated wallets); the whole ledger stays on its workers.
    liabilities: Liabilities
    proofs: EpochProofs | DaskEpoch

    @property
    def context(self) -> EpochContext:
        return EpochContext(
            custodian=self.config.custodian.name,
            fingerprint=_crypto.fingerprint(self.signing_key.public_key()),
            epoch=self.epoch,
            liabilities_sha256=liabilities_sha256(self.proofs.assets),
            assets=self.proofs.assets,
        )

    def nonce_of(self, account: str) -> bytes:
        return epoch_keys(client_secret(self.master, account), self.epoch).nonce


def prepare_epoch(
    config: Config,
    passphrase: bytes,
    epoch: str,
    liabilities_path: Path | None = None,
    progress: Progress | None = None,
    fmt: str = PROTOCOL_VERSION,
) -> PreparedEpoch:
    """Unlock the keys and build the epoch's trees (the slow part, shared by every command)."""
    _check_epoch(epoch)
    return _prepare(config.for_epoch(epoch), passphrase, epoch, liabilities_path, progress, fmt)


def _prepare(
    config: Config,
    passphrase: bytes,
    epoch: str,
    liabilities_path: Path | None,
    progress: Progress | None,
    fmt: str = PROTOCOL_VERSION,
    engine: EngineChoice | None = None,
    clients: Sequence[str] = (),
) -> PreparedEpoch:
    signing_key = load_signing_key(config.signing_key, passphrase)
    master = load_master_secret(config.master_secret, passphrase)
    source = liabilities_path or config.liabilities
    engine = engine or config.engine
    if engine.kind == "dask":
        if fmt != FORMAT_V2:
            raise ConfigError("the dask engine publishes porsegregate/2 only")
        built = build_epoch_dask(
            engine, source, config.assets, master, epoch, config.privacy, progress
        )
        try:
            rows = built.balances_of(clients)
        except BaseException:
            built.close()
            raise
        return PreparedEpoch(config, epoch, signing_key, master, rows, built)
    liabilities = read_liabilities(source, config.assets, progress)
    proofs = build_epoch(liabilities, master, epoch, progress, config.privacy, fmt)
    return PreparedEpoch(config, epoch, signing_key, master, liabilities, proofs)


def load_declaration(config: Config, reserves_path: Path | None) -> ReservesDeclaration | None:
    """The reserves declaration; None only when the configured default file does not exist."""
    if reserves_path is None and not config.reserves.exists():
        return None
    return read_reserves(reserves_path or config.reserves, config.assets)


def epoch_challenges(prepared: PreparedEpoch, declaration: ReservesDeclaration) -> EpochChallenges:
    """The message each declared wallet's key must sign for this epoch's liabilities."""
    context = prepared.context
    return EpochChallenges(
        epoch=prepared.epoch,
        liabilities_sha256=context.liabilities_sha256,
        wallets=tuple(challenges(declaration, context, prepared.nonce_of)),
    )


def assess_reserves(
    prepared: PreparedEpoch,
    declaration: ReservesDeclaration | None,
    rpc_urls: Mapping[str, str] | None = None,
    snapshot_time: str | None = None,
    max_block_skew: int = DEFAULT_MAX_BLOCK_SKEW,
) -> Assessment:
    if declaration is None:
        declaration = ReservesDeclaration(prepared.config.reserves, (), ())
    readers = make_readers(dict(rpc_urls or {}), declaration.chains)
    assessment = assess(
        declaration,
        prepared.context,
        prepared.liabilities,
        prepared.nonce_of,
        readers,
        snapshot_time,
        max_block_skew,
    )
    assessment.errors.extend(holder_problems(prepared.config, declaration))
    return assessment


def holder_problems(config: Config, declaration: ReservesDeclaration) -> list[str]:
    """With [[entities]] declared, each wallet's holder is one of them, and a client wallet's
    is never the operating company (check legal-holders, on the publisher's side)."""
    if config.legal is None:
        return []
    problems = []
    for w in declaration.wallets:
        problem = holder_problem(config.legal, w.category, w.holder)
        if problem and config.legal.entity(w.holder) is None:
            declared = ", ".join(e.name for e in config.legal.entities)
            problem += f" of {config.path} (declared: {declared})"
        if problem:
            problems.append(f"{w.where} ({w.chain} {w.address}, {w.category}): {problem}")
    return problems


def _document_bytes(config: Config) -> dict[str, bytes]:
    """The published documents, {published name: bytes}, read again: the file must still be
    the one whose SHA-256 the config loaded."""
    out = {}
    for document, path in config.document_files:
        if document.file is None:
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{config.path}: document {document.title!r}: cannot read {path}: {exc.strerror}"
            ) from exc
        if _crypto.sha256_hex(data) != document.sha256:
            raise ConfigError(
                f"{config.path}: document {document.title!r}: {path} changed while publishing"
            )
        out[document.file] = data
    return out


def publish(
    config: Config,
    passphrase: bytes,
    options: PublishOptions,
    *,
    prepared: PreparedEpoch | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    """Publish one epoch; `prepared` reuses trees already built for this config and epoch.

    Bad inputs, an epoch already published, failed reserves checks and an
    unallowed shortfall are refused before anything is written.
    """
    snapshot = parse_snapshot_time(options.snapshot_time)
    config = config.for_epoch(options.epoch)
    site = options.site or config.site
    codes_path = options.codes_path or config.codes
    _refuse_codes_inside(site, codes_path)
    _previous(site, options.epoch, options.replace)  # fail early; read again under the lock
    declaration = load_declaration(config, options.reserves_path)
    if (
        prepared is None
        or prepared.epoch != options.epoch
        or prepared.config.path != config.path
        or prepared.proofs.format != options.fmt
    ):
        prepared = _prepare(
            config,
            passphrase,
            options.epoch,
            options.liabilities_path,
            progress,
            options.fmt,
            options.engine,
            [] if declaration is None else [w.client for w in declaration.wallets if w.client],
        )
        owned = prepared
    else:
        owned = None
    try:
        return _publish_prepared(config, options, prepared, declaration, site, codes_path, snapshot,
                                 progress)  # fmt: skip
    finally:
        if owned is not None and isinstance(owned.proofs, DaskEpoch):
            owned.proofs.close()


def _publish_prepared(
    config: Config,
    options: PublishOptions,
    prepared: PreparedEpoch,
    declaration: ReservesDeclaration | None,
    site: Path,
    codes_path: Path,
    snapshot: str,
    progress: Progress | None,
) -> PublishResult:
    assessment = assess_reserves(
        prepared, declaration, options.rpc_urls, snapshot, options.max_block_skew
    )
    missing = config.reserves if declaration is None else None
    _refuse_unpublishable(assessment, options.allow_shortfall, missing)
    due = _next_due(snapshot, options.next_due, config.interval_days)
    site.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(site):
        # What the site shows now is read only here, after a killed swap is recovered and
        # while no other publish can change it.
        previous, current = _previous(site, options.epoch, options.replace)
        built = _build(config, options.epoch, snapshot, due, prepared, assessment, previous)
        destination = _Destination(
            site, codes_path, WorkspaceLog(config.log), current, options.replace
        )
        reconcile(destination.log, site)
        result = _write_site(built, destination, progress)
    return dataclasses.replace(
        result, warnings=(*assessment.warnings, *_privacy_warnings(config, prepared))
    )


def _privacy_warnings(config: Config, prepared: PreparedEpoch) -> list[str]:
    """A tree too large for `[privacy] height` raised every tree's height: say so, since the
    height now tells that some tree is that large (T17)."""
    wanted = config.privacy.height
    heights = {a.padded_height for a in prepared.proofs.assets if a.parts is not None}
    if wanted is None or not heights or max(heights) <= wanted:
        return []
    return [
        f"a tree has more than 2^{wanted} leaves ([privacy] height = {wanted}), so every tree "
        f"of this epoch has height {max(heights)}: the height now tells that some tree has "
        f"more than 2^{wanted} leaves (raise [privacy] height to keep it the same every epoch)"
    ]


def _build(
    config: Config,
    epoch: str,
    snapshot: str,
    next_due: str,
    prepared: PreparedEpoch,
    assessment: Assessment,
    previous: str | None,
) -> _BuiltEpoch:
    """The epoch's attestation, chained to `previous`, with what signs and publishes it."""
    attestation = Attestation(
        format=prepared.proofs.format,
        generator=f"porsegregate {__version__}",
        custodian=config.custodian,
        segregation_arrangement=config.segregation_arrangement,
        epoch_id=epoch,
        snapshot_time=snapshot,
        assets=prepared.proofs.assets,
        previous_attestation_sha256=previous,
        reserves=assessment.reserves,
        next_due=next_due,
        witnesses=config.witnesses,
        legal=config.legal,
    )
    return _BuiltEpoch(
        prepared.proofs,
        attestation,
        attestation_bytes(attestation),
        prepared.signing_key,
        config.language,
        _document_bytes(config),
    )


def _refuse_codes_inside(site: Path, codes_path: Path) -> None:
    """The private client codes must never be published with the site."""
    if (
        site.resolve() == codes_path.resolve().parent
        or site.resolve() in codes_path.resolve().parents
    ):
        raise ConfigError(f"the client codes file {codes_path} must not be inside the site {site}")


def _refuse_unpublishable(
    assessment: Assessment, allow_shortfall: bool, missing_reserves: Path | None
) -> None:
    """A failed reserves check is never published; a shortfall only when allowed."""
    if assessment.errors:
        raise ReservesError(
            f"{len(assessment.errors)} reserves check(s) failed; nothing was published",
            assessment.errors,
        )
    if assessment.shortfalls and not allow_shortfall:
        hint = []
        if missing_reserves is not None:
            hint.append(f"no reserves file: {missing_reserves} does not exist")
        raise ReservesError(
            "client assets are not fully covered by segregated reserves; nothing was published "
            "(publish with --allow-shortfall to state the shortfall on every page)",
            hint + assessment.shortfalls,
        )


@dataclass(frozen=True)
class _BuiltEpoch:
    """What publish built, ready to be signed and written: the trees and the attestation."""

    proofs: EpochProofs | DaskEpoch
    attestation: Attestation
    attestation_bytes: bytes
    signing_key: _crypto.Ed25519PrivateKey
    language: str = DEFAULT_LANGUAGE
    # The published documents of the arrangement: {documents/<sha256><ext>: bytes}.
    documents: dict[str, bytes] = field(default_factory=dict)

    @property
    def epoch(self) -> str:
        return self.attestation.epoch_id

    @cached_property
    def fingerprint(self) -> str:
        return _crypto.fingerprint(self.signing_key.public_key())

    @cached_property
    def attestation_sha256(self) -> str:
        return _crypto.sha256_hex(self.attestation_bytes)

    def manifest(self, files: dict[str, str], shards_root: bytes | None = None) -> bytes:
        v1 = self.attestation.format == FORMAT_V1
        return manifest_bytes(
            Manifest(
                self.attestation.format,
                self.epoch,
                self.attestation_sha256,
                self.proofs.shard_prefix_chars if v1 else 0,
                files,
                None if v1 else self.proofs.entries,
                # porsegregate/2 (issue 11): the shard bits and the root of the shard tree
                None if v1 else shard_bits(self.proofs.entries),
                shards_root,
            )
        )


@dataclass(frozen=True)
class _Destination:
    """Where an epoch goes: the site (and what it shows now), the private codes, the log."""

    site: Path
    codes: Path
    log: WorkspaceLog
    current_epoch: str | None  # the epoch the site shows now
    replace: bool


class _Staging:
    """The new site, written complete in a folder beside the old one before it replaces it."""

    def __init__(self, site: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(dir=site.parent, prefix=f".{site.name}.staging-"))
        self.files: dict[str, str] = {}  # what the root manifest lists: path -> sha256
        self.bytes_written = 0
        # porsegregate/2 (issue 11): the shard files, in no manifest, and their tree's root.
        self.unlisted: list[str] = []
        self.shards_root: bytes | None = None

    def put(self, relative: str, data: bytes) -> None:
        """A file of the site's root, listed in its manifest."""
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        self.files[relative] = _crypto.sha256_hex(data)
        self.bytes_written += len(data)

    def sign_manifest(self, built: _BuiltEpoch, folder: Path, listed: dict[str, str]) -> None:
        """`folder`'s manifest of `listed`, and its signature."""
        manifest = built.manifest(listed, self.shards_root)
        for relative, data in (
            (layout.MANIFEST, manifest),
            (layout.sig(layout.MANIFEST), sign(built.signing_key, manifest)),
        ):
            (folder / relative).write_bytes(data)
            self.bytes_written += len(data)


def _write_site(
    built: _BuiltEpoch, destination: _Destination, progress: Progress | None
) -> PublishResult:
    """Write the whole new site beside the old one, then swap it in and commit the log.

    On any failure or interrupt the staging folder and the staged log go; the
    previous site and the workspace log stay as they were.
    """
    site = destination.site
    staged_log: StagedLog | None = None
    staging: _Staging | None = None
    try:
        staging = _Staging(site)
        signature = _stage_attestation(staging, built)
        staged_log = stage_log(
            destination.log,
            built.attestation,
            built.attestation_bytes,
            signature,
            built.signing_key,
            layout.now(),
        )
        for relative, data in staged_log.files.items():
            staging.put(relative, data)
        carry_forward(
            site, staging.folder, destination.current_epoch, destination.replace, built.epoch
        )
        shard_count = _stage_shards(staging, built.proofs, progress)
        for relative, data in sorted(built.documents.items()):
            staging.put(relative, data)
        shared = dict(staging.files)  # all but the pages: the same bytes at the root and home
        points = history(staged_log)

        def pages(root_prefix: str) -> dict[str, bytes]:
            return render_site(
                built.attestation,
                built.attestation_bytes,
                built.fingerprint,
                built.proofs.shard_prefix_chars,
                shard_count,
                points,
                root_prefix,
                built.language,
                None if built.attestation.format == FORMAT_V1 else built.proofs.entries,
            )

        for relative, data in pages("").items():
            staging.put(relative, data)
        staging.sign_manifest(built, staging.folder, staging.files)
        _stage_epoch_home(staging, built, shared, pages("../../"))
        _stage_empty_auditor_index(staging.folder, built.epoch)
        os.chmod(staging.folder, 0o755)  # noqa: S103 - a public website
        proofs = built.proofs
        if isinstance(proofs, DaskEpoch):
            atomic_write_pieces(destination.codes, proofs.codes_pieces(), mode=0o600)
        else:
            write_client_codes_bytes(destination.codes, proofs.codes_file)
        os.sync()  # every file of the new site is on disk before it replaces the old one
        swap_dir(staging.folder, site)
        commit_log(destination.log, staged_log)
    except BaseException:
        # Every staging folder of this site, not only ours: an interrupt can land between
        # its creation and `staging` being set, and under the lock no other run has one.
        for leftover in site.parent.glob(f".{site.name}.staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if staged_log is not None:
            staged_log.db.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            if staging is not None and staging.folder.exists():
                shutil.rmtree(staging.folder, ignore_errors=True)
    site_bytes, epoch_bytes = tree_bytes(site, f"{layout.EPOCHS}/{built.epoch}")
    return PublishResult(
        site=site,
        codes=destination.codes,
        attestation=built.attestation,
        attestation_sha256=built.attestation_sha256,
        fingerprint=built.fingerprint,
        clients=built.proofs.clients,
        entries=built.proofs.entries,
        files=len(staging.files) + len(staging.unlisted) + 2,  # and the manifest and its signature
        bytes_written=staging.bytes_written,
        log_size=staged_log.checkpoint.size,
        log_root=staged_log.checkpoint.root.hex(),
        site_bytes=site_bytes,
        epoch_bytes=epoch_bytes,
    )


def tree_bytes(folder: Path, part: str) -> tuple[int, int]:
    """The bytes of every file under `folder`, and of those under its subfolder `part`, each
    a hard-linked file counted once: one walk of the site for both."""
    seen: set[tuple[int, int]] = set()
    seen_in_part: set[tuple[int, int]] = set()
    total = in_part = 0
    inside = str(folder / part)
    for root, _dirs, names in os.walk(folder):
        within = root == inside or root.startswith(inside + os.sep)
        for name in names:
            st = os.lstat(os.path.join(root, name))
            file = (st.st_dev, st.st_ino)
            if file not in seen:
                seen.add(file)
                total += st.st_size
            if within and file not in seen_in_part:
                seen_in_part.add(file)
                in_part += st.st_size
    return total, in_part


def _stage_attestation(staging: _Staging, built: _BuiltEpoch) -> bytes:
    """The attestation, its signature (returned, for the log too) and the public key."""
    signature = sign(built.signing_key, built.attestation_bytes)
    staging.put(layout.ATTESTATION, built.attestation_bytes)
    staging.put(layout.sig(layout.ATTESTATION), signature)
    staging.put(layout.PUBLIC_KEY, _crypto.public_key_pem(built.signing_key.public_key()))
    return signature


def _stage_shards(
    staging: _Staging, proofs: EpochProofs | DaskEpoch, progress: Progress | None
) -> int:
    """The clients' proof shards; returns how many. A porsegregate/2 epoch publishes every
    one of the 2^b shards, an empty one too, so no shard's absence says anything."""
    if isinstance(proofs, DaskEpoch):
        root, size = proofs.stage_shards(staging.folder, progress)
        bits = shard_bits(proofs.entries)
        staging.bytes_written += size
        staging.unlisted.extend(layout.shard_file(index, bits) for index in range(1 << bits))
        staging.shards_root = root
        return 1 << bits
    if proofs.format != FORMAT_V1:
        return _stage_shards_v2(staging, proofs, progress)
    count = 0
    q = proofs.shard_prefix_chars
    with step(progress, "writing proofs") as writing:
        for index, entries in proofs.shards():
            staging.put(layout.shard_name(f"{index:0{q}x}" if q else ""), encode_shard(entries))
            count += 1
            writing.advance(1)
    return count


def _stage_shards_v2(staging: _Staging, proofs: EpochProofs, progress: Progress | None) -> int:
    """porsegregate/2: each PSS2 file written (by the engine's workers) with room for its
    header, then every header (index and path to the shards root) filled in once every
    shard's leaf is known. The files are in no manifest: the root in the manifest covers
    them."""
    bits = shard_bits(proofs.entries)
    folder = staging.folder
    (folder / layout.PROOFS).mkdir(parents=True, exist_ok=True)
    epoch = proofs.epoch

    def write(index: int, entries: list[tuple[bytes, bytes]]) -> tuple[bytes, int]:
        return write_shard_file(folder, epoch, bits, index, entries)

    with step(progress, "writing proofs", 1 << bits) as writing:
        shards = proofs.write_shards(bits, write, writing.advance)
    root, paths = shard_tree([leaf for _, leaf, _ in shards])
    pieces = ranges(1 << bits, HEADER_CHUNK)
    fork_map(_fill_headers, pieces, worker_count(1 << bits), {"folder": folder,
             "bits": bits, "paths": paths})  # fmt: skip
    staging.bytes_written += sum(size for _, _, size in shards)
    staging.unlisted.extend(layout.shard_file(index, bits) for index in range(1 << bits))
    staging.shards_root = root
    return 1 << bits


HEADER_CHUNK = 4096


def _fill_headers(bounds: tuple[int, int]) -> None:
    """Write shards lo .. hi's headers over the room left for them."""
    shared = engine_shared()
    for index in range(*bounds):
        fill_shard_header(shared["folder"], shared["bits"], index, shared["paths"][index])


def _stage_empty_auditor_index(folder: Path, epoch: str) -> None:
    """An empty `auditors/index.json` (no auditor co-signed yet) at the root and in the new
    epoch's home, so that a verifier's request for it is answered, not a 404 (section 14).
    Unsigned and in no manifest, as every index; `cosign` replaces it."""
    for where in (folder, folder / layout.EPOCHS / epoch):
        index = where / layout.AUDITORS_INDEX
        if not index.exists():
            index.parent.mkdir(parents=True, exist_ok=True)
            index.write_bytes(index_bytes([]))


def _stage_epoch_home(
    staging: _Staging, built: _BuiltEpoch, shared: dict[str, str], pages: dict[str, bytes]
) -> None:
    """The epoch's permanent home, epochs/<id>/: the same files (hard links), pages whose
    links work from there, and its own manifest. It stays when the next epoch comes."""
    home = staging.folder / layout.EPOCHS / built.epoch
    listed = dict(shared)
    for relative in (*shared, *staging.unlisted):
        link_file(staging.folder / relative, home / relative)
    for relative, data in pages.items():
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_bytes(data)
        listed[relative] = _crypto.sha256_hex(data)
    staging.sign_manifest(built, home, listed)
