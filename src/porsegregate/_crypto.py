"""The one module that touches cryptographic primitives.

Everything here delegates to `cryptography` (or hashlib/hmac for plain
SHA-256 and HMAC, which are the same primitives). Nothing is hand-rolled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Sequence

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import KeyTypeError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "InvalidSignature",
    "InvalidTag",
    "KeyTypeError",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "constant_time_equal",
    "ed25519_public_key",
    "ed25519_verify",
    "fingerprint",
    "generate_signing_key",
    "hkdf",
    "hkdf_each",
    "hmac_sha256",
    "hmac_sha256_each",
    "load_any_private_key_pem",
    "load_private_key_pem",
    "load_public_key_pem",
    "private_key_pem",
    "public_key_pem",
    "random_bytes",
    "raw_public_key",
    "scrypt_key",
    "sha256",
    "sha256_each",
    "sha256_hex",
    "sha256_records",
]

IV_BYTES = 12


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_records(data: bytes | bytearray | memoryview, width: int) -> bytes:
    """The SHA-256 of each `width`-byte record of `data`, concatenated: one call for a whole
    level of a tree (the hashing is hashlib's; only the loop is batched)."""
    view = memoryview(data)
    if width <= 0 or len(view) % width:
        raise ValueError("data is not a whole number of records")
    sha = hashlib.sha256
    return b"".join([sha(view[i : i + width]).digest() for i in range(0, len(view), width)])


def sha256_each(messages: Iterable[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    return [sha(m).digest() for m in messages]


def hmac_sha256_each(key: bytes, messages: Iterable[bytes]) -> list[bytes]:
    """HMAC-SHA256 under one key of each message (one call for millions of clients): the
    keyed state is computed once and copied, not re-derived from the key each time."""
    keyed = hmac.new(key, digestmod="sha256")
    out = []
    for m in messages:
        h = keyed.copy()
        h.update(m)
        out.append(h.digest())
    return out


def hkdf_each(ikms: Sequence[bytes], salt: bytes, info: bytes, length: int) -> list[bytes]:
    """HKDF-SHA256 (RFC 5869) of each input key with one salt and info: the same bytes as
    `hkdf`, built from one-shot HMAC calls because one `cryptography` HKDF object per client
    costs more than the derivation (tests compare the two and RFC 5869's test vectors)."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length must be 1 to 8160 bytes")
    new = hmac.new
    blocks = [info + bytes((i,)) for i in range(1, (length + 31) // 32 + 1)]
    out = []
    for prk in hmac_sha256_each(salt, ikms):
        keyed = new(prk, digestmod="sha256")
        h = keyed.copy()
        h.update(blocks[0])
        t = h.digest()
        okm = [t]
        for block in blocks[1:]:
            h = keyed.copy()
            h.update(t + block)
            t = h.digest()
            okm.append(t)
        out.append(b"".join(okm)[:length])
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def keystream(key: bytes, label: bytes, length: int) -> bytes:
    """`length` pseudo-random bytes from a 32-byte secret key, one stream per label
    (AES-256-CTR, the counter block SHA-256(label)[:16]): a longer request for the same key
    and label extends the shorter one, so a reader may draw more and stay deterministic."""
    return keystream_at(key, label, 0, length)


def keystream_at(key: bytes, label: bytes, offset: int, length: int) -> bytes:
    """Bytes offset .. offset + length of `keystream(key, label, ...)`, without the ones
    before: the CTR counter starts at the block that holds `offset`."""
    start = int.from_bytes(hashlib.sha256(label).digest()[:16], "big") + offset // 16
    counter = (start % (1 << 128)).to_bytes(16, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    skip = offset % 16
    return (encryptor.update(bytes(skip + length)) + encryptor.finalize())[skip:]


def aes_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes, iv: bytes | None = None) -> bytes:
    """Returns iv || ciphertext || tag; a fresh random iv unless one is given (test vectors)."""
    iv = random_bytes(IV_BYTES) if iv is None else iv
    return iv + AESGCM(key).encrypt(iv, plaintext, aad)


def aes_gcm_decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Raises InvalidTag when the key, aad or blob is wrong."""
    if len(blob) < IV_BYTES + 16:
        raise InvalidTag()
    return AESGCM(key).decrypt(blob[:IV_BYTES], blob[IV_BYTES:], aad)


def scrypt_key(passphrase: bytes, salt: bytes, n: int = 2**15, r: int = 8, p: int = 1) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 PEM, encrypted with the passphrase (the best available scheme)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_private_key_pem(data: bytes, passphrase: bytes) -> Ed25519PrivateKey:
    """Raises ValueError (wrong passphrase, not a key) or TypeError (not Ed25519)."""
    key = serialization.load_pem_private_key(data, password=passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("not an Ed25519 private key")
    return key


def load_any_private_key_pem(data: bytes, passphrase: Callable[[], bytes]) -> Ed25519PrivateKey:
    """A PEM PKCS#8 Ed25519 key, plain or encrypted; `passphrase` is asked only if needed.

    Raises ValueError (not a key, wrong passphrase), KeyTypeError (another algorithm).
    """
    try:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:  # encrypted
            key = serialization.load_pem_private_key(data, password=passphrase())
    except UnsupportedAlgorithm as exc:
        raise KeyTypeError("a key of an unsupported type") from exc
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyTypeError(f"an EC {key.curve.name} key")
    if isinstance(key, rsa.RSAPrivateKey):
        raise KeyTypeError(f"an RSA-{key.key_size} key")
    raise KeyTypeError(f"a {type(key).__name__.lstrip('_')}")


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """Raises ValueError (not a PEM key) or TypeError (not Ed25519, or an unknown algorithm)."""
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise TypeError("a public key of an unsupported algorithm") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("not an Ed25519 public key")
    return key


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_public_key(raw: bytes) -> Ed25519PublicKey:
    """A 32-byte raw Ed25519 public key; ValueError if it is not one."""
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the 32-byte raw public key, hex: what clients and auditors pin."""
    return sha256_hex(raw_public_key(key))


def ed25519_verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
