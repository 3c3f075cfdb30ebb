"""Generate the Bitcoin proof-of-control vectors from fixed, test-only keys.

    python tests/vectors/generate_bitcoin.py [OUTDIR]

Writes bitcoin_signatures.json, checked by tests/test_chain_bitcoin.py. Needs
Node.js and npm: it installs bip322-js (and with it bitcoinjs-lib,
bitcoinjs-message and ecpair) into a temporary directory, and every expectation
comes from there, not from the code under test:

* addresses and output scripts: bitcoinjs-lib's payments;
* BIP-137 signatures: bitcoinjs-message (RFC 6979, so deterministic; the tests
  check that porsegregate's own sign_bip137 makes the same bytes);
* BIP-322 simple signatures: bip322-js's Signer (its taproot signatures use
  random auxiliary data, so they change on every run; they are still valid);
* public keys: ecpair.

The keys are sha256 of fixed labels (never keys from documentation, which are
public and funded by strangers). The BIP-322 "Hello World" vectors are copied
from the BIP: they check that verification agrees with the specification, with
the BIP's address and signatures only (its private key is not used or stored).
Each bad case says which error it must raise and a substring of its message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BIP322_JS = "bip322-js@3.0.0"
KEY_LABELS = ("porsegregate test bitcoin key 1", "porsegregate test bitcoin key 2")
NETWORKS = ("mainnet", "testnet", "signet", "regtest")
TYPES = ("p2pkh", "p2pkh-uncompressed", "p2sh-p2wpkh", "p2wpkh", "p2tr")
MESSAGE = (
    "porsegregate proof of control\ncustodian: Example Custody Ltd\nepoch: 2026-11\nchain: bitcoin"
)
OTHER_MESSAGE = MESSAGE.replace("2026-11", "2026-12")
UNICODE_MESSAGE = "Prüfung der Verwahrung ✓ — 2026-11"

# BIP-322, "Test vectors" (address and signatures only).
BIP322_ADDRESS = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l"
BIP322_VECTORS = (
    (
        "",
        "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z4"
        "6TSDtS40ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
    ),
    (
        "",
        "AkgwRQIhAPkJ1Q4oYS0htvyuSFHLxRQpFAY56b70UvE7Dxazen0ZAiAtZfFz1S6T6I23MWI2lK/pcNTWncuyL8UL"
        "+oMdydVgzAEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ),
    (
        "Hello World",
        "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29z"
        "JLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=",
    ),
    (
        "Hello World",
        "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYa"
        "bHyR8eGhowEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
    ),
)

JS = r"""
const bitcoin = require('bitcoinjs-lib');
const ecc = require('@bitcoinerlab/secp256k1');
const { ECPairFactory } = require('ecpair');
const message = require('bitcoinjs-message');
const { Signer, Verifier } = require('bip322-js');
bitcoin.initEccLib(ecc);
const ECPair = ECPairFactory(ecc);
const NETS = { mainnet: bitcoin.networks.bitcoin, testnet: bitcoin.networks.testnet,
               signet: bitcoin.networks.testnet, regtest: bitcoin.networks.regtest };

function payment(type, key, network) {
  const pub = Buffer.from(key.publicKey);
  if (type === 'p2pkh') return bitcoin.payments.p2pkh({ pubkey: pub, network });
  if (type === 'p2pkh-uncompressed') {
    const loose = ECPair.fromPrivateKey(key.privateKey, { compressed: false });
    return bitcoin.payments.p2pkh({ pubkey: Buffer.from(loose.publicKey), network });
  }
  if (type === 'p2wpkh') return bitcoin.payments.p2wpkh({ pubkey: pub, network });
  if (type === 'p2sh-p2wpkh') {
    const redeem = bitcoin.payments.p2wpkh({ pubkey: pub, network });
    return bitcoin.payments.p2sh({ redeem, network });
  }
  if (type === 'p2tr') {
    return bitcoin.payments.p2tr({ internalPubkey: pub.subarray(1, 33), network });
  }
  throw new Error('unknown type ' + type);
}

const SEGWIT = { 'p2sh-p2wpkh': 'p2sh(p2wpkh)', 'p2wpkh': 'p2wpkh' };

function run(job) {
  const network = NETS[job.network];
  const key = job.key ? ECPair.fromPrivateKey(Buffer.from(job.key, 'hex'), { network }) : null;
  if (job.op === 'address') {
    const p = payment(job.type, key, network);
    return { address: p.address, script: Buffer.from(p.output).toString('hex'),
             public_key: Buffer.from(key.publicKey).toString('hex'),
             output_key: job.type === 'p2tr' ? Buffer.from(p.pubkey).toString('hex') : null,
             wif: key.toWIF() };
  }
  if (job.op === 'bip137') {
    const compressed = job.type !== 'p2pkh-uncompressed';
    const segwitType = SEGWIT[job.header_as];
    const options = segwitType ? { segwitType } : undefined;
    const signature = message.sign(job.message, key.privateKey, compressed, options);
    return { signature: signature.toString('base64') };
  }
  if (job.op === 'bip322') return { signature: Signer.sign(key.toWIF(), job.address, job.message) };
  if (job.op === 'verify') {
    try { return { valid: Verifier.verifySignature(job.address, job.message, job.signature) }; }
    catch (e) { return { valid: false, error: String(e && e.message || e) }; }
  }
  throw new Error('unknown op ' + job.op);
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(run)));
});
"""


class Js:
    """bip322-js and its bitcoinjs dependencies in a temporary npm prefix."""

    def __init__(self, prefix: Path) -> None:
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
             "--ignore-scripts", "--loglevel=error", BIP322_JS],
            check=True,
        )  # fmt: skip
        self.script = prefix / "vectors.cjs"
        self.script.write_text(JS)
        modules = prefix / "node_modules"
        self.versions = {
            name: json.loads((modules / name / "package.json").read_text())["version"]
            for name in ("bip322-js", "bitcoinjs-lib", "bitcoinjs-message", "ecpair")
        }

    def run(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["node", str(self.script)],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            check=True,
            cwd=self.script.parent,
        )
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    def one(self, **job: Any) -> dict[str, Any]:
        return self.run([job])[0]


def key(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def flip_byte(signature: str, index: int) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def with_header(signature: str, header: int) -> str:
    raw = base64.b64decode(signature)
    return base64.b64encode(bytes([header]) + raw[1:]).decode()


def cases(js: Js) -> dict[str, Any]:
    k1, k2 = (key(label) for label in KEY_LABELS)
    keys = {"1": k1, "2": k2}

    addresses: list[dict[str, Any]] = []
    by: dict[tuple[str, str, str], dict[str, Any]] = {}
    jobs = [
        {"op": "address", "key": k.hex(), "type": t, "network": n}
        for name, k in keys.items()
        for n in NETWORKS
        for t in TYPES
    ]
    for job, result in zip(jobs, js.run(jobs), strict=True):
        name = "1" if job["key"] == k1.hex() else "2"
        entry = {
            "key": name,
            "network": job["network"],
            "type": job["type"],
            "address": result["address"],
            "script_pubkey": result["script"],
        }
        addresses.append(entry)
        by[(name, job["network"], job["type"])] = {**entry, **result}

    def addr(name: str, network: str, kind: str) -> str:
        return str(by[(name, network, kind)]["address"])

    def pub(name: str) -> str:
        return str(by[(name, "mainnet", "p2wpkh")]["public_key"])

    def bip137(name: str, kind: str, message: str, header_as: str | None = None) -> str:
        job = {"op": "bip137", "key": keys[name].hex(), "type": kind, "network": "mainnet"}
        job.update(message=message, header_as=header_as if header_as is not None else kind)
        return str(js.one(**job)["signature"])

    # ---------------------------------------------------------------- BIP-137
    good137: list[dict[str, Any]] = []

    def add137(
        name: str, key_name: str, network: str, kind: str, message: str, **extra: Any
    ) -> None:
        signature = bip137(key_name, kind, message, extra.pop("header_as", None))
        good137.append(
            {
                "name": name,
                "network": network,
                "type": kind,
                "address": addr(key_name, network, extra.pop("address_type", kind)),
                "message": message,
                "signature": signature,
                "header": base64.b64decode(signature)[0],
                "public_key": pub(key_name),
                "key": key_name,
                **extra,
            }
        )

    add137("p2pkh compressed", "1", "mainnet", "p2pkh", MESSAGE)
    add137("p2pkh uncompressed", "1", "mainnet", "p2pkh-uncompressed", MESSAGE)
    add137("p2sh-p2wpkh", "1", "mainnet", "p2sh-p2wpkh", MESSAGE)
    add137("p2wpkh", "1", "mainnet", "p2wpkh", MESSAGE)
    add137("p2wpkh on testnet, second key", "2", "testnet", "p2wpkh", MESSAGE)
    add137("p2pkh on regtest, non-ASCII message", "2", "regtest", "p2pkh", UNICODE_MESSAGE)
    # Electrum (and tools built on signmessagewithprivkey) sign segwit addresses
    # with the compressed-P2PKH header 31-34.
    add137(
        "p2wpkh with the Electrum header 31-34",
        "1",
        "mainnet",
        "p2wpkh",
        MESSAGE,
        header_as="p2pkh",
        convention="electrum",
    )
    add137(
        "p2sh-p2wpkh with the Electrum header 31-34",
        "1",
        "mainnet",
        "p2sh-p2wpkh",
        MESSAGE,
        header_as="p2pkh",
        convention="electrum",
    )
    for case in good137:  # the other implementation agrees they are valid
        assert js.one(op="verify", network=case["network"], **_vsm(case))["valid"], case["name"]

    s_p2pkh = bip137("1", "p2pkh", MESSAGE)
    s_unc = bip137("1", "p2pkh-uncompressed", MESSAGE)
    s_wpkh = bip137("1", "p2wpkh", MESSAGE)
    s_sh = bip137("1", "p2sh-p2wpkh", MESSAGE)
    bad137 = [
        _bad("other message", addr("1", "mainnet", "p2wpkh"), OTHER_MESSAGE, s_wpkh,
             "SignatureError", "signature does not match the address"),
        _bad("other address (the second key's)", addr("2", "mainnet", "p2wpkh"), MESSAGE, s_wpkh,
             "SignatureError", "signature does not match the address"),
        _bad("tampered signature (a byte of s flipped)", addr("1", "mainnet", "p2pkh"), MESSAGE,
             flip_byte(s_p2pkh, 50), "SignatureError", "signature does not match the address"),
        _bad("uncompressed-key signature for the compressed-key address",
             addr("1", "mainnet", "p2pkh"), MESSAGE, s_unc,
             "SignatureError", "signature does not match the address"),
        _bad("malformed base64", addr("1", "mainnet", "p2pkh"), MESSAGE, "H%%not*base64",
             "SignatureError", "malformed signature: not base64"),
        _bad("64 bytes instead of 65", addr("1", "mainnet", "p2pkh"), MESSAGE,
             base64.b64encode(base64.b64decode(s_p2pkh)[:64]).decode(),
             "SignatureError", "expected 65 bytes, got 64"),
        _bad("header byte 43", addr("1", "mainnet", "p2pkh"), MESSAGE, with_header(s_p2pkh, 43),
             "SignatureError", "header byte 43 is outside 27-42"),
        _bad("header byte 26", addr("1", "mainnet", "p2pkh"), MESSAGE, with_header(s_p2pkh, 26),
             "SignatureError", "header byte 26 is outside 27-42"),
        _bad("wrong network: a testnet address checked as mainnet",
             addr("1", "testnet", "p2wpkh"), MESSAGE, s_wpkh, "AddressError", "wrong network"),
        _bad("header claims p2wpkh, address is p2pkh", addr("1", "mainnet", "p2pkh"), MESSAGE,
             s_wpkh, "SignatureError", "claims a p2wpkh address"),
        _bad("header claims p2sh-p2wpkh, address is p2wpkh", addr("1", "mainnet", "p2wpkh"),
             MESSAGE, s_sh, "SignatureError", "claims a p2sh-p2wpkh address"),
        _bad("header claims p2wpkh, address is p2sh-p2wpkh", addr("1", "mainnet", "p2sh-p2wpkh"),
             MESSAGE, s_wpkh, "SignatureError", "claims a p2wpkh address"),
        _bad("uncompressed header for a segwit address", addr("1", "mainnet", "p2wpkh"), MESSAGE,
             s_unc, "SignatureError", "claims a p2pkh-uncompressed address"),
        _bad("taproot address", addr("1", "mainnet", "p2tr"), MESSAGE, s_p2pkh,
             "SignatureError", "BIP-137 cannot prove control of a p2tr address"),
    ]  # fmt: skip

    # ---------------------------------------------------------------- BIP-322
    good322: list[dict[str, Any]] = []

    def add322(name: str, key_name: str, network: str, kind: str, message: str) -> None:
        address = addr(key_name, network, kind)
        signature = js.one(
            op="bip322", key=keys[key_name].hex(), network=network, address=address, message=message
        )["signature"]
        entry = by[(key_name, network, kind)]
        good322.append(
            {
                "name": name,
                "network": network,
                "type": kind,
                "address": address,
                "message": message,
                "signature": signature,
                "public_key": entry["output_key"] if kind == "p2tr" else entry["public_key"],
                "key": key_name,
            }
        )

    add322("p2wpkh", "1", "mainnet", "p2wpkh", MESSAGE)
    add322("p2tr key path", "1", "mainnet", "p2tr", MESSAGE)
    add322("p2sh-p2wpkh", "1", "mainnet", "p2sh-p2wpkh", MESSAGE)
    add322("p2wpkh on regtest, second key", "2", "regtest", "p2wpkh", MESSAGE)
    add322("p2tr on testnet, second key", "2", "testnet", "p2tr", MESSAGE)
    add322("p2tr on signet, non-ASCII message", "1", "signet", "p2tr", UNICODE_MESSAGE)
    add322("p2wpkh, empty message", "1", "mainnet", "p2wpkh", "")
    for case in good322:
        assert js.one(op="verify", network=case["network"], **_vsm(case))["valid"], case["name"]
    bip_vectors = [
        {
            "name": f"BIP-322 test vector {i + 1} (message {message!r})",
            "network": "mainnet",
            "type": "p2wpkh",
            "address": BIP322_ADDRESS,
            "message": message,
            "signature": signature,
        }
        for i, (message, signature) in enumerate(BIP322_VECTORS)
    ]

    w1 = good322[0]["signature"]
    tr1 = good322[1]["signature"]
    bad322 = [
        _bad("other message", addr("1", "mainnet", "p2wpkh"), OTHER_MESSAGE, w1,
             "SignatureError", "does not verify"),
        _bad("other address (the second key's)", addr("2", "mainnet", "p2wpkh"), MESSAGE, w1,
             "SignatureError", "does not verify"),
        _bad("tampered p2wpkh signature (a byte of r flipped)", addr("1", "mainnet", "p2wpkh"),
             MESSAGE, flip_byte(w1, 10), "SignatureError", "does not verify"),
        _bad("tampered p2tr signature", addr("1", "mainnet", "p2tr"), MESSAGE,
             flip_byte(tr1, 20), "SignatureError", "does not verify"),
        _bad("p2tr signature against the same key's p2wpkh address", addr("1", "mainnet", "p2wpkh"),
             MESSAGE, tr1, "SignatureError", "does not verify"),
        _bad("BIP-322 test vector against another message", BIP322_ADDRESS, "Hello World!",
             BIP322_VECTORS[2][1], "SignatureError", "does not verify"),
        _bad("malformed base64", addr("1", "mainnet", "p2wpkh"), MESSAGE, "AkgwRQIhA???",
             "SignatureError", "malformed signature: not base64"),
        _bad("truncated witness", addr("1", "mainnet", "p2wpkh"), MESSAGE,
             base64.b64encode(base64.b64decode(w1)[:-5]).decode(),
             "SignatureError", "malformed signature: witness item runs past the end"),
        _bad("a BIP-137 signature given as BIP-322", addr("1", "mainnet", "p2wpkh"), MESSAGE,
             s_wpkh, "SignatureError", "malformed signature"),
        _bad("wrong network: a mainnet address checked as regtest",
             addr("1", "mainnet", "p2wpkh"), MESSAGE, w1, "AddressError", "wrong network",
             network="regtest"),
        _bad("p2pkh address", addr("1", "mainnet", "p2pkh"), MESSAGE, w1,
             "SignatureError", "cannot prove control of the p2pkh address"),
    ]  # fmt: skip
    # The other implementation rejects them too, except the BIP-137 signature: bip322-js
    # falls back to BIP-137 on purpose, porsegregate keeps the two proof types apart.
    for case in bad322:
        if case["error"] == "SignatureError" and case["signature"] != s_wpkh:
            assert not js.one(op="verify", network=case["network"], **_vsm(case))["valid"], case

    return {
        "comment": (
            "Generated by tests/vectors/generate_bitcoin.py; checked by "
            "tests/test_chain_bitcoin.py. Test-only keys (sha256 of the labels). "
            "Addresses, signatures and public keys come from bitcoinjs-lib, "
            "bitcoinjs-message, bip322-js and ecpair, not from porsegregate."
        ),
        "generated_with": js.versions,
        "keys": [
            {"name": n, "label": label, "private_key": keys[n].hex(), "public_key": pub(n)}
            for n, label in zip(("1", "2"), KEY_LABELS, strict=True)
        ],
        "addresses": addresses,
        "bip137": {"good": good137, "bad": bad137},
        "bip322": {"good": good322, "bip_vectors": bip_vectors, "bad": bad322},
    }


def _vsm(case: dict[str, Any]) -> dict[str, Any]:
    return {"address": case["address"], "message": case["message"], "signature": case["signature"]}


def _bad(
    name: str,
    address: str,
    message: str,
    signature: str,
    error: str,
    match: str,
    network: str = "mainnet",
) -> dict[str, Any]:
    return {
        "name": name,
        "network": network,
        "address": address,
        "message": message,
        "signature": signature,
        "error": error,
        "match": match,
    }


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    with tempfile.TemporaryDirectory(prefix="porsegregate-bip322js-") as prefix:
        data = cases(Js(Path(prefix)))
    path = out / "bitcoin_signatures.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
