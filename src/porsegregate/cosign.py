"""Auditor co-signatures (docs/protocol.md section 14).

An auditor signs the exact bytes of an epoch's `attestation.json` with their
own Ed25519 key, and publishes the signature beside it in
`auditors/<fingerprint>/`, with their public key, a statement and a signed
`auditor.json` that binds their name and statement to the key. Nothing the
custodian signed changes: the root manifest leaves `auditors/**` out, so a
co-signature can be added to a site, or to an earlier epoch under
`epochs/<id>/`, at any time after publishing.

`auditors/index.json` lists the fingerprints (there is no directory listing
over HTTP); a verifier checks every listed co-signature, and an index that
lists one whose files are missing or whose signatures fail is a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _crypto
from ._fs import atomic_write, folder_lock, read_bytes, swap_dir
from .errors import ConfigError, FormatError, InputError, KeyTypeError, VerificationError
from .protocol.hashing import EPOCH_RE
from .protocol.layout import AUDITORS, EPOCHS
from .protocol.models import Attestation
from .protocol.serialization import canonical, json_loads, parse_attestation
from .verify.client import check_signed_site
from .verify.fetch import SiteReader

COSIGN_FORMAT = "porsegregate-cosign/1"
INDEX = f"{AUDITORS}/index.json"
PUBLIC_KEY = "auditor.pub.pem"
SIGNATURE = "attestation.json.sig"
STATEMENT = "statement.txt"
DOCUMENT = "auditor.json"
DOCUMENT_SIG = "auditor.json.sig"
FILES = (PUBLIC_KEY, SIGNATURE, STATEMENT, DOCUMENT, DOCUMENT_SIG)
MAX_NAME = 200
MAX_STATEMENT = 64 * 1024
MAX_AUDITORS = 100
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Bidirectional overrides and isolates make a name display as something else.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


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


@dataclass(frozen=True)
class CosignCheck:
    """One listed auditor's co-signature, checked. `name` is None until auditor.json verifies."""

    fingerprint: str
    name: str | None
    ok: bool
    detail: str
    time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "time": self.time,
        }


# --- bounded text -----------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an auditor's name, or None."""
    if not name or name != name.strip():
        return "the auditor name must be non-empty, without leading or trailing spaces"
    if len(name) > MAX_NAME:
        return f"the auditor name is longer than {MAX_NAME} characters"
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            return f"the auditor name contains a control character (U+{ord(ch):04X})"
    return None


def statement_problem(data: bytes) -> str | None:
    """Why `data` cannot be a statement (UTF-8 text up to 64 KiB), or None."""
    if not data.strip():
        return "the statement is empty"
    if len(data) > MAX_STATEMENT:
        return f"the statement is {len(data)} bytes; at most {MAX_STATEMENT} (64 KiB)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the statement is not UTF-8 (byte {exc.start})"
    for ch in text:
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r") or ch in _BIDI:
            return f"the statement contains a control character (U+{ord(ch):04X})"
    return None


def read_statement(path: Path) -> str:
    data = read_bytes(path, "statement")
    problem = statement_problem(data)
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    return data.decode("utf-8")


def default_statement(name: str, custodian: str, epoch: str, attestation_sha256: str) -> str:
    return (
        f"{name} co-signs the attestation of epoch {epoch} published by {custodian}.\n"
        f"The Ed25519 signature in attestation.json.sig is over the exact bytes of "
        f"attestation.json, SHA-256 {attestation_sha256}.\n"
    )


# --- the auditor's key ------------------------------------------------------------------


def load_auditor_key(path: Path, passphrase: Callable[[], bytes]) -> _crypto.Ed25519PrivateKey:
    """A PEM Ed25519 private key, plain or encrypted (`passphrase` is only asked if needed)."""
    data = read_bytes(path, "auditor key")
    hint = "make one with: openssl genpkey -algorithm ed25519 -out auditor.pem"
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        raise ConfigError(f"{path}: an OpenSSH key; cosign needs a PEM (PKCS#8) key: {hint}")
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
        newest = json_loads((site / "attestation.json").read_bytes())["epoch"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        newest = None
    if newest == epoch:
        return site
    folder = site / EPOCHS / epoch
    if folder.is_dir():
        return folder
    known = sorted(p.name for p in (site / EPOCHS).glob("*") if p.is_dir())
    if isinstance(newest, str):
        known.append(f"{newest} (newest)")
    raise InputError(f"{site}: no epoch {epoch!r}; the site has: {', '.join(known) or 'no epochs'}")


@dataclass(frozen=True)
class _Verified:
    attestation_bytes: bytes
    attestation: Attestation
    custodian_fingerprint: str


def _safe_relative(relative: str) -> bool:
    parts = relative.split("/")
    return (
        bool(relative)
        and "\\" not in relative
        and not relative.startswith("/")
        and all(p not in ("", ".", "..") for p in parts)
    )


def verify_epoch_site(folder: Path, expect_key: str | None = None) -> _Verified:
    """The custodian's signatures and every file its manifest lists, before an auditor signs.

    Raises VerificationError naming the check, so the CLI exits 1 saying why.
    """
    refuse = "refusing to co-sign a site that does not verify"
    reader = SiteReader(str(folder))
    try:
        att, attestation, fingerprint, manifest = check_signed_site(reader, expect_key)
    except VerificationError as exc:
        raise VerificationError(exc.check, f"{exc.detail}; {refuse}") from None
    for relative, expected in sorted(manifest.files.items()):
        if not _safe_relative(relative):
            raise VerificationError("manifest-files", f"the manifest lists a bad path {relative!r}")
        data = reader.read(relative)
        if data is None:
            raise VerificationError(
                "manifest-files", f"{relative} is in the signed manifest but missing; {refuse}"
            )
        if _crypto.sha256_hex(data) != expected:
            raise VerificationError(
                "manifest-files",
                f"{relative} does not match the signed manifest: it was altered; {refuse}",
            )
    return _Verified(att, attestation, fingerprint)


# --- writing ----------------------------------------------------------------------------


def _root_of(folder: Path) -> Path:
    """The site a folder belongs to: `epochs/<id>` belongs to the site above it."""
    parent = folder.resolve().parent
    if parent.name == EPOCHS and (parent.parent / "manifest.json").is_file():
        return parent.parent
    return folder.resolve()


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """The lock `publish` takes (on the site's parent folder): never write into a site mid-swap."""
    root = _root_of(folder)
    busy = f"a porsegregate publish or cosign is writing into {root.parent}; wait for it to finish"
    with folder_lock(root.parent, busy):
        yield


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)


def parse_index(data: bytes) -> list[str]:
    """`auditors/index.json`: RFC 8785 JSON array of fingerprints, sorted, no duplicates."""
    try:
        doc = json_loads(data.decode("utf-8"))
        again = canonical(doc)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # a hostile host's file
        raise FormatError(f"not JSON: {exc}") from exc
    if again != data:
        raise FormatError("not in RFC 8785 canonical form")
    if not isinstance(doc, list) or not all(
        isinstance(f, str) and _HEX64.fullmatch(f) for f in doc
    ):
        raise FormatError("not a list of key fingerprints (64 lowercase hex digits)")
    if doc != sorted(set(doc)):
        raise FormatError("the fingerprints are not sorted, or one is listed twice")
    if len(doc) > MAX_AUDITORS:
        raise FormatError(f"more than {MAX_AUDITORS} auditors")
    return list(doc)


def index_bytes(fingerprints: list[str]) -> bytes:
    return canonical(sorted(set(fingerprints)))


def document_bytes(
    name: str,
    fingerprint: str,
    epoch: str,
    attestation_sha256: str,
    statement_sha256: str,
    time: str,
) -> bytes:
    return canonical(
        {
            "format": COSIGN_FORMAT,
            "name": name,
            "fingerprint": fingerprint,
            "epoch": epoch,
            "attestation_sha256": attestation_sha256,
            "statement_sha256": statement_sha256,
            "time": time,
        }
    )


def _same_epoch_folders(site: Path, attestation: bytes, epoch: str) -> list[Path]:
    """Other folders showing these exact attestation bytes: the root and the epoch's home.

    The newest epoch is at the site's root and also in its permanent home
    `epochs/<id>/`; a co-signature of it is written into both, so they agree (and
    the next publish, which moves the root's co-signatures home, finds them equal).
    """
    root = site if _root_of(site) == site.resolve() else site.parent.parent
    out = []
    for folder in (root, root / EPOCHS / epoch):
        if folder.resolve() == site.resolve() or not folder.is_dir():
            continue
        try:
            if (folder / "attestation.json").read_bytes() == attestation:
                out.append(folder)
        except OSError:
            continue
    return out


def _existing_index(site: Path) -> list[str]:
    path = site / INDEX
    if not path.exists():
        return []
    try:
        return parse_index(read_bytes(path, "auditor index"))
    except FormatError as exc:
        raise InputError(f"{path} is malformed ({exc}); repair or remove it first") from exc


def _put_folder(site: Path, fingerprint: str, files: dict[str, bytes], listed: list[str]) -> None:
    """auditors/<fp>/ written complete beside its place, renamed in; then the index."""
    auditors = site / AUDITORS
    target = auditors / fingerprint
    auditors.mkdir(exist_ok=True)
    for leftover in (*auditors.glob(".*.staging-*"), *auditors.glob(".*.old-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # a killed run's, under the lock
    staging = Path(tempfile.mkdtemp(dir=auditors, prefix=f".{fingerprint[:16]}.staging-"))
    try:
        for relative, data in files.items():
            _write_file(staging / relative, data)
        os.chmod(staging, 0o755)  # noqa: S103 - published
        _fsync_dir(staging)
        swap_dir(staging, target)
        _fsync_dir(auditors)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Replaced, never written through: a hard link elsewhere keeps its own bytes.
    atomic_write(site / INDEX, index_bytes([*listed, fingerprint]))


def cosign(
    site: Path,
    key: _crypto.Ed25519PrivateKey,
    name: str,
    statement: str | None = None,
    *,
    force: bool = False,
    expect_key: str | None = None,
    now: datetime | None = None,
) -> CosignResult:
    """Co-sign the attestation of the epoch whose site is `site` (root or `epochs/<id>`).

    The site is verified first (VerificationError if it does not verify). The
    auditor's folder is written complete in a staging folder beside it and
    renamed into place; then `auditors/index.json` is rewritten atomically. The
    newest epoch's root and home both get it. An existing co-signature by the
    same key is replaced only with `force`.
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
        att_sha = _crypto.sha256_hex(att_bytes)
        if statement is None:
            statement = default_statement(
                name, attestation.custodian.name, attestation.epoch_id, att_sha
            )
        statement_data = statement.encode("utf-8")
        problem = statement_problem(statement_data)
        if problem is not None:
            raise InputError(problem)
        folders = [site, *_same_epoch_folders(site, att_bytes, attestation.epoch_id)]
        listed = {folder: _existing_index(folder) for folder in folders}
        replaced = False
        for folder in folders:
            if len({*listed[folder], fingerprint}) > MAX_AUDITORS:
                raise InputError(f"{folder / INDEX} already lists {MAX_AUDITORS} auditors")
            target = folder / AUDITORS / fingerprint
            if target.exists() or target.is_symlink() or fingerprint in listed[folder]:
                replaced = True
                if not force:
                    raise ConfigError(
                        f"{target} already holds a co-signature by this key (fingerprint "
                        f"{fingerprint}); refusing to overwrite it (use --force to replace it)"
                    )
        time = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        statement_sha = _crypto.sha256_hex(statement_data)
        document = document_bytes(
            name, fingerprint, attestation.epoch_id, att_sha, statement_sha, time
        )
        files = {
            PUBLIC_KEY: _crypto.public_key_pem(key.public_key()),
            SIGNATURE: key.sign(att_bytes),
            STATEMENT: statement_data,
            DOCUMENT: document,
            DOCUMENT_SIG: key.sign(document),
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
        folder=site / AUDITORS / fingerprint,
        epoch=attestation.epoch_id,
        custodian=attestation.custodian.name,
        custodian_fingerprint=verified.custodian_fingerprint,
        fingerprint=fingerprint,
        name=name,
        attestation_sha256=att_sha,
        statement_sha256=statement_sha,
        time=time,
        replaced=replaced,
        auditors=checks,
        also=tuple(folders[1:]),
    )


# --- verifying --------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, detail: str, name: str | None = None, time: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.name = name
        self.time = time


def _document(data: bytes) -> dict[str, str]:
    """auditor.json: exactly RFC 8785, exactly the seven string members."""
    try:
        doc = json_loads(data.decode("utf-8"))
        again = canonical(doc)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # a hostile host's file
        raise FormatError(f"not JSON: {exc}") from exc
    if again != data:
        raise FormatError("not in RFC 8785 canonical form")
    keys = ("attestation_sha256", "epoch", "fingerprint", "format", "name", "statement_sha256")
    if not isinstance(doc, dict) or sorted(doc) != sorted((*keys, "time")):
        raise FormatError(f"it must have exactly the members {', '.join((*keys, 'time'))}")
    if not all(isinstance(v, str) for v in doc.values()):
        raise FormatError("every member must be a string")
    if doc["format"] != COSIGN_FORMAT:
        raise FormatError(f"format is not {COSIGN_FORMAT}")
    for member in ("fingerprint", "attestation_sha256", "statement_sha256"):
        if not _HEX64.fullmatch(doc[member]):
            raise FormatError(f"{member} is not 64 lowercase hex digits")
    problem = name_problem(doc["name"])
    if problem is not None:
        raise FormatError(problem)
    if not _TIME.fullmatch(doc["time"]):
        raise FormatError("time is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        datetime.strptime(doc["time"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise FormatError("time is not a valid date and time") from exc
    return {str(k): str(v) for k, v in doc.items()}


def _check_one(
    reader: SiteReader, fingerprint: str, attestation: bytes, epoch: str | None
) -> CosignCheck:
    where = f"{AUDITORS}/{fingerprint}"
    files = {name: reader.read(f"{where}/{name}") for name in FILES}
    missing = [name for name, data in files.items() if data is None]
    if missing:
        raise _Bad(
            f"auditor {fingerprint} is listed in {INDEX} but {where}/ lacks "
            f"{', '.join(missing)}: the co-signature was removed or never completed"
        )
    data = {name: d for name, d in files.items() if d is not None}
    try:
        key = _crypto.load_public_key_pem(data[PUBLIC_KEY])
    except (TypeError, ValueError) as exc:
        raise _Bad(f"{where}/{PUBLIC_KEY} is not an Ed25519 public key") from exc
    if _crypto.fingerprint(key) != fingerprint:
        raise _Bad(
            f"{where}/{PUBLIC_KEY} has fingerprint {_crypto.fingerprint(key)}, not the "
            "fingerprint its folder is named by"
        )
    if not _crypto.ed25519_verify(key, data[DOCUMENT_SIG], data[DOCUMENT]):
        raise _Bad(
            f"{where}/{DOCUMENT} is not signed by the auditor's key: its name, statement or "
            "time was changed after signing"
        )
    try:
        doc = _document(data[DOCUMENT])
    except FormatError as exc:
        raise _Bad(f"{where}/{DOCUMENT} is malformed: {exc}") from exc
    name, time = doc["name"], doc["time"]
    if doc["fingerprint"] != fingerprint:
        raise _Bad(f"{where}/{DOCUMENT} names another key ({doc['fingerprint']})", name, time)
    problem = statement_problem(data[STATEMENT])
    if problem is not None:
        raise _Bad(f"{where}/{STATEMENT}: {problem}", name, time)
    if _crypto.sha256_hex(data[STATEMENT]) != doc["statement_sha256"]:
        raise _Bad(
            f"{where}/{STATEMENT} is not the statement the auditor signed: it was changed",
            name,
            time,
        )
    if doc["attestation_sha256"] != _crypto.sha256_hex(attestation) or (
        epoch is not None and doc["epoch"] != epoch
    ):
        raise _Bad(
            f"{where}/{DOCUMENT} is for another attestation (epoch {doc['epoch']}, SHA-256 "
            f"{doc['attestation_sha256']}): this co-signature does not belong here",
            name,
            time,
        )
    if not _crypto.ed25519_verify(key, data[SIGNATURE], attestation):
        raise _Bad(
            f"{where}/{SIGNATURE} does not verify over this attestation.json under the "
            "auditor's key: it signs other bytes (another epoch's attestation, or an "
            "altered one)",
            name,
            time,
        )
    return CosignCheck(
        fingerprint,
        name,
        True,
        f"{name!r} (key {fingerprint}) co-signed this attestation on {time}",
        time,
    )


def verify_cosignatures(source: SiteReader | Path | str, attestation: bytes) -> list[CosignCheck]:
    """Every co-signature `auditors/index.json` lists, checked against `attestation`.

    `source` is the epoch's site: a SiteReader, a folder, or a folder or URL as
    text. No index: no auditors, an empty list. A malformed index is one failed
    check with an empty fingerprint. I/O errors other than a missing file raise
    InputError, as every other read of the site does.
    """
    reader = source if isinstance(source, SiteReader) else SiteReader(str(source))
    index = reader.read(INDEX)
    if index is None:
        return []
    try:
        fingerprints = parse_index(index)
    except FormatError as exc:
        return [CosignCheck("", None, False, f"{INDEX} is malformed: {exc}")]
    try:
        epoch: str | None = parse_attestation(attestation).epoch_id
    except FormatError:
        epoch = None
    checks = []
    for fingerprint in fingerprints:
        try:
            checks.append(_check_one(reader, fingerprint, attestation, epoch))
        except _Bad as bad:
            checks.append(CosignCheck(fingerprint, bad.name, False, bad.detail, bad.time))
    return checks
