"""Generate the shared test vectors from fixed keys and seeds.

    python tests/vectors/generate.py [OUTDIR]

Writes codes.json, proofs.json, proofs-v2.json, shards-v2.json, entry-ivs.json and
legal.json. Both verifiers (Python: tests/test_vectors.py, JavaScript:
tests/js/porverify.test.mjs) must agree with every expectation; entry-ivs.json is the
publisher's rule (a verifier never checks an IV), met by publish's code (tests/test_vectors.py).
Every rejection case is an attack or a corruption built the way an attacker
would build it (usually with the custodian's own keys, since the custodian is
the party a proof of liabilities must catch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from porsegregate import _crypto
from porsegregate.chains import bitcoin, ed25519, evm
from porsegregate.protocol.bundle import (
    AssetProof,
    Bundle,
    LeafProof,
    bundle_aad,
    decode_bundle,
    encode_bundle,
    encode_bundle_v2,
    shard_bits,
    shard_body,
    shard_header,
    shard_header_bytes,
    shard_index,
    shard_leaf,
    shard_tree,
)
from porsegregate.protocol.codes import client_secret, format_code
from porsegregate.protocol.control import EpochContext
from porsegregate.protocol.coverage import compute_coverage, percent
from porsegregate.protocol.hashing import (
    FORMAT_V1,
    FORMAT_V2,
    account_commitment,
    dedicated_tag,
    epoch_keys,
)
from porsegregate.protocol.layout import CHECKPOINT, CHECKPOINT_NOTE, inclusion_name, sig
from porsegregate.protocol.models import (
    Asset,
    AssetLiabilities,
    Attestation,
    ChainAsset,
    ChainSnapshot,
    Checkpoint,
    ControlProof,
    Custodian,
    Document,
    Entity,
    Holding,
    InclusionProof,
    Legal,
    Manifest,
    ProofFile,
    Reserves,
    Wallet,
)
from porsegregate.protocol.serialization import (
    attestation_bytes,
    attestation_to_dict,
    canonical,
    checkpoint_bytes,
    inclusion_bytes,
    liabilities_sha256,
    manifest_bytes,
    proof_file_bytes,
    wallet_sort_key,
)
from porsegregate.protocol.transparency import inclusion_path, leaf_hash, root_of
from porsegregate.protocol.witness import checkpoint_body, checkpoint_note
from porsegregate.publish.epoch import Privacy, build_epoch
from porsegregate.publish.liabilities import Liabilities

MASTER = hashlib.sha256(b"porsegregate test vectors: master secret").digest()
SIGNING_SEED = hashlib.sha256(b"porsegregate test vectors: custodian key").digest()
OTHER_SEED = hashlib.sha256(b"porsegregate test vectors: impostor key").digest()
EPOCH = "2026-11"
OLD_EPOCH = "2026-10"
# The log of a proof file (docs/protocol.md section 10): an earlier entry, then the attestation.
EARLIER_ENTRY = hashlib.sha256(b"porsegregate test vectors: an earlier attestation").digest()
LOG_TIME = "2026-12-01T00:00:00Z"
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


CUSTODIAN = Custodian("Vector Custody Ltd", "Vector Custody Ltd, company 0000")
TRUST = "Vector Client Trust"
OPCO = "Vector Custody Ltd (own funds)"
DEDICATED_CLIENT = "bob-7731"
USDT_MINT = ed25519.address_of(hashlib.sha256(b"porsegregate test vectors: usdt mint").digest())
USDC_MINT = ed25519.address_of(hashlib.sha256(b"porsegregate test vectors: usdc mint").digest())


def wallet_key(label: str) -> bytes:
    return hashlib.sha256(b"porsegregate test vectors: wallet " + label.encode()).digest()


CHAINS = (
    ChainSnapshot(
        "bitcoin", "bitcoin", "mainnet", 900_000, "00" * 4 + "ab" * 28, (ChainAsset("BTC", None),)
    ),
    ChainSnapshot(
        "ethereum",
        "evm",
        "1",
        23_000_000,
        "0x" + "cd" * 32,
        (ChainAsset("ETH", None), ChainAsset("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7")),
        "https://etherscan.io/address/{address}",
        "https://etherscan.io/block/{block}",
    ),
    ChainSnapshot(
        "polygon",
        "evm",
        "137",
        70_000_000,
        "0x" + "ef" * 32,
        (ChainAsset("USDT", "0xc2132D05D31c914a87C6611C10748AEb04B58e8F"),),
    ),
    ChainSnapshot(
        "solana",
        "ed25519",
        "mainnet-beta",
        330_000_000,
        "Vect0rB1ockhash111111111111111111111111111",
        (ChainAsset("USDT", USDT_MINT),),
    ),
)


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
    def __init__(
        self,
        epoch: str,
        fmt: str = FORMAT_V1,
        privacy: Privacy | None = None,
        balances: dict[str, list[int | None]] | None = None,
        assets: tuple[Asset, ...] = ASSETS,
        chains: tuple[ChainSnapshot, ...] = CHAINS,
    ) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(SIGNING_SEED)
        self.epoch = epoch
        self.fmt = fmt
        self.balances = balances or BALANCES
        self.chains = chains
        self.proofs = build_epoch(
            Liabilities.from_balances(assets, self.balances),
            MASTER,
            epoch,
            privacy=privacy,
            fmt=fmt,
        )
        self.context = EpochContext(
            CUSTODIAN.name,
            _crypto.fingerprint(self.key.public_key()),
            epoch,
            liabilities_sha256(self.proofs.assets),
            self.proofs.assets,
        )
        self.attestation = Attestation(
            format=fmt,
            generator="porsegregate test vectors",
            custodian=CUSTODIAN,
            segregation_arrangement="Client assets held on trust, apart from the custodian's.",
            epoch_id=epoch,
            snapshot_time="2026-11-30T23:59:59Z",
            next_due="2026-12-31T23:59:59Z",
            assets=self.proofs.assets,
            previous_attestation_sha256=None,
            reserves=self.reserves(self.wallets(), self.proofs.assets),
        )
        self.att_bytes = attestation_bytes(self.attestation)
        self.entries: dict[bytes, bytes] = {}
        # (index, sorted entries) of every shard (porsegregate/2: all 2^b, the empty ones too)
        # porsegregate/1: fixed IVs in order; porsegregate/2: the synthetic IVs (entry_iv_key
        # of MASTER), as publish writes them.
        ivs = _ivs(b"iv:" + epoch.encode()) if fmt == FORMAT_V1 else None
        self.shards = list(self.proofs.shards(ivs))
        for _, shard in self.shards:
            self.entries.update(shard)
        self.layout = self.attestation.bundle_layout
        self.codes_in_order = [a.code for a in self.attestation.assets]
        self.codes = dict(zip(self.proofs.accounts, self.proofs.codes, strict=True))
        self.reiv = _ivs(b"reencrypt:" + epoch.encode())

    def keys(self, account: str) -> Any:
        return epoch_keys(client_secret(MASTER, account), self.epoch)

    def signed_wallet(
        self,
        chain: str,
        kind: str,
        label: str,
        category: str,
        holdings: dict[str, int],
        client: str | None = None,
        signed_category: str | None = None,
        signed_epoch: str | None = None,
        signing_label: str | None = None,
        spelled: Callable[[str], str] = str,
    ) -> Wallet:
        """A wallet whose key really signs its challenge (or, for attacks, another one);
        `spelled` writes its address another way (the key signs that spelling)."""
        key = wallet_key(label)
        if kind == "evm":
            address = evm.address_of(key)
        elif kind == "ed25519":
            address = ed25519.address_of(key)
        else:
            address = bitcoin.address_of(key, "p2wpkh", "mainnet")
        address = spelled(address)
        holder = OPCO if category == "proprietary" else TRUST
        tag = None
        if client is not None:
            tag = dedicated_tag(self.epoch, self.keys(client).nonce, client, chain, address)
        draft = Wallet(
            chain, address, category, holder, label, tag, (), ControlProof("", "", "", "")
        )
        context = self.context
        if signed_epoch is not None:
            context = replace(context, epoch=signed_epoch)
        message = context.message(draft, signed_category or category, tag)
        signer = wallet_key(signing_label or label)
        if kind == "evm":
            proof_type, signature = "eip191", evm.sign_personal(message, signer)
            public_key = evm.verify_personal_sign(message, evm.address_of(signer), signature)
        elif kind == "ed25519":
            proof_type, signature = "ed25519", ed25519.sign(message, signer)
            public_key = ed25519.public_key_bytes(address)
        else:
            proof_type = "bip137"
            signature = bitcoin.sign_bip137(message, signer, "p2wpkh", "mainnet")
            public_key = bitcoin.verify_bip137(
                message,
                spelled(bitcoin.address_of(signer, "p2wpkh", "mainnet")),
                signature,
                "mainnet",
            )
        return replace(
            draft,
            holdings=tuple(Holding(a, v, "declared") for a, v in sorted(holdings.items())),
            proof=ControlProof(proof_type, signature, public_key.hex(), None),
        )

    def wallets(self) -> list[Wallet]:
        totals = {a.code: a.total for a in self.proofs.assets}
        bob_eth = self.balances[DEDICATED_CLIENT][1] or 0
        sol = {"USDT": totals["USDT"] - totals["USDT"] // 2 + 1}
        if "USDC" in totals:  # the porsegregate/2 vectors' fourth asset
            sol["USDC"] = totals["USDC"]
        return [
            self.signed_wallet(
                "bitcoin", "bitcoin", "btc cold", "client_segregated", {"BTC": totals["BTC"]}
            ),
            self.signed_wallet(
                "ethereum",
                "evm",
                "eth omnibus",
                "client_segregated",
                {"ETH": totals["ETH"] - bob_eth + 7, "USDT": totals["USDT"] // 2},
            ),
            self.signed_wallet(
                "ethereum",
                "evm",
                "bob only",
                "client_dedicated",
                {"ETH": bob_eth},
                client=DEDICATED_CLIENT,
            ),
            self.signed_wallet("ethereum", "evm", "house", "proprietary", {"ETH": 10**18}),
            self.signed_wallet(
                "solana",
                "ed25519",
                "sol omnibus",
                "client_segregated",
                sol,
            ),
            Wallet(
                "bitcoin",
                bitcoin.address_of(wallet_key("bank"), "p2wpkh", "mainnet"),
                "third_party",
                "Vector Bank plc",
                "at the bank",
                None,
                (Holding("BTC", 5_000_000, "declared"),),
                ControlProof("none", None, None, "Vector Bank statement 2026-11"),
            ),
        ]

    def reserves(
        self,
        wallets: list[Wallet],
        assets: tuple[AssetLiabilities, ...],
        chains: tuple[ChainSnapshot, ...] | None = None,
    ) -> Reserves:
        """Coverage computed the way publish does, from the wallets and the client data."""
        coverage = []
        for i, asset in enumerate(assets):
            dedicated: dict[str, int] = {}
            owed: dict[str, int] = {}
            for w in wallets:
                if w.client_tag is not None and any(h.asset == asset.code for h in w.holdings):
                    dedicated[DEDICATED_CLIENT] = dedicated.get(DEDICATED_CLIENT, 0) + w.amount(
                        asset.code
                    )
                    owed[DEDICATED_CLIENT] = self.balances[DEDICATED_CLIENT][i] or 0
            coverage.append(
                compute_coverage(asset.code, asset.decimals, asset.total, wallets, dedicated, owed)
            )
        chains = tuple(sorted(chains or self.chains, key=lambda c: c.id))
        return Reserves(chains, tuple(sorted(wallets, key=wallet_sort_key)), tuple(coverage))

    def attestation_with(
        self,
        wallets: list[Wallet] | None = None,
        assets: tuple[AssetLiabilities, ...] | None = None,
        chains: tuple[ChainSnapshot, ...] | None = None,
    ) -> dict[str, Any]:
        """A consistent attestation (coverage recomputed) with other wallets or totals."""
        if assets is not None and wallets is None:
            # The wallet keys re-sign for the new liabilities hash (the custodian holds them).
            saved = self.context
            self.context = replace(saved, liabilities_sha256=liabilities_sha256(assets))
            wallets = self.wallets()
            self.context = saved
        assets = assets or self.attestation.assets
        reserves = self.reserves(wallets or self.wallets(), assets, chains)
        return attestation_to_dict(replace(self.attestation, assets=assets, reserves=reserves))

    def log_files(
        self,
        attestation: bytes,
        key: Ed25519PrivateKey,
        digests: list[bytes] | None = None,
        index: int | None = None,
        log: str | None = None,
    ) -> dict[str, bytes]:
        """The published log files a proof file carries: a checkpoint signed by `key` over
        `digests` (by default an earlier entry, then this attestation), and the inclusion
        proof of entry `index` (by default the newest)."""
        digests = digests or [EARLIER_ENTRY, hashlib.sha256(attestation).digest()]
        leaves = [leaf_hash(d) for d in digests]
        size = len(digests)
        fingerprint = log or _crypto.fingerprint(key.public_key())
        checkpoint = Checkpoint(fingerprint, size, root_of(leaves), LOG_TIME, self.epoch)
        data = checkpoint_bytes(checkpoint)
        i = size - 1 if index is None else index
        proof = InclusionProof(i, size, digests[i].hex(), tuple(inclusion_path(i, leaves)))
        return {
            CHECKPOINT: data,
            sig(CHECKPOINT): key.sign(data),
            CHECKPOINT_NOTE: checkpoint_note(key, checkpoint_body(checkpoint)),
            inclusion_name(i): inclusion_bytes(proof),
        }

    def proof(
        self,
        account: str,
        log_key: Ed25519PrivateKey | None = None,
        log_files: dict[str, bytes] | None = None,
        version: int = 2,
        **changes: Any,
    ) -> dict[str, Any]:
        """A porsegregate-proof/2 file whose log (signed by `log_key`, the custodian's by
        default) holds its attestation as the newest entry, or `log_files`; or a /1 file."""
        k = self.keys(account)
        pf = replace(
            ProofFile(
                self.att_bytes,
                self.key.sign(self.att_bytes),
                _crypto.public_key_pem(self.key.public_key()),
                k.lookup,
                self.entries[k.lookup],
            ),
            **changes,
        )
        if version == 2:
            files = log_files or self.log_files(pf.attestation, log_key or self.key)
            pf = replace(pf, log_files=files)
        doc: dict[str, Any] = json.loads(proof_file_bytes(pf))
        return doc

    def bundle(self, account: str) -> Bundle:
        k = self.keys(account)
        aad = bundle_aad(self.epoch, k.lookup, self.fmt)
        return decode_bundle(
            _crypto.aes_gcm_decrypt(k.key, self.entries[k.lookup], aad),
            self.fmt,
            self.layout,
            self.codes_in_order,
        )

    def encode(self, bundle: Bundle) -> bytes:
        if self.layout is None:
            return encode_bundle(bundle)
        return encode_bundle_v2(bundle, self.layout, self.codes_in_order)

    def reencrypt(self, account: str, plaintext: bytes, fmt: str | None = None) -> bytes:
        """What a dishonest custodian can do: it derives every client's keys."""
        k = self.keys(account)
        return _crypto.aes_gcm_encrypt(
            k.key, plaintext, bundle_aad(self.epoch, k.lookup, fmt or self.fmt), self.reiv()
        )

    def forged(self, account: str, bundle: Bundle | bytes) -> dict[str, Any]:
        raw = bundle if isinstance(bundle, bytes) else self.encode(bundle)
        return self.proof(account, entry=self.reencrypt(account, raw))

    def resigned(
        self, account: str, doc: dict[str, Any] | bytes, key: Ed25519PrivateKey | None = None
    ) -> dict[str, Any]:
        key = key or self.key
        data = doc if isinstance(doc, bytes) else canonical(doc)
        return self.proof(
            account,
            log_key=key,
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
    from porsegregate.errors import CodeError
    from porsegregate.protocol.codes import ALPHABET, parse_code

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


def _case_makers(f: Fixture, cases: list[dict[str, Any]]) -> tuple[Any, Any]:
    """`ok` and `bad`: each appends one case (a proof file and what verifying it gives)."""

    def ok(
        name: str,
        account: str,
        proof: dict[str, Any],
        expect_key: str | None = None,
        coverage: list[dict[str, Any]] | None = None,
        shortfall: bool = False,
    ) -> None:
        balances = {
            f.proofs.assets[i].code: str(v)
            for i, v in enumerate(f.balances[account])
            if v is not None
        }
        expect: dict[str, Any] = {
            "verified": True,
            "balances": balances,
            "shortfall": shortfall,
            # A porsegregate-proof/2 file's log is checked; a /1 file's report says it was not.
            "log_checked": "log_files" in proof,
        }
        if coverage is not None:
            expect["coverage"] = coverage
        cases.append(
            {
                "name": name,
                "account_id": account,
                "code": f.codes[account],
                "expect_key": expect_key,
                "proof": proof,
                "expect": expect,
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
        case = {
            "name": name,
            "account_id": typed or account,
            "code": code or f.codes[account],
            "expect_key": expect_key,
            "proof": proof,
            "expect": {"verified": False, "failed": {"id": check, "asset": asset}},
        }
        cases.append(case)

    return ok, bad


def proof_cases() -> list[dict[str, Any]]:
    f = Fixture(EPOCH)
    old = Fixture(OLD_EPOCH)
    fp = _crypto.fingerprint(f.key.public_key())
    impostor = Ed25519PrivateKey.from_private_bytes(OTHER_SEED)
    cases: list[dict[str, Any]] = []
    ok, bad = _case_makers(f, cases)

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

    # The log a proof file carries (docs/protocol.md sections 10 and 13).
    ok("porsegregate-proof/1 file: no log, verified with a warning", a, f.proof(a, version=1))
    this = hashlib.sha256(f.att_bytes).digest()
    logged = f.log_files(f.att_bytes, f.key)
    older = f.log_files(f.att_bytes, f.key, [this, EARLIER_ENTRY])
    bad(
        "log: checkpoint signature over other bytes (an older checkpoint)",
        a,
        f.proof(a, log_files={**logged, sig(CHECKPOINT): older[sig(CHECKPOINT)]}),
        "log-checkpoint",
    )
    bad(
        "log: checkpoint signed by another key",
        a,
        f.proof(a, log_key=impostor),
        "log-checkpoint",
    )
    bad(
        "log: checkpoint of another log (another key's fingerprint), validly signed",
        a,
        f.proof(a, log_files=f.log_files(f.att_bytes, f.key, log="ab" * 32)),
        "log-checkpoint",
    )
    malformed = canonical({**json.loads(logged[CHECKPOINT]), "size": 0})
    bad(
        "log: malformed checkpoint, validly signed",
        a,
        f.proof(
            a, log_files={**logged, CHECKPOINT: malformed, sig(CHECKPOINT): f.key.sign(malformed)}
        ),
        "log-checkpoint",
    )
    another = hashlib.sha256(b"another attestation").digest()
    bad(
        "log: inclusion proof of another attestation (T8)",
        a,
        f.proof(a, log_files=f.log_files(f.att_bytes, f.key, [EARLIER_ENTRY, another])),
        "log-inclusion",
    )
    bad(
        "log: the attestation is not the newest entry (T9)",
        a,
        f.proof(a, log_files=f.log_files(f.att_bytes, f.key, [EARLIER_ENTRY, this, another], 1)),
        "log-inclusion",
    )
    path_cut = dict(logged)
    inclusion = json.loads(path_cut[inclusion_name(1)])
    inclusion["path"] = []
    path_cut[inclusion_name(1)] = canonical(inclusion)
    bad("log: inclusion path too short", a, f.proof(a, log_files=path_cut), "log-inclusion")

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
    # A lone surrogate has no UTF-8 form: RFC 8785 refuses it, so every verifier must.
    lone = canonical({**doc, "generator": "LONE"}).replace(b'"LONE"', b'"\\ud800"')
    bad("attestation with a lone surrogate, validly signed", a, f.resigned(a, lone), "format")
    bad(
        "unsupported format, validly signed",
        a,
        f.resigned(a, {**doc, "format": "porsegregate/2"}),
        "format",
    )
    btc = f.attestation.assets[0]
    under = f.attestation_with(
        assets=(replace(btc, total=btc.total - 1), *f.attestation.assets[1:])
    )
    bad("understated total, validly signed (T1)", a, f.resigned(a, under), "root-total", "BTC")
    usdt = f.attestation.assets[2]
    other_root = f.attestation_with(
        assets=(*f.attestation.assets[:2], replace(usdt, root=b"\xab" * 32))
    )
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
    reserves_cases(f, ok, bad)
    # Each asset at most once, in the attestation's order (sections 6 and 9): a balance shown
    # twice, or assets out of order, is a malformed bundle even though every path folds.
    twice = replace(b, assets=(b.assets[0], *b.assets))
    bad("an asset listed twice (its balance shown twice)", a, f.forged(a, twice), "bundle-format")
    assert len(b.assets) >= 2, "alice holds two assets"
    backwards = replace(b, assets=tuple(reversed(b.assets)))
    bad("assets out of the attestation's order", a, f.forged(a, backwards), "bundle-format")
    return cases


def reserves_cases(f: Fixture, ok: Any, bad: Any) -> None:
    """T11: what the signed reserves section must survive."""
    a, bob = "alice@example.com", DEDICATED_CLIENT
    bob_eth = BALANCES[bob][1] or 0
    ok(
        "reserves: the dedicated client sees their wallet and coverage",
        bob,
        f.proof(bob),
        coverage=[
            {
                "asset": "BTC",
                "segregated_percent": "100.00",
                "including_third_party_percent": "102.21",
                "covered": True,
                "dedicated_wallets": [],
                "dedicated_shortfall": "0",
            },
            {
                "asset": "ETH",
                "segregated_percent": "100.00",
                "including_third_party_percent": "100.00",
                "covered": True,
                "dedicated_wallets": [
                    {
                        "chain": "ethereum",
                        "address": evm.address_of(wallet_key("bob only")),
                        "amount": str(bob_eth),
                    }
                ],
                "dedicated_shortfall": "0",
            },
        ],
    )
    wallets = f.wallets()

    def swap(index: int, wallet: Wallet) -> list[Wallet]:
        return [wallet if i == index else w for i, w in enumerate(wallets)]

    # The omnibus wallet's 7-unit surplus keeps ETH at 100.00 % overall: only the dedicated
    # shortfall makes it "not covered", and only bob can see that it is his.
    short = swap(2, replace(wallets[2], holdings=(Holding("ETH", bob_eth - 1, "declared"),)))
    ok(
        "reserves: dedicated wallet short by one unit, shown to the client",
        bob,
        f.resigned(bob, f.attestation_with(short)),
        coverage=[
            {
                "asset": "BTC",
                "segregated_percent": "100.00",
                "including_third_party_percent": "102.21",
                "covered": True,
                "dedicated_wallets": [],
                "dedicated_shortfall": "0",
            },
            {
                "asset": "ETH",
                "segregated_percent": "100.00",
                "including_third_party_percent": "100.00",
                "covered": False,
                "dedicated_wallets": [
                    {
                        "chain": "ethereum",
                        "address": evm.address_of(wallet_key("bob only")),
                        "amount": str(bob_eth - 1),
                    }
                ],
                "dedicated_shortfall": "1",
            },
        ],
        shortfall=True,
    )
    doc = attestation_to_dict(f.attestation)
    inflated = json.loads(json.dumps(doc))
    row = next(c for c in inflated["reserves"]["coverage"] if c["asset"] == "USDT")
    row["client_segregated"] = str(int(row["client_segregated"]) + int(row["proprietary"]) + 10**9)
    # Derived figures made consistent, so only the sum over the wallets can catch it.
    counted = int(row["client_segregated"]) + int(row["client_dedicated_counted"])
    row["segregated_percent"] = percent(counted, int(row["liabilities"]))
    row["including_third_party_percent"] = percent(
        counted + int(row["third_party"]), int(row["liabilities"])
    )
    bad(
        "reserves: coverage figure not backed by the wallets (T11)",
        a,
        f.resigned(a, inflated),
        "reserves-coverage",
        "USDT",
    )
    house_as_client = swap(3, replace(wallets[3], category="client_segregated", holder=TRUST))
    bad(
        "reserves: proprietary wallet relabelled as client-segregated (T11)",
        a,
        f.resigned(a, f.attestation_with(house_as_client)),
        "reserves-control",
    )
    relabelled = f.signed_wallet(
        "solana",
        "ed25519",
        "sol omnibus",
        "client_segregated",
        {"USDT": wallets[4].amount("USDT")},
        signed_category="proprietary",
    )
    bad(
        "reserves: Ed25519 key signed another category (T11)",
        a,
        f.resigned(a, f.attestation_with(swap(4, relabelled))),
        "reserves-control",
    )
    replayed = f.signed_wallet(
        "solana",
        "ed25519",
        "sol omnibus",
        "client_segregated",
        {"USDT": wallets[4].amount("USDT")},
        signed_epoch=OLD_EPOCH,
    )
    bad(
        "reserves: last epoch's signature replayed (T9, T11)",
        a,
        f.resigned(a, f.attestation_with(swap(4, replayed))),
        "reserves-control",
    )
    borrowed = f.signed_wallet(
        "solana",
        "ed25519",
        "sol omnibus",
        "client_segregated",
        {"USDT": wallets[4].amount("USDT")},
        signing_label="house",
    )
    bad(
        "reserves: Ed25519 signature by a key that is not the address (T11)",
        a,
        f.resigned(a, f.attestation_with(swap(4, borrowed))),
        "reserves-control",
    )
    unproven = swap(4, replace(wallets[4], proof=ControlProof("none", None, None, "trust me")))
    bad(
        "reserves: unproven wallet counted for clients (T11)",
        a,
        f.resigned(a, f.attestation_with(unproven)),
        "reserves-control",
    )
    # The proprietary key also signs as a client-segregated wallet on another EVM chain.
    twice = [*wallets, f.signed_wallet("polygon", "evm", "house", "client_segregated", {"USDT": 5})]
    bad(
        "reserves: same key in two categories (T11)",
        a,
        f.resigned(a, f.attestation_with(twice)),
        "reserves-commingling",
    )
    counted_twice_cases(f, ok, bad)
    hidden = swap(3, replace(wallets[3], proof=replace(wallets[3].proof, public_key=None)))
    bad(
        "reserves: signer's key withheld, hiding a shared key (T11)",
        a,
        f.resigned(a, f.attestation_with(hidden)),
        "format",
    )
    extra = json.loads(json.dumps(doc))
    extra["liabilities"]["note"] = "not bound by the proof-of-control messages"
    bad("reserves: unknown member in the liabilities section", a, f.resigned(a, extra), "format")
    other_key = f.signed_wallet(
        "ethereum",
        "evm",
        "eth omnibus",
        "client_segregated",
        {"ETH": wallets[1].amount("ETH"), "USDT": wallets[1].amount("USDT")},
        signing_label="stranger",
    )
    bad(
        "reserves: EIP-191 signature by another key (T11)",
        a,
        f.resigned(
            a,
            f.attestation_with(
                swap(
                    1,
                    replace(
                        other_key,
                        proof=replace(other_key.proof, public_key=wallets[1].proof.public_key),
                    ),
                )
            ),
        ),
        "reserves-control",
    )


def counted_twice_cases(f: Fixture, ok: Any, bad: Any) -> None:
    """T14: one wallet's balance counted twice, under a second entry for its network or twice
    in one category under another spelling; every signature is real."""
    a = "alice@example.com"
    wallets = f.wallets()
    omnibus = [w for w in wallets if w.category == "client_segregated"]
    kinds = {c.id: c.kind for c in CHAINS}
    doubled = {"bitcoin": "bitcoin-b", "ethereum": "ethereum-b", "solana": "solana-b"}
    # The review's attack: a second entry for Bitcoin mainnet and for chain id 1 (and here
    # Solana's network too), each listing the same omnibus wallets again, each signed.
    second = tuple(replace(c, id=doubled[c.id]) for c in CHAINS if c.id in doubled)
    again = [
        f.signed_wallet(
            doubled[w.chain],
            kinds[w.chain],
            w.label,
            "client_segregated",
            {h.asset: h.amount for h in w.holdings},
        )
        for w in omnibus
    ]
    bad(
        "reserves: one network under two chain ids, its wallets counted twice (T14)",
        a,
        f.resigned(a, f.attestation_with([*wallets, *again], chains=(*CHAINS, *second))),
        "reserves-distinct",
    )
    solana_again = [w for w in again if w.chain == "solana-b"]
    bad(
        "reserves: one Ed25519 network under two chain ids (T14)",
        a,
        f.resigned(
            a,
            f.attestation_with(
                [*wallets, *solana_again],
                chains=(*CHAINS, *(c for c in second if c.id == "solana-b")),
            ),
        ),
        "reserves-distinct",
    )
    # One network, one spelling: chain id 1 written "01" would be another network's name.
    spelled = json.loads(json.dumps(attestation_to_dict(f.attestation)))
    for chain in spelled["reserves"]["chains"]:
        if chain["id"] == "ethereum":
            chain["network"] = "01"
    bad("reserves: chain id 1 spelled 01 (T14)", a, f.resigned(a, spelled), "format")
    # An Ed25519 network is only a name: the same key under another one is the same wallet.
    devnet = (
        replace(next(c for c in CHAINS if c.id == "solana"), id="solana-dev", network="devnet"),
    )
    on_devnet = [replace(w, chain="solana-dev") for w in solana_again]
    on_devnet = [
        f.signed_wallet(
            "solana-dev",
            "ed25519",
            w.label,
            "client_segregated",
            {h.asset: h.amount for h in w.holdings},
        )
        for w in on_devnet
    ]
    bad(
        "reserves: one Ed25519 key under two Ed25519 networks (T14)",
        a,
        f.resigned(a, f.attestation_with([*wallets, *on_devnet], chains=(*CHAINS, *devnet))),
        "reserves-distinct",
    )
    # One chain entry, one script: bech32 in capitals is the same address (BIP-173).
    capitals = f.signed_wallet(
        "bitcoin",
        "bitcoin",
        "btc cold",
        "client_segregated",
        {"BTC": omnibus[0].amount("BTC")},
        spelled=str.upper,
    )
    bad(
        "reserves: one Bitcoin wallet twice in a category, spelled two ways (T14)",
        a,
        f.resigned(a, f.attestation_with([*wallets, capitals])),
        "reserves-distinct",
    )
    # T15: no node reads an Ed25519 chain's balances; a holding there claiming so is a lie.
    solana = next(i for i, w in enumerate(wallets) if w.chain == "solana")
    claimed = replace(
        wallets[solana],
        holdings=tuple(replace(h, source="chain") for h in wallets[solana].holdings),
    )
    bad(
        "reserves: an Ed25519 chain's balance claimed as read from a node (T15)",
        a,
        f.resigned(a, f.attestation_with([*wallets[:solana], claimed, *wallets[solana + 1 :]])),
        "format",
    )
    # Not counted twice: one EVM key on two EVM networks holds two balances.
    on_polygon = f.signed_wallet("polygon", "evm", "eth omnibus", "client_segregated", {"USDT": 5})
    ok(
        "reserves: one EVM key on two networks is two wallets (T14)",
        a,
        f.resigned(a, f.attestation_with([*wallets, on_polygon])),
    )


def legal_cases() -> list[dict[str, Any]]:
    """Issue 14: attestations declaring their legal entities and documents (section 7,
    `legal`), checked by legal-holders (section 12). In legal.json, apart from proofs.json,
    until the browser verifier reads `legal`."""
    f = Fixture(EPOCH)
    cases: list[dict[str, Any]] = []
    ok, bad = _case_makers(f, cases)
    a = "alice@example.com"
    trust = Entity(TRUST, "trustee", "GB", "5493001KJTIIGC8Y1R12", None)
    opco = Entity(OPCO, "operating_company", "GB-ENG", None, "00000000")
    bank = Entity("Vector Bank plc", "sub_custodian", "DE", None, "HRB 12345")
    deed = hashlib.sha256(b"porsegregate test vectors: trust deed").hexdigest()
    opinion = hashlib.sha256(b"porsegregate test vectors: legal opinion").hexdigest()
    documents = (
        Document("Trust deed", "trust_deed", "2026-01-15", (OPCO, TRUST), deed, None),
        Document(
            "Legal opinion",
            "legal_opinion",
            "2026-03-01",
            (TRUST,),
            opinion,
            f"documents/{opinion}.pdf",
        ),
    )

    def with_legal(legal: Legal) -> dict[str, Any]:
        return attestation_to_dict(replace(f.attestation, legal=legal))

    ok(
        "legal: entities and documents declared",
        a,
        f.resigned(a, with_legal(Legal((trust, opco, bank), documents))),
    )
    bad(
        "legal: the client wallets' holder is an operating company",
        a,
        f.resigned(
            a,
            with_legal(
                Legal(
                    (
                        replace(trust, role="operating_company", lei=None, registration="1"),
                        opco,
                        bank,
                    )
                )
            ),
        ),
        "legal-holders",
    )
    bad(
        "legal: a wallet's holder is not a declared entity",
        a,
        f.resigned(a, with_legal(Legal((opco, bank)))),
        "legal-holders",
    )
    bad_lei = with_legal(Legal((trust, opco, bank)))
    entry = next(e for e in bad_lei["legal"]["entities"] if e["name"] == TRUST)
    entry["lei"] = "5493001KJTIIGC8Y1R13"  # the right LEI's check digits are 12
    bad("legal: an LEI with wrong check digits", a, f.resigned(a, bad_lei), "format")
    return cases


# porsegregate/2: a fourth asset, so that a client holding three gets four slots (a zero
# filler slot), and a small common height so the vectors stay small.
ASSETS_V2 = (Asset("BTC", 8), Asset("ETH", 18), Asset("USDC", 6), Asset("USDT", 6))
BALANCES_V2: dict[str, list[int | None]] = {
    account: [row[0], row[1], (i * 7_000_001) if i % 3 else None, row[2]]
    for i, (account, row) in enumerate(BALANCES.items())
}
CHAINS_V2 = tuple(
    replace(c, assets=(*c.assets, ChainAsset("USDC", USDC_MINT))) if c.id == "solana" else c
    for c in CHAINS
)
PRIVACY_V2 = Privacy(height=10, split=2)
# porsegregate/2 with one total above 2^127, so sums are 16 bytes wide (S = 16).
BALANCES_WIDE = {
    account: [2**127 if account == "carol.ltd" else row[0], *row[1:]]
    for account, row in BALANCES_V2.items()
}


def _v2(epoch: str, privacy: Privacy = PRIVACY_V2) -> Fixture:
    return Fixture(epoch, FORMAT_V2, privacy, BALANCES_V2, ASSETS_V2, CHAINS_V2)


def _slots(b: Bundle, slots: tuple[AssetProof, ...]) -> Bundle:
    return replace(b, assets=slots)


def _edit_part(b: Bundle, asset: str, part: int, **changes: Any) -> Bundle:
    assets = tuple(
        AssetProof(
            a.asset,
            tuple(replace(x, **changes) if i == part else x for i, x in enumerate(a.leaves)),
        )
        if a.asset == asset
        else a
        for a in b.assets
    )
    return replace(b, assets=assets)


def proof_cases_v2() -> list[dict[str, Any]]:
    """porsegregate/2: fixed-size bundles, balances in parts, one height for every tree."""
    f = _v2(EPOCH)
    old = _v2(OLD_EPOCH)
    single = _v2(EPOCH, Privacy(height=12, split=1))
    fp = _crypto.fingerprint(f.key.public_key())
    cases: list[dict[str, Any]] = []
    ok, bad = _case_makers(f, cases)
    for account in ("alice@example.com", "bob-7731", "carol.ltd", "dave", "Zoë Ünïcødé", "日本-42"):
        ok(f"v2 valid {account} (balances in 2 parts)", account, f.proof(account))
    ok("v2 valid with pinned key", "alice@example.com", f.proof("alice@example.com"), fp)
    ok("v2 porsegregate-proof/1 file", "bob-7731", f.proof("bob-7731", version=1))
    single_ok, _ = _case_makers(single, cases)
    for account in ("alice@example.com", "Zoë Ünïcødé"):
        single_ok(f"v2 valid {account} (one part, height 12)", account, single.proof(account))

    a = "alice@example.com"
    z = "Zoë Ünïcødé"  # holds all four assets: 4 slots, no filler
    b = f.bundle(a)
    three = f.bundle("filler-01")  # BTC, USDC, USDT: 3 assets in 4 slots, one zero filler slot
    assert len(three.assets) == 3 and f.layout is not None
    doc = attestation_to_dict(f.attestation)
    layout = f.layout
    plain = f.encode(three)

    bad(
        "v2: a part's amount raised",
        a,
        f.forged(a, _edit_part(b, "BTC", 1, amount=b.assets[0].leaves[1].amount + 1)),
        "root-hash",
        "BTC",
    )
    sib = b.assets[0].leaves[1].siblings
    lowered = ((sib[0][0], sib[0][1] - 1 if sib[0][1] else 1), *sib[1:])
    bad(
        "v2: a part's sibling sum changed",
        a,
        f.forged(a, _edit_part(b, "BTC", 1, siblings=lowered)),
        "root-hash",
        "BTC",
    )
    bad(
        "v2: both parts at one index (one leaf counted twice)",
        a,
        f.forged(a, _edit_part(b, "BTC", 1, index=b.assets[0].leaves[0].index)),
        "index-range",
        "BTC",
    )
    bad(
        "v2: the second part shows the first part again",
        a,
        f.forged(a, _edit_part(b, "USDT", 1, amount=b.assets[1].leaves[0].amount)),
        "root-hash",
        "USDT",
    )
    bad(
        "v2: index outside the tree",
        a,
        f.forged(a, _edit_part(b, "BTC", 0, index=1 << layout.height)),
        "index-range",
        "BTC",
    )
    # Every amount and sibling sum is S bytes (the largest total's byte length, here 8 for
    # ETH's): no wider value can be written, and the widest an S-byte field holds is above
    # every signed total, so it cannot fold to the signed root.
    width = layout.sum_bytes
    assert width == 8, width
    top = 256**width - 1
    bad(
        "v2: a part's amount at the S-byte maximum (above the signed total)",
        a,
        f.forged(a, _edit_part(b, "BTC", 1, amount=top)),
        "root-hash",
        "BTC",
    )
    bad(
        "v2: a sibling sum at the S-byte maximum (above the signed total)",
        a,
        f.forged(a, _edit_part(b, "USDT", 0, siblings=((sib[0][0], top), *sib[1:]))),
        "root-hash",
        "USDT",
    )
    # One total above 2^127 makes S = 16: two parts or a sibling sum can then pass 2^128-1.
    wide = Fixture(EPOCH, FORMAT_V2, PRIVACY_V2, BALANCES_WIDE, ASSETS_V2, CHAINS_V2)
    assert wide.layout is not None and wide.layout.sum_bytes == 16
    wide_ok, wide_bad = _case_makers(wide, cases)
    wide_ok("v2 valid alice@example.com (S = 16)", a, wide.proof(a))
    wb = wide.bundle(a)
    huge = _edit_part(_edit_part(wb, "BTC", 0, amount=MAX // 2 + 1), "BTC", 1, amount=MAX // 2 + 1)
    huge = _edit_part(
        _edit_part(
            huge, "BTC", 0, siblings=tuple((h, 0) for h, _ in wb.assets[0].leaves[0].siblings)
        ),
        "BTC",
        1,
        siblings=tuple((h, 0) for h, _ in wb.assets[0].leaves[1].siblings),
    )
    wide_bad("v2: parts adding up past 2^128-1", a, wide.forged(a, huge), "sum-range", "BTC")
    wsib = wb.assets[0].leaves[1].siblings
    wide_bad(
        "v2: wrap-around sibling sum",
        a,
        wide.forged(a, _edit_part(wb, "USDT", 0, siblings=((wsib[0][0], MAX), *wsib[1:]))),
        "sum-range",
        "USDT",
    )
    header = layout.header_bytes(EPOCH)
    filler_at = header + 3 * layout.slot_bytes
    bad(
        "v2: the filler slot is not zero",
        "filler-01",
        f.forged("filler-01", _flip(plain, filler_at + 5)),
        "bundle-format",
    )
    counts = header - 4
    bad(
        "v2: slot count not the bucket's (3 assets in 3 slots)",
        "filler-01",
        f.forged(
            "filler-01",
            plain[:counts]
            + (3).to_bytes(2, "big")
            + (3).to_bytes(2, "big")
            + plain[header : header + 3 * layout.slot_bytes],
        ),
        "bundle-format",
    )
    bad(
        "v2: one asset hidden in the filler (2 assets in 4 slots)",
        "filler-01",
        f.forged("filler-01", plain[:counts] + (2).to_bytes(2, "big") + plain[counts + 2 :]),
        "bundle-format",
    )
    bad("v2: trailing bytes", a, f.forged(a, f.encode(b) + b"\x00"), "bundle-format")
    bad("v2: truncated", a, f.forged(a, f.encode(b)[:-1]), "bundle-format")
    account_at = 4 + 1 + len(FORMAT_V2) + 1 + len(EPOCH)
    bad(
        "v2: bytes after the account id in its field",
        a,
        f.forged(a, _flip(f.encode(b), account_at + 1 + len(a.encode()) + 3)),
        "bundle-format",
    )
    bad(
        "v2: assets out of the attestation's order",
        a,
        f.forged(a, _slots(b, tuple(reversed(b.assets)))),
        "bundle-format",
    )
    bad(
        "v2: an asset listed twice",
        a,
        f.forged(a, _slots(b, (b.assets[0], b.assets[0]))),
        "bundle-format",
    )
    zb = f.bundle(z)
    past = _slots(zb, (*zb.assets[:3], replace(zb.assets[3], asset="#7")))
    bad(
        "v2: an asset position the attestation does not have",
        z,
        f.forged(z, past),
        "asset-known",
        "#7",
    )
    bad(
        "v2: a porsegregate/1 bundle under a porsegregate/2 attestation",
        a,
        f.proof(a, entry=f.reencrypt(a, encode_bundle(replace(b, version=FORMAT_V1)))),
        "bundle-format",
    )
    bad(
        "v2: entry encrypted with the porsegregate/1 aad",
        a,
        f.proof(a, entry=f.reencrypt(a, f.encode(b), FORMAT_V1)),
        "decrypt",
    )
    bad("v2: replayed from an older epoch", a, f.forged(a, old.bundle(a)), "bundle-epoch")
    bad("v2: code of another client", a, f.proof(a), "proof-found", code=f.codes["bob-7731"])
    bad("v2: right code, other account id", a, f.proof(a), "bundle-account", typed="alice")

    assets = doc["liabilities"]["assets"]

    def edited(i: int, **member: Any) -> dict[str, Any]:
        changed = [dict(x) for x in assets]
        changed[i].update(member)
        return {**doc, "liabilities": {**doc["liabilities"], "assets": changed}}

    bad("v2: assets of two heights", a, f.resigned(a, edited(1, padded_height=11)), "format")
    bad("v2: assets of two part counts", a, f.resigned(a, edited(1, parts=1)), "format")

    def every(**member: Any) -> dict[str, Any]:
        changed = [{**x, **member} for x in assets]
        return {**doc, "liabilities": {**doc["liabilities"], "assets": changed}}

    bad("v2: parts 0", a, f.resigned(a, every(parts=0)), "format")
    bad("v2: parts 17", a, f.resigned(a, every(parts=17)), "format")
    bad("v2: padded_height 0", a, f.resigned(a, every(padded_height=0)), "format")
    no_parts = {
        **doc,
        "liabilities": {
            **doc["liabilities"],
            "assets": [{k: v for k, v in x.items() if k != "parts"} for x in assets],
        },
    }
    bad("v2: assets without parts", a, f.resigned(a, no_parts), "format")
    bad(
        "v1 attestation with a parts member",
        a,
        f.resigned(a, {**doc, "format": FORMAT_V1}),
        "format",
    )
    bad(
        "v2: unknown member in a chain",
        a,
        f.resigned(
            a,
            {
                **doc,
                "reserves": {
                    **doc["reserves"],
                    "chains": [
                        {**doc["reserves"]["chains"][0], "note": ""},
                        *doc["reserves"]["chains"][1:],
                    ],
                },
            },
        ),
        "format",
    )
    bad("v2: unknown top-level member", a, f.resigned(a, {**doc, "extra": 1}), "format")
    bad(
        "format porsegregate/3 (unknown), validly signed",
        a,
        f.resigned(a, {**doc, "format": "porsegregate/3"}),
        "format",
    )
    bad(
        "v2: custodian name with a line break",
        a,
        f.resigned(a, {**doc, "custodian": {**doc["custodian"], "name": "Vector\nCustody"}}),
        "format",
    )
    return cases


def shard_cases_v2() -> list[dict[str, Any]]:
    """porsegregate/2 shards as a client meets them: the signed manifest (its shard bits and
    shards root), the client's lookup id and the bytes served at the name its lookup id's
    first b bits give (docs/protocol.md section 6). 65 entries: b = 2, four shards."""
    f = Fixture(EPOCH, FORMAT_V2, Privacy(height=5, split=1, entries=65), BALANCES_V2, ASSETS_V2)
    bits = shard_bits(65)
    assert bits == 2 and len(f.shards) == 4
    bodies = [shard_body(entries) for _, entries in f.shards]
    root, paths = shard_tree([shard_leaf(EPOCH, bits, i, body) for i, body in enumerate(bodies)])
    files = [shard_header(bits, i, paths[i]) + body for i, body in enumerate(bodies)]
    att = _crypto.sha256_hex(f.att_bytes)
    manifest = Manifest(FORMAT_V2, EPOCH, att, 0, {"attestation.json": att}, 65, bits, root)
    signed = manifest_bytes(manifest)
    doc = json.loads(signed)
    cases: list[dict[str, Any]] = []

    def case(
        name: str, account: str, served: bytes, failed: str | None, data: bytes = signed
    ) -> None:
        lookup = f.keys(account).lookup
        entry = f.entries[lookup]
        cases.append(
            {
                "name": name,
                "epoch": EPOCH,
                "manifest": _b64(data),
                "lookup": lookup.hex(),
                "shard": _b64(served),
                "expect": (
                    {"ok": True, "entry_sha256": _crypto.sha256_hex(entry)}
                    if failed is None
                    else {"ok": False, "failed": failed}
                ),
            }
        )

    def index_of(account: str) -> int:
        return shard_index(f.keys(account).lookup, bits)

    a = "alice@example.com"
    i = index_of(a)
    for account in ("alice@example.com", "bob-7731", "Zoë Ünïcødé", "日本-42"):
        case(f"shard of {account}", account, files[index_of(account)], None)
    header = shard_header_bytes(bits)
    bad_path = bytearray(files[i])
    bad_path[9] ^= 1  # the path's first hash
    case("a shard whose path is wrong", a, bytes(bad_path), "shard-hash")
    swapped = shard_header(bits, i, [paths[i][1], paths[i][0]]) + bodies[i]
    case("a shard whose path's levels are swapped", a, swapped, "shard-hash")
    other = (i + 1) % 4
    case("another shard served under this shard's name", a, files[other], "shard-hash")
    relabelled = shard_header(bits, i, paths[other]) + bodies[other]
    case(
        "another shard's entries under this shard's index (malformed)",
        a,
        relabelled,
        "shard-hash",
    )
    altered = bytearray(files[i])
    altered[-1] ^= 1  # the last entry's last byte
    case("a shard whose entry was altered", a, bytes(altered), "shard-hash")
    fewer = shard_bits(32)
    case(
        "a shard of other bits than the manifest's",
        a,
        shard_header(fewer, 0, []) + bodies[i],
        "shard-hash",
    )
    case("a truncated shard", a, files[i][: header + 10], "shard-hash")
    case("a PSS1 shard in a porsegregate/2 site", a, b"PSS1" + bodies[i], "shard-hash")

    def manifest_case(name: str, proofs: dict[str, Any]) -> None:
        case(name, a, files[i], "format", canonical({**doc, "proofs": proofs}))

    manifest_case(
        "a manifest whose shard_bits do not follow its entries",
        {**doc["proofs"], "shard_bits": bits + 1},
    )
    manifest_case(
        "a manifest whose shard_bits are too few for its entries",
        {**doc["proofs"], "shard_bits": bits - 1},
    )
    manifest_case(
        "a manifest whose shards_root is upper-case hex",
        {**doc["proofs"], "shards_root": root.hex().upper()},
    )
    manifest_case(
        "a manifest whose shards_root is 63 hex digits",
        {**doc["proofs"], "shards_root": root.hex()[:63]},
    )
    manifest_case("a manifest without shards_root", {"entries": 65, "shard_bits": bits})
    manifest_case(
        "a porsegregate/2 manifest with porsegregate/1's shard_prefix_hex_chars",
        {**doc["proofs"], "shard_prefix_hex_chars": 1},
    )
    manifest_case("a manifest with 0 entries", {**doc["proofs"], "entries": 0, "shard_bits": 0})
    return cases


def entry_iv_cases() -> list[dict[str, Any]]:
    """porsegregate/2 entries' synthetic IVs (docs/protocol.md, "Encrypted entry
    (porsegregate/2)"), spelled here from the rule, apart from publish's code:
    V = HKDF-SHA256(M, salt "porsegregate/1", info "entry-ivs" || 0x00 || lp(e), 32) and
    iv = HMAC-SHA256(V, lookup (16) || plaintext)[0:12]."""
    lookup = hashlib.sha256(b"porsegregate test vectors: an entry's lookup id").digest()[:16]
    other = hashlib.sha256(b"porsegregate test vectors: another lookup id").digest()[:16]
    bundle = hashlib.sha256(b"porsegregate test vectors: a plaintext").digest() * 5
    changed = bundle[:-1] + bytes((bundle[-1] ^ 0x01,))
    cases = []
    for name, epoch, lk, plaintext in (
        ("empty plaintext", EPOCH, lookup, b""),
        ("one byte", EPOCH, lookup, b"\x00"),
        ("a 160-byte plaintext", EPOCH, lookup, bundle),
        ("the same plaintext, its last byte changed", EPOCH, lookup, changed),
        ("the same plaintext under another lookup id", EPOCH, other, bundle),
        ("the same plaintext and lookup id in another epoch", OLD_EPOCH, lookup, bundle),
    ):
        info = b"entry-ivs\x00" + bytes((len(epoch.encode()),)) + epoch.encode()
        v = _crypto.hkdf(MASTER, b"porsegregate/1", info, 32)
        iv = hmac.digest(v, lk + plaintext, "sha256")[:12]
        cases.append(
            {
                "name": name,
                "master_secret": MASTER.hex(),
                "epoch": epoch,
                "iv_key": v.hex(),
                "lookup": lk.hex(),
                "plaintext": plaintext.hex(),
                "iv": iv.hex(),
            }
        )
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
    for name, doc in (
        ("codes.json", code_cases()),
        ("proofs.json", {"cases": proof_cases()}),
        ("proofs-v2.json", {"cases": proof_cases_v2()}),
        ("shards-v2.json", {"cases": shard_cases_v2()}),
        ("entry-ivs.json", {"cases": entry_iv_cases()}),
        ("legal.json", {"cases": legal_cases()}),
    ):
        (out / name).write_text(
            json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
