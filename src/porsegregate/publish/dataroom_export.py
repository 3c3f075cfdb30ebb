"""One epoch's data room: what an auditor needs to rebuild that epoch, and no power to sign.

`porsegregate dataroom export` writes a folder (docs/protocol.md section 13,
"The data room export"):

    dataroom.json        what the folder is: epoch, custodian, key fingerprint, assets,
                         and the SHA-256 of each file below but the secrets
    custodian.pub.pem    the custodian's public key (not the signing key)
    liabilities.csv      the epoch's liabilities CSV, as published from (a Parquet ledger
                         or a directory of files as CSV: one row per account and asset,
                         summed)
    reserves.toml|json   the epoch's reserves declaration, when there is one
    epoch-secrets.json   the epoch's derived keys only, AES-256-GCM under a scrypt key of
                         the data room's own passphrase

The secrets are what `epoch_keys` and the padding and shuffle keys give for
this one epoch: per client (nonce, lookup id, proof key), per asset (padding
key, shuffle key). Never the master secret (it derives every epoch's keys and
every client code) nor the signing key: the auditor can rebuild and open this
epoch, and nothing else, and can sign nothing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _crypto
from .._fs import folder_lock, read_bytes, swap_dir
from .._version import __version__
from ..errors import ConfigError, InputError
from ..progress import Progress, step
from ..protocol import layout
from ..protocol.codes import client_secrets
from ..protocol.hashing import (
    PROTOCOL_VERSION,
    EpochKeys,
    account_commitments,
    check_asset_code,
    check_epoch_id,
    epoch_key_material,
    lp,
    padding_key,
    shuffle_key,
)
from ..protocol.models import Asset
from .config import Config
from .engine import KeyArrays
from .epoch import AssetKeys, EpochProofs, Privacy, build_trees
from .keys import check_passphrase, load_master_secret
from .liabilities import Liabilities, read_liabilities, to_csv
from .reserves import read_reserves

FORMAT = "porsegregate-dataroom/1"
SECRETS_FORMAT = "porsegregate-dataroom-secrets/1"
MANIFEST = "dataroom.json"
SECRETS = "epoch-secrets.json"
PUBLIC_KEY = "custodian.pub.pem"
LIABILITIES = "liabilities.csv"
RESERVES = ("reserves.toml", "reserves.json")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
KEY_BYTES = 32


@dataclass(frozen=True)
class EpochSecrets:
    """One epoch's derived keys: all an auditor needs to rebuild its trees and open its proofs."""

    epoch: str
    assets: dict[str, AssetKeys]  # asset code -> padding and shuffle keys
    clients: dict[str, EpochKeys]  # account id -> nonce, lookup id, proof key

    def nonce_of(self, account: str) -> bytes:
        return self.clients[account].nonce


def derive_epoch_secrets(
    master_secret: bytes,
    epoch: str,
    accounts: Collection[str],
    assets: Iterable[Asset],
    progress: Progress | None = None,
) -> EpochSecrets:
    """What `publish` derives from the master secret for this epoch, and nothing more."""
    clients = {}
    chunk = 16384
    ordered = list(accounts)
    with step(progress, "deriving client keys", len(ordered)) as shown:
        for at in range(0, len(ordered), chunk):
            part = ordered[at : at + chunk]
            material = epoch_key_material(client_secrets(master_secret, part), epoch)
            for account, m in zip(part, material, strict=True):
                clients[account] = EpochKeys(m[:32], m[32:48], m[48:80])
            shown.advance(len(part))
    return EpochSecrets(
        epoch,
        {
            a.code: AssetKeys(
                padding_key(master_secret, epoch, a.code), shuffle_key(master_secret, epoch, a.code)
            )
            for a in assets
        },
        clients,
    )


def encode_secrets(secrets: EpochSecrets) -> bytes:
    """The plaintext of epoch-secrets.json (docs/protocol.md section 13)."""
    out = [lp(SECRETS_FORMAT.encode()), lp(secrets.epoch.encode())]
    out.append(len(secrets.assets).to_bytes(2, "big"))
    for code, keys in sorted(secrets.assets.items()):
        out += [lp(code.encode()), keys.padding, keys.shuffle]
    out.append(len(secrets.clients).to_bytes(4, "big"))
    for account, k in secrets.clients.items():
        out += [lp(account.encode()), k.nonce, k.lookup, k.key]
    return b"".join(out)


def decode_secrets(data: bytes, where: str) -> EpochSecrets:
    """InputError (naming `where`) for anything but exactly encode_secrets' layout."""
    at = 0

    def take(n: int) -> bytes:
        nonlocal at
        if at + n > len(data):
            raise InputError(f"{where}: the decrypted secrets are truncated")
        at += n
        return data[at - n : at]

    def text() -> str:
        try:
            return take(take(1)[0]).decode()
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: the decrypted secrets are malformed") from exc

    if text() != SECRETS_FORMAT:
        raise InputError(f"{where}: not {SECRETS_FORMAT} secrets")
    epoch = text()
    assets: dict[str, AssetKeys] = {}
    for _ in range(int.from_bytes(take(2), "big")):
        code = text()
        assets[code] = AssetKeys(take(KEY_BYTES), take(KEY_BYTES))
    clients: dict[str, EpochKeys] = {}
    for _ in range(int.from_bytes(take(4), "big")):
        account = text()
        clients[account] = EpochKeys(nonce=take(32), lookup=take(16), key=take(32))
    if at != len(data):
        raise InputError(f"{where}: the decrypted secrets have trailing bytes")
    return EpochSecrets(epoch, assets, clients)


def _aad(manifest: bytes) -> bytes:
    """The secrets are bound to the exact dataroom.json they were written with."""
    return SECRETS_FORMAT.encode() + b"\x00" + _crypto.sha256(manifest)


def _encrypt(plaintext: bytes, passphrase: bytes, manifest: bytes) -> bytes:
    salt = _crypto.random_bytes(16)
    key = _crypto.scrypt_key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    doc = {
        "format": SECRETS_FORMAT,
        "kdf": {
            "name": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "aead": "AES-256-GCM",
        "ciphertext": base64.b64encode(
            _crypto.aes_gcm_encrypt(key, plaintext, _aad(manifest))
        ).decode(),
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def _decrypt(path: Path, data: bytes, passphrase: bytes, manifest: bytes) -> bytes:
    try:
        doc = json.loads(data)
        kdf = doc["kdf"]
        if doc["format"] != SECRETS_FORMAT or kdf["name"] != "scrypt":
            raise ValueError("unknown format")
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        # Bounded: a data room must not make the auditor's machine spend gigabytes (128·n·r).
        if not (n >= 2 and r >= 1 and n * r <= 2**21 and 1 <= p <= 4):
            raise ValueError("scrypt parameters out of range")
        salt = base64.b64decode(kdf["salt"], validate=True)
        blob = base64.b64decode(doc["ciphertext"], validate=True)
        key = _crypto.scrypt_key(passphrase, salt, n, r, p)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a {SECRETS_FORMAT} file") from exc
    try:
        return _crypto.aes_gcm_decrypt(key, blob, _aad(manifest))
    except _crypto.InvalidTag as exc:
        raise InputError(
            f"{path}: cannot decrypt the data room's secrets: wrong data-room passphrase "
            f"(or {MANIFEST} was changed after the export)"
        ) from exc


@dataclass(frozen=True)
class ExportResult:
    """What `dataroom export` wrote."""

    folder: Path
    epoch: str
    custodian: str
    fingerprint: str
    clients: int
    assets: tuple[str, ...]
    files: tuple[str, ...]
    replaced: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "epoch": self.epoch,
            "custodian": self.custodian,
            "key_fingerprint": self.fingerprint,
            "clients": self.clients,
            "assets": list(self.assets),
            "files": list(self.files),
            "replaced": self.replaced,
        }


def _refuse_existing(out: Path, force: bool) -> bool:
    """True when `out` exists and may be replaced; never a folder that is not a data room."""
    if not (out.exists() or out.is_symlink()):
        return False
    if not force:
        raise InputError(f"{out} already exists; refusing to overwrite it (use --force)")
    if out.is_symlink() or not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; refusing to replace it")
    if any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise InputError(
            f"{out} exists and is not a data room (no {MANIFEST}); refusing to replace it"
        )
    return True


def export_dataroom(
    config: Config,
    passphrase: bytes,
    epoch: str,
    out: Path,
    dataroom_passphrase: bytes,
    *,
    liabilities_path: Path | None = None,
    reserves_path: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Derive epoch `epoch`'s keys with the workspace passphrase and write its data room.

    The reserves declaration is the given one, else the config's if that file
    exists. The data-room passphrase must not be the workspace's: that one also
    unlocks the signing key.
    """
    try:
        check_epoch_id(epoch)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    config = config.for_epoch(epoch)
    check_passphrase(dataroom_passphrase)
    if _crypto.constant_time_equal(dataroom_passphrase, passphrase):
        raise ConfigError(
            "the data-room passphrase must not be the workspace passphrase: that one also "
            "unlocks the signing key; choose a new one for the auditor"
        )
    _refuse_existing(out, force)
    liabilities_path = liabilities_path or config.liabilities
    liabilities = read_liabilities(liabilities_path, config.assets, progress)
    if reserves_path is None and config.reserves.exists():
        reserves_path = config.reserves
    if reserves_path is not None:
        read_reserves(reserves_path, config.assets)  # refuse a declaration publish would refuse
    master = load_master_secret(config.master_secret, passphrase)
    secrets = derive_epoch_secrets(master, epoch, liabilities.accounts, config.assets, progress)
    return write_dataroom(
        out,
        epoch=epoch,
        custodian=config.custodian.name,
        assets=config.assets,
        public_key_pem=read_bytes(config.public_key, "public key"),
        liabilities=(
            # the data room holds one CSV: a Parquet ledger or a directory is written as CSV
            to_csv(liabilities)
            if liabilities_path.suffix.lower() == ".parquet" or liabilities_path.is_dir()
            else read_bytes(liabilities_path, "liabilities CSV")
        ),
        reserves=(reserves_path, read_bytes(reserves_path, "reserves declaration"))
        if reserves_path is not None
        else None,
        secrets=secrets,
        dataroom_passphrase=dataroom_passphrase,
        force=force,
    )


def write_dataroom(
    out: Path,
    *,
    epoch: str,
    custodian: str,
    assets: tuple[Asset, ...],
    public_key_pem: bytes,
    liabilities: bytes,
    reserves: tuple[Path, bytes] | None,
    secrets: EpochSecrets,
    dataroom_passphrase: bytes,
    force: bool = False,
) -> ExportResult:
    """Write the folder complete beside `out`, owner-only, then rename it into place."""
    _refuse_existing(out, force)  # before the work: again below, under the lock
    try:
        public_key = _crypto.load_public_key_pem(public_key_pem)
    except (TypeError, ValueError) as exc:
        raise ConfigError("the workspace's public key is not an Ed25519 key in PEM form") from exc
    fingerprint = _crypto.fingerprint(public_key)
    files: dict[str, bytes] = {PUBLIC_KEY: public_key_pem, LIABILITIES: liabilities}
    if reserves is not None:
        name = RESERVES[1] if reserves[0].suffix.lower() == ".json" else RESERVES[0]
        files[name] = reserves[1]
    manifest = json.dumps(
        {
            "format": FORMAT,
            "epoch": epoch,
            "custodian": custodian,
            "key_fingerprint": fingerprint,
            "assets": [{"code": a.code, "decimals": a.decimals} for a in assets],
            "clients": len(secrets.clients),
            "files": {name: _crypto.sha256_hex(data) for name, data in sorted(files.items())},
            "secrets": SECRETS,
            "generator": f"porsegregate {__version__}",
            "created": layout.now(),
        },
        indent=2,
    ).encode()
    files[MANIFEST] = manifest + b"\n"
    files[SECRETS] = _encrypt(encode_secrets(secrets), dataroom_passphrase, files[MANIFEST])
    out.parent.mkdir(parents=True, exist_ok=True)
    busy = f"another porsegregate dataroom export is writing into {out.parent}; wait for it"
    with folder_lock(out.parent, busy):
        # What a killed export left beside the folder (owner-only, but the CSV is in clear).
        for leftover in (
            *out.parent.glob(f".{out.name}.staging-*"),
            *out.parent.glob(f".{out.name}.old-*"),
        ):
            shutil.rmtree(leftover, ignore_errors=True)
        replace = _refuse_existing(out, force)  # nothing appeared there meanwhile
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
        try:
            os.chmod(staging, 0o700)
            for name, data in files.items():
                fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            swap_dir(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return ExportResult(
        out,
        epoch,
        custodian,
        fingerprint,
        len(secrets.clients),
        tuple(a.code for a in assets),
        tuple(sorted(files)),
        replace,
    )


@dataclass(frozen=True)
class OpenedDataRoom:
    """A data room export, its files checked against its dataroom.json and its secrets
    decrypted."""

    folder: Path
    epoch: str
    custodian: str
    fingerprint: str
    assets: tuple[Asset, ...]
    liabilities: Path
    reserves: Path | None
    secrets: EpochSecrets


def open_dataroom(folder: Path, passphrase: bytes) -> OpenedDataRoom:
    """InputError, naming the file, for a folder that is not an intact data room, or the
    wrong passphrase."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such data room folder")
    manifest_path = folder / MANIFEST
    manifest = read_bytes(manifest_path, f"data room's {MANIFEST} (is this a data room export?)")
    try:
        doc = json.loads(manifest)
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        epoch, custodian, fingerprint = doc["epoch"], doc["custodian"], doc["key_fingerprint"]
        listed = doc["files"]
        assets = tuple(
            Asset(check_asset_code(str(a["code"])), int(a["decimals"])) for a in doc["assets"]
        )
        if not all(isinstance(v, str) for v in (epoch, custodian, fingerprint)):
            raise ValueError("epoch, custodian and key_fingerprint must be strings")
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise ValueError("files must map names to SHA-256")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{manifest_path}: not a {FORMAT} data room: {exc}") from exc
    known = {PUBLIC_KEY, LIABILITIES, *RESERVES}
    if not {PUBLIC_KEY, LIABILITIES} <= set(listed) <= known:
        raise InputError(
            f"{manifest_path}: must list {PUBLIC_KEY} and {LIABILITIES} (and at most one "
            f"reserves file), lists {sorted(listed)}"
        )
    for name, expected in listed.items():
        if _crypto.sha256_hex(read_bytes(folder / name, f"data room file {name}")) != expected:
            raise InputError(
                f"{folder / name}: its SHA-256 is not the one {MANIFEST} lists: the file was "
                "changed after the export"
            )
    try:
        key = _crypto.load_public_key_pem((folder / PUBLIC_KEY).read_bytes())
    except (TypeError, ValueError) as exc:
        raise InputError(f"{folder / PUBLIC_KEY}: not an Ed25519 public key in PEM form") from exc
    if _crypto.fingerprint(key) != fingerprint:
        raise InputError(f"{manifest_path}: key_fingerprint is not that of {PUBLIC_KEY}")
    secrets_path = folder / SECRETS
    plaintext = _decrypt(
        secrets_path, read_bytes(secrets_path, "data room secrets"), passphrase, manifest
    )
    secrets = decode_secrets(plaintext, str(secrets_path))
    if secrets.epoch != epoch:
        raise InputError(f"{secrets_path}: the secrets are for epoch {secrets.epoch}, not {epoch}")
    if sorted(secrets.assets) != sorted(a.code for a in assets):
        raise InputError(f"{secrets_path}: the secrets' assets are not {MANIFEST}'s")
    reserves = next((folder / name for name in RESERVES if name in listed), None)
    return OpenedDataRoom(
        folder, epoch, custodian, fingerprint, assets, folder / LIABILITIES, reserves, secrets
    )


def rebuild_epoch(
    liabilities: Liabilities,
    secrets: EpochSecrets,
    fmt: str = PROTOCOL_VERSION,
    privacy: Privacy | None = None,
    progress: Progress | None = None,
) -> EpochProofs:
    """The epoch's trees, exactly as publish builds them, from its data room's keys alone, in
    the signed format with the signed height and parts (`privacy`).

    InputError when the CSV has a client (or an asset) the secrets have no keys for.
    """
    missing = [a for a in liabilities.accounts if a not in secrets.clients]
    if missing:
        raise InputError(
            f"the data room's secrets have no keys for {len(missing)} client(s) of its "
            f"liabilities CSV, e.g. {missing[0]!r}: the export is incomplete"
        )
    unknown = [a.code for a in liabilities.assets if a.code not in secrets.assets]
    if unknown:
        raise InputError(f"the data room's secrets have no keys for asset(s) {unknown}")
    clients = [secrets.clients[account] for account in liabilities.accounts]
    lookups = [k.lookup for k in clients]
    keys = [k.key for k in clients]
    nonces = [k.nonce for k in clients]
    commitments = account_commitments(secrets.epoch, nonces, liabilities.accounts)
    return build_trees(
        liabilities,
        secrets.epoch,
        KeyArrays.from_lists(lookups, keys, commitments),
        secrets.assets,
        b"",
        progress,
        privacy=privacy,
        fmt=fmt,
    )
