"""The custodian's signing key and master secret, both encrypted at rest with a passphrase.

The signing key is PKCS#8 PEM (so openssl and other tools can use it); the
master secret, from which every client code is derived, is AES-256-GCM under
a scrypt key of the same passphrase.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from .. import _crypto
from .._fs import atomic_write, read_bytes, write_secret
from ..errors import ConfigError

MASTER_FORMAT = "porsegregate-master-secret/1"
MASTER_BYTES = 32
MIN_PASSPHRASE = 8


def check_passphrase(passphrase: bytes) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise ConfigError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")


def create_signing_key(
    key_path: Path, pub_path: Path, passphrase: bytes, overwrite: bool = False
) -> _crypto.Ed25519PrivateKey:
    check_passphrase(passphrase)
    key = _crypto.generate_signing_key()
    write_secret(key_path, _crypto.private_key_pem(key, passphrase), overwrite)
    atomic_write(pub_path, _crypto.public_key_pem(key.public_key()))
    return key


def load_signing_key(path: Path, passphrase: bytes) -> _crypto.Ed25519PrivateKey:
    data = read_bytes(path, "signing key")
    try:
        return _crypto.load_private_key_pem(data, passphrase)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(
            f"{path}: cannot decrypt the signing key: wrong passphrase or not a PEM key"
        ) from exc


def load_public_key(path: Path) -> _crypto.Ed25519PublicKey:
    data = read_bytes(path, "public key")
    try:
        return _crypto.load_public_key_pem(data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not an Ed25519 public key in PEM form") from exc


def _encrypt_master(secret: bytes, passphrase: bytes) -> bytes:
    salt = _crypto.random_bytes(16)
    n, r, p = 2**15, 8, 1
    blob = _crypto.aes_gcm_encrypt(
        _crypto.scrypt_key(passphrase, salt, n, r, p), secret, MASTER_FORMAT.encode()
    )
    doc = {
        "format": MASTER_FORMAT,
        "kdf": {"name": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(salt).decode()},
        "aead": "AES-256-GCM",
        "ciphertext": base64.b64encode(blob).decode(),
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def create_master_secret(path: Path, passphrase: bytes, overwrite: bool = False) -> bytes:
    check_passphrase(passphrase)
    secret = _crypto.random_bytes(MASTER_BYTES)
    write_secret(path, _encrypt_master(secret, passphrase), overwrite)
    return secret


def load_master_secret(path: Path, passphrase: bytes) -> bytes:
    data = read_bytes(path, "master secret")
    try:
        doc = json.loads(data)
        if doc["format"] != MASTER_FORMAT or doc["kdf"]["name"] != "scrypt":
            raise ValueError("unknown format")
        kdf = doc["kdf"]
        key = _crypto.scrypt_key(
            passphrase, base64.b64decode(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        )
        blob = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a porsegregate master secret file") from exc
    try:
        secret = _crypto.aes_gcm_decrypt(key, blob, MASTER_FORMAT.encode())
    except _crypto.InvalidTag as exc:
        raise ConfigError(f"{path}: cannot decrypt the master secret: wrong passphrase") from exc
    if len(secret) != MASTER_BYTES:
        raise ConfigError(f"{path}: the master secret has the wrong length")
    return secret


def sign(key: _crypto.Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)
