"""Generate the shared test vectors from fixed keys and seeds.

    python tests/vectors/generate.py [OUTDIR]

Writes codes.json and proofs.json. Both verifiers (Python: tests/test_vectors.py,
JavaScript: tests/js/porverify.test.mjs) must agree with every expectation.
Every rejection case is an attack or a corruption built the way an attacker
would build it (usually with the custodian's own keys, since the custodian is
the party a proof of liabilities must catch).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from porsegregate import _crypto
from porsegregate.bundle import (
    AssetProof,
    Bundle,
    LeafProof,
    bundle_aad,
    decode_bundle,
    encode_bundle,
)
from porsegregate.codes import client_secret, format_code
from porsegregate.epoch import build_epoch
from porsegregate.liabilities import Liabilities
from porsegregate.models import Asset, Attestation, Custodian, ProofFile
from porsegregate.protocol import account_commitment, epoch_keys
from porsegregate.serialization import attestation_bytes, attestation_to_dict, canonical

MASTER = hashlib.sha256(b"porsegregate test vectors: master secret").digest()
SIGNING_SEED = hashlib.sha256(b"porsegregate test vectors: custodian key").digest()
OTHER_SEED = hashlib.sha256(b"porsegregate test vectors: impostor key").digest()
EPOCH = "2026-11"
OLD_EPOCH = "2026-10"
MAX = (1 << 128) - 1

ASSETS = (Asset("BTC", 8), Asset("ETH", 18), Asset("USDT", 6))
BALANCES: dict[str, list[int | None]] = {
    "alice@example.com": [125_000_000, None, 1_500_500_000],
    "bob-7731": [40_000, 12_000_000_000_000_000_001, None],
    "carol.ltd": [None, None, 250_125_250_000],
    "dave": [0, None, None],
    "Zoë Ünïcødé": [1, 1, 1],
    "日本-42": [99_999_999, None, 7],
}
for i in range(20):  # enough clients for non-trivial paths
    BALANCES[f"filler-{i:02d}"] = [1000 * (i + 1), None if i % 2 else 10**15 * i, 10**6 * i]


def _ivs(seed: bytes) -> Any:
    counter = 0

    def next_iv() -> bytes:
        nonlocal counter
        counter += 1
        return hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()[:12]

    return next_iv


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Fixture:
    def __init__(self, epoch: str) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(SIGNING_SEED)
        self.epoch = epoch
        self.proofs = build_epoch(Liabilities(ASSETS, BALANCES), MASTER, epoch)
        self.attestation = Attestation(
            format="porsegregate/1",
            generator="porsegregate test vectors",
            custodian=Custodian("Vector Custody Ltd", "Vector Custody Ltd, company 0000"),
            segregation_arrangement="Client assets held on trust, apart from the custodian's.",
            epoch_id=epoch,
            snapshot_time="2026-11-30T23:59:59Z",
            assets=self.proofs.assets,
            previous_attestation_sha256=None,
        )
        self.att_bytes = attestation_bytes(self.attestation)
        self.entries: dict[bytes, bytes] = {}
        for _, shard in self.proofs.shards(_ivs(b"iv:" + epoch.encode())):
            self.entries.update(shard)
        self.codes = dict(zip(self.proofs.accounts, self.proofs.codes, strict=True))
        self.reiv = _ivs(b"reencrypt:" + epoch.encode())

    def keys(self, account: str) -> Any:
        return epoch_keys(client_secret(MASTER, account), self.epoch)

    def proof(self, account: str, **changes: Any) -> dict[str, Any]:
        k = self.keys(account)
        pf = ProofFile(
            self.att_bytes,
            self.key.sign(self.att_bytes),
            _crypto.public_key_pem(self.key.public_key()),
            k.lookup,
            self.entries[k.lookup],
        )
        return self.as_json(replace(pf, **changes))

    @staticmethod
    def as_json(pf: ProofFile) -> dict[str, Any]:
        return {
            "format": "porsegregate-proof/1",
            "attestation": _b64(pf.attestation),
            "attestation_sig": _b64(pf.attestation_sig),
            "public_key_pem": pf.public_key_pem.decode(),
            "lookup": pf.lookup.hex(),
            "entry": _b64(pf.entry),
        }

    def bundle(self, account: str) -> Bundle:
        k = self.keys(account)
        return decode_bundle(
            _crypto.aes_gcm_decrypt(k.key, self.entries[k.lookup], bundle_aad(self.epoch, k.lookup))
        )

    def reencrypt(self, account: str, plaintext: bytes) -> bytes:
        """What a dishonest custodian can do: it derives every client's keys."""
        k = self.keys(account)
        return _crypto.aes_gcm_encrypt(
            k.key, plaintext, bundle_aad(self.epoch, k.lookup), self.reiv()
        )

    def forged(self, account: str, bundle: Bundle | bytes) -> dict[str, Any]:
        raw = bundle if isinstance(bundle, bytes) else encode_bundle(bundle)
        return self.proof(account, entry=self.reencrypt(account, raw))

    def resigned(
        self, account: str, doc: dict[str, Any] | bytes, key: Ed25519PrivateKey | None = None
    ) -> dict[str, Any]:
        key = key or self.key
        data = doc if isinstance(doc, bytes) else canonical(doc)
        return self.proof(
            account,
            attestation=data,
            attestation_sig=key.sign(data),
            public_key_pem=_crypto.public_key_pem(key.public_key()),
        )


def _edit_leaf(b: Bundle, asset: str, **changes: Any) -> Bundle:
    assets = tuple(
        AssetProof(a.asset, (replace(a.leaves[0], **changes), *a.leaves[1:]))
        if a.asset == asset
        else a
        for a in b.assets
    )
    return replace(b, assets=assets)


def _edit_sibling(
    b: Bundle, asset: str, level: int, hash_: bytes | None = None, total: int | None = None
) -> Bundle:
    leaf = next(a for a in b.assets if a.asset == asset).leaves[0]
    sibs = list(leaf.siblings)
    h, s = sibs[level]
    sibs[level] = (hash_ if hash_ is not None else h, total if total is not None else s)
    return _edit_leaf(b, asset, siblings=tuple(sibs))


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes((data[at] ^ 0x01,)) + data[at + 1 :]


def _typo(code: str) -> str:
    """A one-character typo the checksum catches (deterministic)."""
    from porsegregate.codes import ALPHABET, CodeError, parse_code

    for pos in range(len(code)):
        if code[pos] == "-":
            continue
        for c in ALPHABET:
            if c == code[pos]:
                continue
            candidate = code[:pos] + c + code[pos + 1 :]
            try:
                parse_code(candidate)
            except CodeError as exc:
                if exc.kind == "checksum":
                    return candidate
    raise AssertionError("no typo found")


def proof_cases() -> list[dict[str, Any]]:
    f = Fixture(EPOCH)
    old = Fixture(OLD_EPOCH)
    fp = _crypto.fingerprint(f.key.public_key())
    impostor = Ed25519PrivateKey.from_private_bytes(OTHER_SEED)
    cases: list[dict[str, Any]] = []

    def ok(name: str, account: str, proof: dict[str, Any], expect_key: str | None = None) -> None:
        balances = {
            ASSETS[i].code: str(v) for i, v in enumerate(BALANCES[account]) if v is not None
        }
        cases.append(
            {
                "name": name,
                "account_id": account,
                "code": f.codes[account],
                "expect_key": expect_key,
                "proof": proof,
                "expect": {"verified": True, "balances": balances},
            }
        )

    def bad(
        name: str,
        account: str,
        proof: dict[str, Any],
        check: str,
        asset: str | None = None,
        code: str | None = None,
        expect_key: str | None = None,
        typed: str | None = None,
    ) -> None:
        cases.append(
            {
                "name": name,
                "account_id": typed or account,
                "code": code or f.codes[account],
                "expect_key": expect_key,
                "proof": proof,
                "expect": {"verified": False, "failed": {"id": check, "asset": asset}},
            }
        )

    for account in ("alice@example.com", "bob-7731", "carol.ltd", "dave", "Zoë Ünïcødé", "日本-42"):
        ok(f"valid {account}", account, f.proof(account))
    ok("valid with pinned key", "alice@example.com", f.proof("alice@example.com"), fp)
    ok(
        "valid with pinned key written in groups",
        "bob-7731",
        f.proof("bob-7731"),
        " ".join(fp[i : i + 4] for i in range(0, 64, 4)).upper(),
    )

    a = "alice@example.com"
    b = f.bundle(a)
    doc = attestation_to_dict(f.attestation)

    bad("code typo (checksum)", a, f.proof(a), "code", code=_typo(f.codes[a]))
    bad("code of another client", a, f.proof(a), "proof-found", code=f.codes["bob-7731"])
    bad(
        "right code, other account id typed",
        a,
        f.proof(a),
        "bundle-account",
        typed="alice@example.org",
    )
    bad(
        "attestation edited, old signature",
        a,
        f.proof(a, attestation=f.att_bytes.replace(b'"total":"', b'"total":"1', 1)),
        "attestation-signature",
    )
    bad(
        "signature bit flipped",
        a,
        f.proof(a, attestation_sig=_flip(f.key.sign(f.att_bytes), 5)),
        "attestation-signature",
    )
    bad(
        "re-signed by an impostor, key pinned (T8)",
        a,
        f.resigned(a, doc, impostor),
        "key-pin",
        expect_key=fp,
    )
    bad("pinned key differs", a, f.proof(a), "key-pin", expect_key="00" * 32)
    canon = canonical(doc)
    bad(
        "attestation not in canonical form (whitespace), validly signed",
        a,
        f.resigned(a, json.dumps(doc, indent=1, sort_keys=True).encode()),
        "format",
    )
    # A duplicate key: parsers that keep the first value and parsers that keep the
    # last would read different totals. Canonical form rules it out.
    dup = canon.replace(b'"total":"', b'"total":"1","total":"', 1)
    bad("attestation with a duplicated key, validly signed", a, f.resigned(a, dup), "format")
    bad(
        "attestation with a float for an integer, validly signed",
        a,
        f.resigned(a, canon.replace(b'"amount_bytes":16', b'"amount_bytes":16.0', 1)),
        "format",
    )
    bad(
        "unsupported format, validly signed",
        a,
        f.resigned(a, {**doc, "format": "porsegregate/2"}),
        "format",
    )
    under = json.loads(json.dumps(doc))
    under["liabilities"]["assets"][0]["total"] = str(
        int(under["liabilities"]["assets"][0]["total"]) - 1
    )
    bad("understated total, validly signed (T1)", a, f.resigned(a, under), "root-total", "BTC")
    other_root = json.loads(json.dumps(doc))
    other_root["liabilities"]["assets"][2]["root"] = "ab" * 32
    bad("different root, validly signed (T8)", a, f.resigned(a, other_root), "root-hash", "USDT")
    bad(
        "encrypted entry altered",
        a,
        f.proof(a, entry=_flip(f.entries[f.keys(a).lookup], 40)),
        "decrypt",
    )
    bad(
        "entry moved to another lookup id",
        a,
        f.proof(a, entry=f.entries[f.keys("bob-7731").lookup]),
        "decrypt",
    )
    bad(
        "sibling sum lowered (T1)",
        a,
        f.forged(
            a,
            _edit_sibling(
                b,
                "BTC",
                0,
                total=b.assets[0].leaves[0].siblings[0][1] - 1
                if b.assets[0].leaves[0].siblings[0][1]
                else 1,
            ),
        ),
        "root-hash",
        "BTC",
    )
    bad(
        "sibling hash changed",
        a,
        f.forged(a, _edit_sibling(b, "USDT", 2, hash_=b"\x00" * 32)),
        "root-hash",
        "USDT",
    )
    bad(
        "wrap-around sibling sum (T2)",
        a,
        f.forged(a, _edit_sibling(b, "BTC", 1, total=MAX)),
        "sum-range",
        "BTC",
    )
    bad(
        "balance understated in the proof",
        a,
        f.forged(a, _edit_leaf(b, "BTC", amount=b.assets[0].leaves[0].amount - 1)),
        "root-hash",
        "BTC",
    )
    short = _edit_leaf(b, "BTC", siblings=b.assets[0].leaves[0].siblings[:-1])
    bad("path one level short (T6, T10)", a, f.forged(a, short), "path-height", "BTC")
    longer = _edit_leaf(b, "BTC", siblings=(*b.assets[0].leaves[0].siblings, (b"\x11" * 32, 0)))
    bad("path one level long (T10)", a, f.forged(a, longer), "path-height", "BTC")
    h = b.assets[0].leaves[0].height
    bad(
        "index outside the tree (T10)",
        a,
        f.forged(a, _edit_leaf(b, "BTC", index=1 << h)),
        "index-range",
        "BTC",
    )
    bad(
        "index bit flipped",
        a,
        f.forged(a, _edit_leaf(b, "BTC", index=b.assets[0].leaves[0].index ^ 1)),
        "root-hash",
        "BTC",
    )
    dup = replace(b, assets=(AssetProof("BTC", (b.assets[0].leaves[0],) * 2), *b.assets[1:]))
    bad("one leaf counted twice", a, f.forged(a, dup), "index-range", "BTC")
    unknown = replace(b, assets=(*b.assets, AssetProof("XRP", (LeafProof(0, 5, 0, ()),))))
    bad("asset not in the attestation", a, f.forged(a, unknown), "asset-known", "XRP")
    bad("trailing bytes in the bundle", a, f.forged(a, encode_bundle(b) + b"\x00"), "bundle-format")
    bad("truncated bundle", a, f.forged(a, encode_bundle(b)[:-7]), "bundle-format")
    # T4: carol is shown alice's leaf and path (same asset); she rebuilds her own leaf.
    carol = f.bundle("carol.ltd")
    shared = replace(carol, assets=(AssetProof("USDT", b.assets[-1].leaves),))
    bad(
        "another client's leaf (T4)",
        "carol.ltd",
        f.forged("carol.ltd", shared),
        "root-hash",
        "USDT",
    )
    # T9: last epoch's bundle, re-encrypted for this epoch's lookup id.
    bad("replayed proof from an older epoch (T9)", a, f.forged(a, old.bundle(a)), "bundle-epoch")
    return cases


def code_cases() -> dict[str, Any]:
    cases = []
    for account in ("alice@example.com", "Zoë Ünïcødé", "日本-42", "x"):
        secret = client_secret(MASTER, account)
        for epoch in (EPOCH, OLD_EPOCH):
            k = epoch_keys(secret, epoch)
            cases.append(
                {
                    "master_secret": MASTER.hex(),
                    "account_id": account,
                    "code": format_code(secret),
                    "secret": secret.hex(),
                    "epoch": epoch,
                    "nonce": k.nonce.hex(),
                    "lookup": k.lookup.hex(),
                    "key": k.key.hex(),
                    "commitment": account_commitment(epoch, k.nonce, account).hex(),
                }
            )
    code = format_code(client_secret(MASTER, "alice@example.com"))
    return {
        "cases": cases,
        "equivalent_spellings": [
            {"code": code.lower(), "same_as": code},
            {"code": code.replace("-", " "), "same_as": code},
            {"code": code.replace("-", ""), "same_as": code},
        ],
        "bad_codes": [
            {"code": "", "error": "format"},
            {"code": code[:-1], "error": "format"},
            {"code": code + "0", "error": "format"},
            {"code": code[:-1] + "U", "error": "format"},
            {"code": _typo(code), "error": "checksum"},
        ],
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in (("codes.json", code_cases()), ("proofs.json", {"cases": proof_cases()})):
        (out / name).write_text(
            json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
