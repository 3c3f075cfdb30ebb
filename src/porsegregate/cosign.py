"""Writing an auditor's co-signature (docs/protocol.md section 14).

An auditor signs the exact bytes of an epoch's `attestation.json` with their
own Ed25519 key, and publishes the signature beside it in
`auditors/<fingerprint>/`, with their public key, a statement and a signed
`auditor.json` that binds their name and statement to the key. Nothing the
custodian signed changes: the root manifest leaves `auditors/**` out, so a
co-signature can be added to a site, or to an earlier epoch under
`epochs/<id>/`, at any time after publishing. Checking co-signatures is the
verifiers' job (verify/cosignatures.py); the documents and text rules are the
protocol's (protocol/cosignature.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _crypto
from ._fs import atomic_write, folder_lock, fsync_dir, read_bytes, recover_swap, swap_dir
from .errors import ConfigError, FormatError, InputError, KeyTypeError, VerificationError
from .protocol import layout
from .protocol.cosignature import (
    MAX_AUDITORS,
    RereadChain,
    document_bytes,
    index_bytes,
    name_problem,
    parse_index,
    statement_problem,
)
from .protocol.hashing import EPOCH_RE
from .protocol.models import Attestation
from .protocol.serialization import json_loads
from .verify.checks import match_private_documents, reread_problems
from .verify.client import SignedEpoch, check_signed_site, check_site_files
from .verify.cosignatures import CosignCheck, verify_cosignatures
from .verify.fetch import SiteReader
from .verify.reread import check_chains_listed, reread


@dataclass(frozen=True)
class CosignResult:
    site: Path  # the epoch's site folder (the root, or epochs/<id>)
    folder: Path  # site/auditors/<fingerprint>
    epoch: str
    custodian: str
    custodian_fingerprint: str
    fingerprint: str
    name: str
    attestation_sha256: str
    statement_sha256: str
    time: str
    replaced: bool
    auditors: tuple[CosignCheck, ...]  # every listed co-signature, checked after writing
    also: tuple[Path, ...] = ()  # the same epoch's other folder (root or home), also written
    reread: tuple[RereadChain, ...] = ()  # chains read again from the auditor's nodes
    declared: tuple[str, ...] = ()  # chains given --rpc whose holdings are all declared

    def to_json(self) -> dict[str, Any]:
        """The `cosign --json` summary."""
        return {
            "site": str(self.site),
            "folder": str(self.folder),
            "epoch": self.epoch,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "custodian_key_fingerprint": self.custodian_fingerprint,
            "attestation_sha256": self.attestation_sha256,
            "statement_sha256": self.statement_sha256,
            "time": self.time,
            "replaced": self.replaced,
            "also": [str(folder) for folder in self.also],
            "reread": [r.to_json() for r in self.reread],
            "declared_not_checked": list(self.declared),
            "auditors": [c.to_json() for c in self.auditors],
        }


# --- bounded text -----------------------------------------------------------------------


def read_statement(path: Path) -> str:
    data = read_bytes(path, "statement")
    problem = statement_problem(data)
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    return data.decode("utf-8")


def default_statement(
    name: str,
    custodian: str,
    epoch: str,
    attestation_sha256: str,
    reread: tuple[RereadChain, ...] = (),
) -> str:
    text = (
        f"{name} co-signs the attestation of epoch {epoch} published by {custodian}.\n"
        f"The Ed25519 signature in attestation.json.sig is over the exact bytes of "
        f"attestation.json, SHA-256 {attestation_sha256}.\n"
    )
    for r in reread:
        text += (
            f"{name} read the {r.chain} balances again from its own node at block "
            f"{r.block_height} ({r.block_hash}); they match the signed ones.\n"
        )
    return text


def reviewed_statement(name: str, attestation: Attestation, folder: Path) -> str:
    """The lines a statement ends with when the auditor reviewed the documents in `folder`:
    each file must be a document of the attestation's `legal` member (by SHA-256)."""
    if not folder.is_dir():
        raise InputError(f"--reviewed-documents {folder}: no such folder")
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hashes[path.relative_to(folder).as_posix()] = _crypto.sha256_hex(
            read_bytes(path, "document")
        )
    found = match_private_documents(attestation, hashes)
    if found.extra:
        raise InputError(
            f"--reviewed-documents {folder}: {', '.join(found.extra)} is no document of the "
            f"attestation of epoch {attestation.epoch_id} (its SHA-256 is not signed there)"
        )
    if not found.matched:
        raise InputError(f"--reviewed-documents {folder}: no documents in it")
    reviewed = sorted({d.sha256: d for _, d in found.matched}.values(), key=lambda d: d.sha256)
    return f"{name} reviewed these documents of the arrangement (SHA-256, as signed):\n" + "".join(
        f"{d.sha256} {d.title}\n" for d in reviewed
    )


# --- the auditor's key ------------------------------------------------------------------


def load_auditor_key(path: Path, passphrase: Callable[[], bytes]) -> _crypto.Ed25519PrivateKey:
    """An auditor's PEM Ed25519 private key, plain or encrypted (`passphrase` is only asked if
    needed)."""
    return load_cosigner_key(path, passphrase, "auditor")


def load_cosigner_key(
    path: Path, passphrase: Callable[[], bytes], role: str
) -> _crypto.Ed25519PrivateKey:
    """A co-signer's (an auditor's or a witness's) PEM Ed25519 private key, plain or encrypted;
    a ConfigError that says how to make one for anything else."""
    data = read_bytes(path, f"{role} key")
    hint = f"make one with: openssl genpkey -algorithm ed25519 -out {role}.pem"
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        raise ConfigError(f"{path}: an OpenSSH key; a PEM (PKCS#8) key is needed: {hint}")
    try:
        return _crypto.load_any_private_key_pem(data, passphrase)
    except KeyTypeError as exc:
        raise ConfigError(f"{path}: {exc.kind}, not an Ed25519 key; {hint}") from exc
    except ValueError as exc:
        encrypted = b"ENCRYPTED" in data
        raise ConfigError(
            f"{path}: cannot decrypt the key: wrong passphrase"
            if encrypted
            else f"{path}: not a PEM private key; {hint}"
        ) from exc


# --- where, and the site's own check ----------------------------------------------------


def resolve_site(site: Path, epoch: str | None) -> Path:
    """The folder of the epoch to co-sign: the site root (newest) or `epochs/<id>`."""
    if not site.is_dir():
        raise InputError(f"{site}: no such site folder")
    if epoch is None:
        return site
    if not EPOCH_RE.fullmatch(epoch):
        raise InputError(f"{epoch!r} is not an epoch id")
    try:
        newest = json_loads((site / layout.ATTESTATION).read_bytes())["epoch"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        newest = None
    if newest == epoch:
        return site
    folder = site / layout.EPOCHS / epoch
    if folder.is_dir():
        return folder
    known = sorted(p.name for p in (site / layout.EPOCHS).glob("*") if p.is_dir())
    if isinstance(newest, str):
        known.append(f"{newest} (newest)")
    raise InputError(f"{site}: no epoch {epoch!r}; the site has: {', '.join(known) or 'no epochs'}")


def verify_epoch_site(folder: Path, expect_key: str | None = None) -> SignedEpoch:
    """The custodian's signatures and every file its manifest lists, before an auditor signs.

    Raises VerificationError naming the check, so the CLI exits 1 saying why.
    """
    reader = SiteReader(str(folder))
    try:
        signed = check_signed_site(reader, expect_key)
        check_site_files(reader, signed.manifest)
    except VerificationError as exc:
        refuse = "refusing to co-sign a site that does not verify"
        raise VerificationError(exc.check, f"{exc.detail}; {refuse}") from None
    return signed


def reread_chains(
    attestation: Attestation, rpc_urls: Mapping[str, str]
) -> tuple[tuple[RereadChain, ...], tuple[str, ...]]:
    """The chains given a node read again before signing: (re-read, all declared).

    VerificationError (check reserves-reread) naming every wallet that differs: an
    auditor does not co-sign balances its own node does not confirm.
    """
    readings = reread(attestation, rpc_urls)
    problems = [p for r in readings for p in reread_problems(attestation, r)]
    if problems:
        raise VerificationError(
            "reserves-reread",
            "; ".join(problems) + "; refusing to co-sign balances your node does not confirm",
        )
    done, declared = [], []
    for reading in readings:
        chain = attestation.reserves.chain(reading.chain)
        assert chain is not None  # reread reads only the attestation's chains
        if reading.balances is None:
            declared.append(chain.id)
        else:
            done.append(RereadChain(chain.id, chain.block_height, chain.block_hash))
    return tuple(done), tuple(declared)


# --- writing ----------------------------------------------------------------------------


def _root_of(folder: Path) -> Path:
    """The site a folder belongs to: `epochs/<id>` belongs to the site above it."""
    parent = folder.resolve().parent
    if parent.name == layout.EPOCHS and (parent.parent / layout.MANIFEST).is_file():
        return parent.parent
    return folder.resolve()


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """The lock `publish` takes (on the site's parent folder): never write into a site mid-swap."""
    root = _root_of(folder)
    busy = f"a porsegregate publish or cosign is writing into {root.parent}; wait for it to finish"
    with folder_lock(root.parent, busy):
        yield


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)


def _same_epoch_folders(site: Path, attestation: bytes, epoch: str) -> list[Path]:
    """Other folders showing these exact attestation bytes: the root and the epoch's home.

    The newest epoch is at the site's root and also in its permanent home
    `epochs/<id>/`; a co-signature of it is written into both, so they agree (and
    the next publish, which moves the root's co-signatures home, finds them equal).
    """
    root = site if _root_of(site) == site.resolve() else site.parent.parent
    out = []
    for folder in (root, root / layout.EPOCHS / epoch):
        if folder.resolve() == site.resolve() or not folder.is_dir():
            continue
        try:
            if (folder / layout.ATTESTATION).read_bytes() == attestation:
                out.append(folder)
        except OSError:
            continue
    return out


def _existing_index(site: Path) -> list[str]:
    path = site / layout.AUDITORS_INDEX
    if not path.exists():
        return []
    try:
        return parse_index(read_bytes(path, "auditor index"))
    except FormatError as exc:
        raise InputError(f"{path} is malformed ({exc}); repair or remove it first") from exc


def _put_folder(site: Path, fingerprint: str, files: dict[str, bytes], listed: list[str]) -> None:
    """auditors/<fp>/ written complete beside its place, renamed in; then the index."""
    auditors = site / layout.AUDITORS
    target = auditors / fingerprint
    auditors.mkdir(exist_ok=True)
    # What a killed run left (under the lock): finished, or removed, never the only copy.
    recover_swap(target)
    staging = Path(tempfile.mkdtemp(dir=auditors, prefix=f".{fingerprint}.staging-"))
    try:
        for relative, data in files.items():
            _write_file(staging / relative, data)
        os.chmod(staging, 0o755)  # noqa: S103 - published
        fsync_dir(staging)
        swap_dir(staging, target)
        fsync_dir(auditors)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Replaced, never written through: a hard link elsewhere keeps its own bytes.
    atomic_write(site / layout.AUDITORS_INDEX, index_bytes([*listed, fingerprint]))


def cosign(
    site: Path,
    key: _crypto.Ed25519PrivateKey,
    name: str,
    statement: str | None = None,
    *,
    force: bool = False,
    expect_key: str | None = None,
    now: datetime | None = None,
    rpc_urls: Mapping[str, str] | None = None,
    reviewed_documents: Path | None = None,
) -> CosignResult:
    """Co-sign the attestation of the epoch whose site is `site` (root or `epochs/<id>`).

    The site is verified first (VerificationError if it does not verify). The
    auditor's folder is written complete in a staging folder beside it and
    renamed into place; then `auditors/index.json` is rewritten atomically. The
    newest epoch's root and home both get it. An existing co-signature by the
    same key is replaced only with `force`.

    With `rpc_urls` ({chain id: node URL}) the attestation's chain balances are read
    again from those nodes first (refusing to sign if one differs), and auditor.json
    (format 2) lists the chains re-read with their block height and hash.

    With `reviewed_documents` (a folder of the arrangement's documents the auditor
    reviewed), every file in it must be a document of the attestation (by SHA-256), and
    the statement ends with the list of them: the co-signature states what was reviewed.
    """
    problem = name_problem(name)
    if problem is not None:
        raise InputError(problem)
    if not site.is_dir():
        raise InputError(f"{site}: no such site folder")
    fingerprint = _crypto.fingerprint(key.public_key())
    with _exclusive(site):
        verified = verify_epoch_site(site, expect_key)
        attestation = verified.attestation
        att_bytes = verified.attestation_bytes
        rereads: tuple[RereadChain, ...] = ()
        declared: tuple[str, ...] = ()
        if rpc_urls:
            check_chains_listed(attestation, rpc_urls)
            rereads, declared = reread_chains(attestation, rpc_urls)
        att_sha = _crypto.sha256_hex(att_bytes)
        if statement is None:
            statement = default_statement(
                name, attestation.custodian.name, attestation.epoch_id, att_sha, rereads
            )
        if reviewed_documents is not None:
            statement += reviewed_statement(name, attestation, reviewed_documents)
        statement_data = statement.encode("utf-8")
        problem = statement_problem(statement_data)
        if problem is not None:
            raise InputError(problem)
        folders = [site, *_same_epoch_folders(site, att_bytes, attestation.epoch_id)]
        listed = {folder: _existing_index(folder) for folder in folders}
        replaced = False
        for folder in folders:
            if len({*listed[folder], fingerprint}) > MAX_AUDITORS:
                raise InputError(
                    f"{folder / layout.AUDITORS_INDEX} already lists {MAX_AUDITORS} auditors"
                )
            target = folder / layout.AUDITORS / fingerprint
            if target.exists() or target.is_symlink() or fingerprint in listed[folder]:
                replaced = True
                if not force:
                    raise ConfigError(
                        f"{target} already holds a co-signature by this key (fingerprint "
                        f"{fingerprint}); refusing to overwrite it (use --force to replace it)"
                    )
        time = layout.format_time(now or datetime.now(UTC))
        statement_sha = _crypto.sha256_hex(statement_data)
        document = document_bytes(
            name, fingerprint, attestation.epoch_id, att_sha, statement_sha, time, rereads
        )
        files = {
            layout.AUDITOR_KEY: _crypto.public_key_pem(key.public_key()),
            layout.AUDITOR_SIGNATURE: key.sign(att_bytes),
            layout.AUDITOR_STATEMENT: statement_data,
            layout.AUDITOR_DOCUMENT: document,
            layout.AUDITOR_DOCUMENT_SIG: key.sign(document),
        }
        for folder in folders:
            _put_folder(folder, fingerprint, files, listed[folder])
        # What every verifier will do, once, before saying it is done.
        checks = tuple(verify_cosignatures(site, att_bytes))
        failed = next((c for c in checks if c.fingerprint == fingerprint and not c.ok), None)
        if failed is not None:
            raise VerificationError("auditor-signature", failed.detail)
    return CosignResult(
        site=site,
        folder=site / layout.AUDITORS / fingerprint,
        epoch=attestation.epoch_id,
        custodian=attestation.custodian.name,
        custodian_fingerprint=verified.fingerprint,
        fingerprint=fingerprint,
        name=name,
        attestation_sha256=att_sha,
        statement_sha256=statement_sha,
        time=time,
        replaced=replaced,
        auditors=checks,
        also=tuple(folders[1:]),
        reread=rereads,
        declared=declared,
    )
