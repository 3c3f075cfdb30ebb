"""Publishing an epoch: read, build, sign, write a whole site, then swap it in atomically.

Nothing is written into the output folder until every file of the new site
exists in a staging folder beside it; the swap is two renames, and any
failure or interrupt before it removes the staging folder and leaves the
previous site as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .. import __version__, _crypto
from .._fs import atomic_write, folder_lock, swap_dir
from ..errors import ConfigError, FormatError, InputError, ReservesError
from ..protocol import layout
from ..protocol.bundle import encode_shard
from ..protocol.codes import client_secret
from ..protocol.control import EpochContext
from ..protocol.hashing import PROTOCOL_VERSION, check_epoch_id, epoch_keys
from ..protocol.models import Attestation, Manifest
from ..protocol.serialization import (
    attestation_bytes,
    liabilities_sha256,
    manifest_bytes,
    parse_attestation,
)
from .assess import DEFAULT_MAX_BLOCK_SKEW, Assessment, assess
from .config import Config
from .epoch import EpochProofs, build_epoch
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
from .keys import load_master_secret, load_signing_key, sign
from .liabilities import Liabilities, read_liabilities
from .readers import make_readers
from .reserves import ReservesDeclaration, read_reserves
from .site import render_site

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class PublishResult:
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
    """One publish at a time into a folder; leftovers of a killed run are then safe to remove.

    The lock is on the site's parent folder itself, so nothing extra is created,
    and the kernel releases it when a killed process dies.
    """
    busy = f"another porsegregate publish is writing into {site.parent}; wait for it to finish"
    with folder_lock(site.parent, busy):
        for leftover in (
            *site.parent.glob(f".{site.name}.staging-*"),
            *site.parent.glob(f".{site.name}.old-*"),
        ):
            shutil.rmtree(leftover, ignore_errors=True)
        yield


@dataclass
class PreparedEpoch:
    """An epoch's trees built and keys unlocked: what challenge, check and publish share."""

    config: Config
    epoch: str
    signing_key: _crypto.Ed25519PrivateKey
    master: bytes
    liabilities: Liabilities
    proofs: EpochProofs

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
) -> PreparedEpoch:
    try:
        check_epoch_id(epoch)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    signing_key = load_signing_key(config.signing_key, passphrase)
    master = load_master_secret(config.master_secret, passphrase)
    liabilities = read_liabilities(
        liabilities_path or config.liabilities,
        config.assets,
        (lambda n: progress("rows", n)) if progress else None,
    )
    proofs = build_epoch(liabilities, master, epoch, progress)
    return PreparedEpoch(config, epoch, signing_key, master, liabilities, proofs)


def load_declaration(config: Config, reserves_path: Path | None) -> ReservesDeclaration | None:
    """The reserves declaration; None only when the configured default file does not exist."""
    if reserves_path is None and not config.reserves.exists():
        return None
    return read_reserves(reserves_path or config.reserves, config.assets)


def assess_reserves(
    prepared: PreparedEpoch,
    declaration: ReservesDeclaration | None,
    rpc_urls: dict[str, str] | None = None,
    snapshot_time: str | None = None,
    max_block_skew: int = DEFAULT_MAX_BLOCK_SKEW,
) -> Assessment:
    if declaration is None:
        declaration = ReservesDeclaration(prepared.config.reserves, (), ())
    readers = make_readers(rpc_urls or {}, declaration.chains)
    return assess(
        declaration,
        prepared.context,
        prepared.liabilities,
        prepared.nonce_of,
        readers,
        snapshot_time,
        max_block_skew,
    )


def publish(
    config: Config,
    passphrase: bytes,
    epoch: str,
    snapshot_time: str | None = None,
    site: Path | None = None,
    codes_path: Path | None = None,
    liabilities_path: Path | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    reserves_path: Path | None = None,
    rpc_urls: dict[str, str] | None = None,
    allow_shortfall: bool = False,
    max_block_skew: int = DEFAULT_MAX_BLOCK_SKEW,
    prepared: PreparedEpoch | None = None,
    next_due: str | None = None,
) -> PublishResult:
    """Publish one epoch; `prepared` reuses trees already built for this config and epoch."""
    try:
        check_epoch_id(epoch)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    snapshot = parse_snapshot_time(snapshot_time)
    site = site or config.site
    codes_path = codes_path or config.codes
    if (
        site.resolve() == codes_path.resolve().parent
        or site.resolve() in codes_path.resolve().parents
    ):
        raise ConfigError(f"the client codes file {codes_path} must not be inside the site {site}")
    previous, current = _previous(site, epoch, replace)
    declaration = load_declaration(config, reserves_path)
    if prepared is None or prepared.epoch != epoch or prepared.config.path != config.path:
        prepared = prepare_epoch(config, passphrase, epoch, liabilities_path, progress)
    assessment = assess_reserves(prepared, declaration, rpc_urls, snapshot, max_block_skew)
    if assessment.errors:
        raise ReservesError(
            f"{len(assessment.errors)} reserves check(s) failed; nothing was published",
            assessment.errors,
        )
    if assessment.shortfalls and not allow_shortfall:
        hint = (
            [f"no reserves file: {config.reserves} does not exist"] if declaration is None else []
        )
        raise ReservesError(
            "client assets are not fully covered by segregated reserves; nothing was published "
            "(publish with --allow-shortfall to state the shortfall on every page)",
            hint + assessment.shortfalls,
        )
    attestation = Attestation(
        format=PROTOCOL_VERSION,
        generator=f"porsegregate {__version__}",
        custodian=config.custodian,
        segregation_arrangement=config.segregation_arrangement,
        epoch_id=epoch,
        snapshot_time=snapshot,
        assets=prepared.proofs.assets,
        previous_attestation_sha256=previous,
        reserves=assessment.reserves,
        next_due=_next_due(snapshot, next_due, config.interval_days),
    )
    att_bytes = attestation_bytes(attestation)
    signing_key = prepared.signing_key
    fingerprint = _crypto.fingerprint(signing_key.public_key())

    site.parent.mkdir(parents=True, exist_ok=True)
    workspace_log = WorkspaceLog(config.log)
    with _exclusive(site):
        reconcile(workspace_log, site)
        return _write_site(
            site,
            codes_path,
            prepared.proofs,
            attestation,
            att_bytes,
            signing_key,
            fingerprint,
            progress,
            workspace_log,
            current,
            replace,
        )


def _write_site(
    site: Path,
    codes_path: Path,
    proofs: EpochProofs,
    attestation: Attestation,
    att_bytes: bytes,
    signing_key: _crypto.Ed25519PrivateKey,
    fingerprint: str,
    progress: Progress | None,
    workspace_log: WorkspaceLog,
    current_epoch: str | None,
    replace: bool,
) -> PublishResult:
    epoch = attestation.epoch_id
    att_hash = _crypto.sha256_hex(att_bytes)
    public = signing_key.public_key()
    staging = Path(tempfile.mkdtemp(dir=site.parent, prefix=f".{site.name}.staging-"))
    staged_log: StagedLog | None = None
    try:
        files: dict[str, str] = {}
        written = 0

        def put(relative: str, data: bytes) -> None:
            nonlocal written
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            files[relative] = _crypto.sha256_hex(data)
            written += len(data)

        att_sig = sign(signing_key, att_bytes)
        put(layout.ATTESTATION, att_bytes)
        put(layout.sig(layout.ATTESTATION), att_sig)
        put(layout.PUBLIC_KEY, _crypto.public_key_pem(public))
        staged_log = stage_log(
            workspace_log,
            attestation,
            att_bytes,
            att_sig,
            signing_key,
            layout.now(),
        )
        for relative, data in staged_log.files.items():
            put(relative, data)
        carry_forward(site, staging, current_epoch, replace, epoch)
        shard_count = 0
        for prefix, entries in proofs.shards():
            put(layout.shard_name(prefix), encode_shard(entries))
            shard_count += 1
            if progress is not None:
                progress("shards", 1)
        shared = dict(files)  # everything but the pages: the same bytes at the root and in epochs/
        points = history(staged_log)

        def pages(root_prefix: str) -> dict[str, bytes]:
            return render_site(
                attestation,
                att_bytes,
                fingerprint,
                proofs.shard_prefix_chars,
                shard_count,
                points,
                root_prefix,
            )

        for relative, data in pages("").items():
            put(relative, data)

        def sign_manifest(folder: Path, listed: dict[str, str]) -> None:
            nonlocal written
            manifest = manifest_bytes(
                Manifest(PROTOCOL_VERSION, epoch, att_hash, proofs.shard_prefix_chars, listed)
            )
            for relative, data in (
                (layout.MANIFEST, manifest),
                (layout.sig(layout.MANIFEST), sign(signing_key, manifest)),
            ):
                (folder / relative).write_bytes(data)
                written += len(data)

        sign_manifest(staging, files)
        # The epoch's permanent home, epochs/<id>/: the same files (hard links), pages whose
        # links work from there, and its own manifest. It stays when the next epoch comes.
        home = staging / layout.EPOCHS / epoch
        home_files = dict(shared)
        for relative in shared:
            link_file(staging / relative, home / relative)
        for relative, data in pages("../../").items():
            (home / relative).parent.mkdir(parents=True, exist_ok=True)
            (home / relative).write_bytes(data)
            home_files[relative] = _crypto.sha256_hex(data)
        sign_manifest(home, home_files)
        os.chmod(staging, 0o755)  # noqa: S103 - a public website
        codes = io.StringIO()
        writer = csv.writer(codes, lineterminator="\n")
        writer.writerow(["account_id", "code"])
        writer.writerows(zip(proofs.accounts, proofs.codes, strict=True))
        atomic_write(codes_path, codes.getvalue().encode(), mode=0o600)
        os.sync()  # every file of the new site is on disk before it replaces the old one
        swap_dir(staging, site)
        commit_log(workspace_log, staged_log)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if staged_log is not None:
            staged_log.db.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(
        site=site,
        codes=codes_path,
        attestation=attestation,
        attestation_sha256=att_hash,
        fingerprint=fingerprint,
        clients=len(proofs.accounts),
        files=len(files) + 2,
        bytes_written=written,
        log_size=staged_log.checkpoint.size,
        log_root=staged_log.checkpoint.root.hex(),
    )
