"""Generate the EVM personal_sign vectors from fixed, test-only keys.

    python tests/vectors/generate_evm.py [OUTDIR]

Writes evm_signatures.json, checked by tests/test_chain_evm.py. The keys are
sha256 of fixed labels (never keys from documentation, which are public and
funded by strangers on every chain). Signatures are made with eth-account
directly and public keys derived from the private keys with eth-keys, so the
expectations do not come from the code under test. Each bad case says which
error it must raise and a substring its message must contain.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.datatypes import PrivateKey

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

KEY_LABELS = ("porsegregate test evm key 1", "porsegregate test evm key 2")
MESSAGE = (
    "porsegregate proof of control\ncustodian: Example Custody Ltd\nepoch: 2026-11\nchain: eip155:1"
)


def key(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def address(private_key: bytes) -> str:
    return str(PrivateKey(private_key).public_key.to_checksum_address())


def public_key(private_key: bytes) -> str:
    return PrivateKey(private_key).public_key.to_compressed_bytes().hex()


def sign(message: str, private_key: bytes) -> bytes:
    signature = bytes(Account.sign_message(encode_defunct(text=message), private_key).signature)
    assert len(signature) == 65 and signature[64] in (27, 28)
    return signature


def recovered(message: str, signature: bytes) -> str:
    return str(Account.recover_message(encode_defunct(text=message), signature=signature))


def with_s(signature: bytes, s: int, v: int) -> bytes:
    return signature[:32] + s.to_bytes(32, "big") + bytes([v])


def cases() -> dict[str, Any]:
    k1, k2 = (key(label) for label in KEY_LABELS)
    a1, a2 = address(k1), address(k2)
    sig = sign(MESSAGE, k1)
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []

    def ok(name: str, message: str, addr: str, signature: str, private_key: bytes) -> None:
        good.append(
            {
                "name": name,
                "message": message,
                "address": addr,
                "signature": signature,
                "expect_address": address(private_key),
                "expect_public_key": public_key(private_key),
            }
        )

    def fail(name: str, message: str, addr: str, signature: str, error: str, text: str) -> None:
        bad.append(
            {
                "name": name,
                "message": message,
                "address": addr,
                "signature": signature,
                "error": error,
                "contains": text,
            }
        )

    ok("v 27/28", MESSAGE, a1, "0x" + sig.hex(), k1)
    ok("v 0/1", MESSAGE, a1, "0x" + (sig[:64] + bytes([sig[64] - 27])).hex(), k1)
    ok("address all lowercase", MESSAGE, a1.lower(), "0x" + sig.hex(), k1)
    ok("address all uppercase", MESSAGE, "0x" + a1[2:].upper(), "0x" + sig.hex(), k1)
    ok("signature uppercase hex", MESSAGE, a1, "0x" + sig.hex().upper(), k1)
    unicode = "Zürich reserves ✓ 2026-11 — 準備金"
    ok("non-ASCII message (UTF-8)", unicode, a2, "0x" + sign(unicode, k2).hex(), k2)
    ok("empty message", "", a2, "0x" + sign("", k2).hex(), k2)

    # Someone else's signature, or the right signature over another text.
    wrong = MESSAGE.replace("2026-11", "2026-10")
    other = recovered(wrong, sig)
    assert other not in (a1, a2)
    fail(
        "wrong message",
        wrong,
        a1,
        "0x" + sig.hex(),
        "SignatureError",
        f"signature was made by {other}, not by the declared address {a1}",
    )
    fail(
        "other address declared",
        MESSAGE,
        a2,
        "0x" + sig.hex(),
        "SignatureError",
        f"signature was made by {a1}, not by the declared address {a2}",
    )
    s = int.from_bytes(sig[32:64], "big")
    for name, tampered in (
        ("tampered s", with_s(sig, s - 1, sig[64])),
        ("flipped recovery byte v", with_s(sig, s, 55 - sig[64])),
    ):
        signer = recovered(MESSAGE, tampered)
        assert signer != a1
        fail(
            name,
            MESSAGE,
            a1,
            "0x" + tampered.hex(),
            "SignatureError",
            f"signature was made by {signer}, not by the declared address {a1}",
        )
    # Same signer to eth-account, but the malleated twin (EIP-2): rejected.
    high_s = with_s(sig, N - s, 55 - sig[64])
    assert recovered(MESSAGE, high_s) == a1
    fail("high s (malleated)", MESSAGE, a1, "0x" + high_s.hex(), "SignatureError", "upper half")
    fail(
        "r is zero",
        MESSAGE,
        a1,
        "0x" + (bytes(32) + sig[32:]).hex(),
        "SignatureError",
        "out of range",
    )
    fail(
        "s is the curve order",
        MESSAGE,
        a1,
        "0x" + with_s(sig, N, sig[64]).hex(),
        "SignatureError",
        "out of range",
    )
    for v in (29, 2, 37):
        fail(
            f"v is {v}",
            MESSAGE,
            a1,
            "0x" + (sig[:64] + bytes([v])).hex(),
            "SignatureError",
            f"recovery byte v is {v}",
        )
    hex_sig = sig.hex()
    fail("no 0x", MESSAGE, a1, hex_sig, "SignatureError", "must be '0x'")
    fail("non-hex", MESSAGE, a1, "0x" + hex_sig[:-2] + "zz", "SignatureError", "'z'")
    fail("base64 instead of hex", MESSAGE, a1, "0x" + "A+/=" * 32 + "AA", "SignatureError", "'+'")
    fail("64 bytes", MESSAGE, a1, "0x" + hex_sig[:128], "SignatureError", "has 128 hexadecimal")
    fail("66 bytes", MESSAGE, a1, "0x" + hex_sig + "00", "SignatureError", "has 132 hexadecimal")
    fail("odd length", MESSAGE, a1, "0x" + hex_sig[:-1], "SignatureError", "has 129 hexadecimal")
    fail("empty", MESSAGE, a1, "", "SignatureError", "must be '0x'")
    fail("only 0x", MESSAGE, a1, "0x", "SignatureError", "has 0 hexadecimal")
    bad_checksum = a1[:2] + a1[2:].swapcase()
    assert bad_checksum not in (a1, a1.lower(), "0x" + a1[2:].upper())
    fail(
        "declared address with a wrong checksum",
        MESSAGE,
        bad_checksum,
        "0x" + hex_sig,
        "AddressError",
        "EIP-55 checksum",
    )
    fail("declared address too short", MESSAGE, a1[:-2], "0x" + hex_sig, "AddressError", "has 38")

    return {
        "comment": "test-only keys: sha256 of each label; never fund them",
        "keys": [
            {"label": label, "private_key": key(label).hex(), "address": address(key(label))}
            for label in KEY_LABELS
        ],
        "good": good,
        "bad": bad,
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evm_signatures.json").write_text(
        json.dumps(cases(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
