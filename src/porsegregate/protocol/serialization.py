"""Canonical (RFC 8785) JSON for the models, and strict parsing back.

Parsing is strict because a verifier's input is hostile: every field is
checked for type, shape and range, and any problem is a FormatError naming
the field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
from typing import Any

import rfc8785

from ..errors import FormatError
from .amounts import AMOUNT_BYTES, MAX_DECIMALS, parse_units
from .bundle import MAX_ASSETS_V2, MAX_ENTRIES, shard_bits
from .coverage import percent
from .hashing import (
    FORMAT_V1,
    FORMAT_V2,
    FORMATS,
    MAX_HEIGHT,
    MAX_PARTS,
    check_asset_code,
    check_chain_id,
    check_epoch_id,
    text_problem,
)
from .layout import (
    CHECKPOINT,
    CHECKPOINT_NOTE,
    INCLUSION_FILE,
    WITNESS_COSIGNATURE_FILE,
    inclusion_name,
    is_time,
    safe_relative,
    sig,
)
from .legal import legal_to_dict, parse_legal
from .models import (
    CATEGORIES,
    CHAIN_KINDS,
    NETWORK_PATTERNS,
    PROOF_TYPES,
    READABLE_KINDS,
    UNPROVEN,
    AssetCoverage,
    AssetLiabilities,
    Attestation,
    ChainAsset,
    ChainSnapshot,
    Checkpoint,
    ConsistencyProof,
    ControlProof,
    Custodian,
    Holding,
    InclusionProof,
    LogEntry,
    Manifest,
    ProofFile,
    Reserves,
    Wallet,
    Witnesses,
)
from .witness import MAX_WITNESSES, parse_witnesses, witnesses_to_dict

PROOF_FORMAT = "porsegregate-proof/2"
# Still read: a proof saved before the log was carried; its verification says the log was
# not checked (docs/protocol.md section 10).
PROOF_FORMAT_1 = "porsegregate-proof/1"
# The published log files a proof file carries, by their published names, besides the
# inclusion proof of the newest entry, log/inclusion/<n-1>.json, and the witnesses'
# co-signatures of the checkpoint, log/witnesses/<n>/<fingerprint>.note (section 10).
PROOF_LOG_FILES = (CHECKPOINT, sig(CHECKPOINT), CHECKPOINT_NOTE)
INCLUSION_NAME = inclusion_name(0).removesuffix("0.json") + "<n-1>.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Proof types whose signature always reveals the signer's key (BIP-322 does for the
# address types porsegregate accepts, but is left optional).
KEY_REVEALING = ("eip191", "bip137", "ed25519")


MAX_TEXT = 4000


def canonical(obj: Any) -> bytes:
    return bytes(rfc8785.dumps(obj))


def liabilities_to_dict(assets: tuple[AssetLiabilities, ...]) -> dict[str, Any]:
    return {
        "hash": "SHA-256",
        "amount_bytes": AMOUNT_BYTES,
        "assets": [
            {
                "code": x.code,
                "decimals": x.decimals,
                "root": x.root.hex(),
                "total": str(x.total),
                "padded_height": x.padded_height,
                # porsegregate/2 only: porsegregate/1 has no such member.
                **({} if x.parts is None else {"parts": x.parts}),
            }
            for x in sorted(assets, key=lambda x: x.code)
        ],
    }


def liabilities_sha256(assets: tuple[AssetLiabilities, ...]) -> str:
    """What proof-of-control messages bind: SHA-256 of the canonical liabilities section."""
    return hashlib.sha256(canonical(liabilities_to_dict(assets))).hexdigest()


def wallet_sort_key(w: Wallet) -> tuple[int, str, str, str]:
    return (CATEGORIES.index(w.category), w.holder, w.chain, w.address)


def reserves_to_dict(r: Reserves) -> dict[str, Any]:
    return {
        "chains": [
            {
                "id": c.id,
                "kind": c.kind,
                "network": c.network,
                "block": {"height": c.block_height, "hash": c.block_hash},
                "assets": [{"code": a.code, "contract": a.contract} for a in c.assets],
                "explorer": {"address": c.explorer_address, "block": c.explorer_block},
            }
            for c in sorted(r.chains, key=lambda c: c.id)
        ],
        "wallets": [
            {
                "chain": w.chain,
                "address": w.address,
                "category": w.category,
                "holder": w.holder,
                "label": w.label,
                "client_tag": w.client_tag.hex() if w.client_tag is not None else None,
                "holdings": [
                    {"asset": h.asset, "amount": str(h.amount), "source": h.source}
                    for h in sorted(w.holdings, key=lambda h: h.asset)
                ],
                "proof": {
                    "type": w.proof.type,
                    "signature": w.proof.signature,
                    "public_key": w.proof.public_key,
                    "evidence": w.proof.evidence,
                },
            }
            for w in sorted(r.wallets, key=wallet_sort_key)
        ],
        "coverage": [
            {
                "asset": c.asset,
                "decimals": c.decimals,
                "liabilities": str(c.liabilities),
                "client_segregated": str(c.client_segregated),
                "client_dedicated": str(c.client_dedicated),
                "client_dedicated_counted": str(c.client_dedicated_counted),
                "third_party": str(c.third_party),
                "proprietary": str(c.proprietary),
                "dedicated_shortfalls": c.dedicated_shortfalls,
                "segregated_percent": percent(c.segregated, c.liabilities),
                "including_third_party_percent": percent(
                    c.segregated + c.third_party, c.liabilities
                ),
                "covered": c.covered,
            }
            for c in sorted(r.coverage, key=lambda c: c.asset)
        ],
        "shortfall": r.shortfall,
    }


def attestation_to_dict(a: Attestation) -> dict[str, Any]:
    doc = {
        "format": a.format,
        "generator": a.generator,
        "custodian": {"name": a.custodian.name, "legal_entity": a.custodian.legal_entity},
        "segregation": {"arrangement": a.segregation_arrangement},
        "epoch": {"id": a.epoch_id, "snapshot_time": a.snapshot_time, "next_due": a.next_due},
        "liabilities": liabilities_to_dict(a.assets),
        "reserves": reserves_to_dict(a.reserves),
        "previous_attestation_sha256": a.previous_attestation_sha256,
    }
    if a.witnesses.keys:  # absent when the custodian names no witnesses (threshold 0)
        doc["witnesses"] = witnesses_to_dict(a.witnesses)
    if a.legal is not None:  # absent when the custodian declares no legal entities
        doc["legal"] = legal_to_dict(a.legal)
    return doc


def attestation_bytes(a: Attestation) -> bytes:
    return canonical(attestation_to_dict(a))


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise FormatError(f"{where}.{key} is missing")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise FormatError(f"{where}.{key} must be an integer")
    if not isinstance(value, kind):
        raise FormatError(f"{where}.{key} must be a {kind.__name__}")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise FormatError(f"{where}.{key} is too long")
    return value


def _only(obj: Any, keys: tuple[str, ...], where: str) -> None:
    extra = sorted(set(obj) - set(keys)) if isinstance(obj, dict) else []
    if extra:
        raise FormatError(f"{where} has unknown member(s) {', '.join(extra)}")


# Nesting deeper than any porsegregate document; far below what the C stack survives.
MAX_JSON_RECURSION = 1000


def json_loads(text: str | bytes) -> Any:
    """json.loads with Python's default recursion limit, whatever a library set it to.

    py_ecc (imported by eth-account) raises the interpreter's limit to 100,000, and
    at that depth a hostile `[[[[...` overflows the C stack instead of raising
    RecursionError. Every JSON that porsegregate reads from a site goes through here.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(min(old, MAX_JSON_RECURSION))
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(old)


def _load_json(data: bytes, what: str) -> Any:
    try:
        return json_loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(f"{what} is not JSON: {exc}") from exc


def _load_canonical(data: bytes, what: str) -> Any:
    """Signed documents must be exactly RFC 8785: one reading for every JSON parser.

    This rules out duplicate keys (which parsers resolve differently), floats
    standing in for integers, and any other spelling of the same document.
    """
    doc = _load_json(data, what)
    try:
        again = canonical(doc)
    except (rfc8785.CanonicalizationError, RecursionError) as exc:
        raise FormatError(f"{what} cannot be put in RFC 8785 canonical form: {exc}") from exc
    if again != data:
        raise FormatError(
            f"{what} is not in RFC 8785 canonical form (duplicate keys, floats, "
            "whitespace or key order)"
        )
    return doc


def _opt_str(obj: Any, key: str, where: str) -> str | None:
    if not isinstance(obj, dict) or key not in obj:
        raise FormatError(f"{where}.{key} is missing")
    value = obj[key]
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise FormatError(f"{where}.{key} must be null or a string of at most {MAX_TEXT} chars")
    return value


def _units(obj: Any, key: str, where: str) -> int:
    text = _get(obj, key, str, where)
    try:
        return parse_units(text)
    except ValueError as exc:
        raise FormatError(f"{where}.{key}: {exc}") from exc


def _label(obj: Any, key: str, where: str) -> str:
    value: str = _get(obj, key, str, where)
    problem = text_problem(value)
    if problem:
        raise FormatError(f"{where}.{key}: {problem}")
    return value


def _network(item: Any, kind: str, where: str) -> str:
    """A chain's network in its kind's one spelling (NETWORK_PATTERNS)."""
    network = _label(item, "network", where)
    if not re.fullmatch(NETWORK_PATTERNS[kind], network):
        raise FormatError(
            f"{where}.network {network!r} is not a {kind} network in its one spelling "
            f"({NETWORK_PATTERNS[kind]})"
        )
    return network


def _hex_or_none(value: str | None, length: int | None, where: str) -> str | None:
    if value is not None and not (
        re.fullmatch(r"(?:[0-9a-f]{2})+", value) and (length is None or len(value) == length)
    ):
        raise FormatError(
            f"{where} must be lowercase hex" + (f" of {length} digits" if length else "")
        )
    return value


_WALLET_MEMBERS = (
    "chain",
    "address",
    "category",
    "holder",
    "label",
    "client_tag",
    "holdings",
    "proof",
)
_COVERAGE_MEMBERS = (
    "asset",
    "decimals",
    "liabilities",
    "client_segregated",
    "client_dedicated",
    "client_dedicated_counted",
    "third_party",
    "proprietary",
    "dedicated_shortfalls",
    "segregated_percent",
    "including_third_party_percent",
    "covered",
)
_ATTESTATION_MEMBERS = (
    "format",
    "generator",
    "custodian",
    "segregation",
    "epoch",
    "liabilities",
    "reserves",
    "previous_attestation_sha256",
    "witnesses",
    "legal",
)


def parse_reserves(doc: Any, assets: tuple[AssetLiabilities, ...]) -> Reserves:
    """The attestation's reserves section, checked for shape and internal consistency."""
    where = "reserves"
    _only(doc, ("chains", "wallets", "coverage", "shortfall"), where)
    chains: list[ChainSnapshot] = []
    for i, item in enumerate(_get(doc, "chains", list, where)):
        w = f"reserves.chains[{i}]"
        _only(item, ("id", "kind", "network", "block", "assets", "explorer"), w)
        kind = _get(item, "kind", str, w)
        if kind not in CHAIN_KINDS:
            raise FormatError(f"{w}.kind {kind!r} is not one of {', '.join(CHAIN_KINDS)}")
        block = _get(item, "block", dict, w)
        _only(block, ("height", "hash"), f"{w}.block")
        height = _get(block, "height", int, f"{w}.block")
        if not 0 <= height < 2**53:
            raise FormatError(f"{w}.block.height is out of range")
        chain_assets = []
        for j, a in enumerate(_get(item, "assets", list, w)):
            aw = f"{w}.assets[{j}]"
            _only(a, ("code", "contract"), aw)
            raw_code = _get(a, "code", str, aw)
            try:
                code = check_asset_code(raw_code)
            except ValueError as exc:
                raise FormatError(f"{aw}: {exc}") from exc
            chain_assets.append(ChainAsset(code, _opt_str(a, "contract", aw)))
        codes = [a.code for a in chain_assets]
        if len(set(codes)) != len(codes):
            raise FormatError(f"{w}.assets lists an asset twice")
        explorer = _get(item, "explorer", dict, w)
        _only(explorer, ("address", "block"), f"{w}.explorer")
        for key in ("address", "block"):
            link = _opt_str(explorer, key, f"{w}.explorer")
            if link is not None and not link.startswith("https://"):
                raise FormatError(f"{w}.explorer.{key} must be null or an https:// URL template")
        raw_id = _get(item, "id", str, w)
        try:
            chain_id = check_chain_id(raw_id)
        except ValueError as exc:
            raise FormatError(f"{w}: {exc}") from exc
        chains.append(
            ChainSnapshot(
                id=chain_id,
                kind=kind,
                network=_network(item, kind, w),
                block_height=height,
                block_hash=_label(block, "hash", f"{w}.block"),
                assets=tuple(chain_assets),
                explorer_address=_opt_str(explorer, "address", f"{w}.explorer"),
                explorer_block=_opt_str(explorer, "block", f"{w}.explorer"),
            )
        )
    ids = [c.id for c in chains]
    if ids != sorted(set(ids)):
        raise FormatError("reserves.chains must be sorted by id without duplicates")
    by_id = {c.id: c for c in chains}

    wallets: list[Wallet] = []
    for i, item in enumerate(_get(doc, "wallets", list, where)):
        w = f"reserves.wallets[{i}]"
        _only(item, _WALLET_MEMBERS, w)
        chain = by_id.get(_get(item, "chain", str, w))
        if chain is None:
            raise FormatError(f"{w}.chain is not one of the listed chains")
        category = _get(item, "category", str, w)
        if category not in CATEGORIES:
            raise FormatError(f"{w}.category {category!r} is not one of {', '.join(CATEGORIES)}")
        tag = _hex_or_none(_opt_str(item, "client_tag", w), 64, f"{w}.client_tag")
        if (tag is not None) != (category == "client_dedicated"):
            raise FormatError(f"{w}: client_tag is required for, and only for, client_dedicated")
        holdings = []
        for j, h in enumerate(_get(item, "holdings", list, w)):
            hw = f"{w}.holdings[{j}]"
            _only(h, ("asset", "amount", "source"), hw)
            asset = _get(h, "asset", str, hw)
            if chain.asset(asset) is None:
                raise FormatError(f"{hw}.asset {asset!r} is not an asset of chain {chain.id}")
            source = _get(h, "source", str, hw)
            if source not in ("chain", "declared"):
                raise FormatError(f"{hw}.source must be 'chain' or 'declared'")
            if source == "chain" and chain.kind not in READABLE_KINDS:
                raise FormatError(
                    f"{hw}.source is 'chain', but balances on {chain.kind} chains are not read "
                    "from a node: they are 'declared'"
                )
            holdings.append(Holding(asset, _units(h, "amount", hw), source))
        if [h.asset for h in holdings] != sorted({h.asset for h in holdings}):
            raise FormatError(f"{w}.holdings must be sorted by asset without duplicates")
        proof = _get(item, "proof", dict, w)
        _only(proof, ("type", "signature", "public_key", "evidence"), f"{w}.proof")
        ptype = _get(proof, "type", str, f"{w}.proof")
        signature = _opt_str(proof, "signature", f"{w}.proof")
        evidence = _opt_str(proof, "evidence", f"{w}.proof")
        public_key = _hex_or_none(_opt_str(proof, "public_key", f"{w}.proof"), None, f"{w}.proof")
        if ptype == UNPROVEN:
            if signature is not None or public_key is not None or not evidence:
                raise FormatError(
                    f"{w}.proof: an unproven wallet has evidence, and no signature or public key"
                )
        elif ptype not in PROOF_TYPES[chain.kind]:
            raise FormatError(f"{w}.proof.type {ptype!r} is not a proof type for {chain.kind}")
        elif signature is None:
            raise FormatError(f"{w}.proof.signature is missing")
        elif public_key is None and ptype in KEY_REVEALING:
            # The key is what commingling is checked on; a verifier that cannot recover it
            # (the browser, for secp256k1) must still see it.
            raise FormatError(f"{w}.proof.public_key is missing ({ptype} reveals the key)")
        wallets.append(
            Wallet(
                chain=chain.id,
                address=_label(item, "address", w),
                category=category,
                holder=_label(item, "holder", w),
                label=_get(item, "label", str, w),
                client_tag=bytes.fromhex(tag) if tag is not None else None,
                holdings=tuple(holdings),
                proof=ControlProof(ptype, signature, public_key, evidence),
            )
        )
    if [wallet_sort_key(x) for x in wallets] != sorted(wallet_sort_key(x) for x in wallets):
        raise FormatError("reserves.wallets must be sorted by category, holder, chain, address")
    if len({(x.chain, x.address) for x in wallets}) != len(wallets):
        raise FormatError("reserves.wallets lists the same chain and address twice")

    decimals = {a.code: a.decimals for a in assets}
    coverage: list[AssetCoverage] = []
    for i, item in enumerate(_get(doc, "coverage", list, where)):
        w = f"reserves.coverage[{i}]"
        _only(item, _COVERAGE_MEMBERS, w)
        asset = _get(item, "asset", str, w)
        if asset not in decimals or _get(item, "decimals", int, w) != decimals[asset]:
            raise FormatError(f"{w}: {asset!r} is not a liabilities asset, or its decimals differ")
        shortfalls = _get(item, "dedicated_shortfalls", int, w)
        if not 0 <= shortfalls < 2**53:
            raise FormatError(f"{w}.dedicated_shortfalls is out of range")
        row = AssetCoverage(
            asset=asset,
            decimals=decimals[asset],
            liabilities=_units(item, "liabilities", w),
            client_segregated=_units(item, "client_segregated", w),
            client_dedicated=_units(item, "client_dedicated", w),
            client_dedicated_counted=_units(item, "client_dedicated_counted", w),
            third_party=_units(item, "third_party", w),
            proprietary=_units(item, "proprietary", w),
            dedicated_shortfalls=shortfalls,
        )
        # The derived fields must be what the figures say: no page can show a rounder number.
        if _opt_str(item, "segregated_percent", w) != percent(row.segregated, row.liabilities):
            raise FormatError(f"{w}.segregated_percent does not match its figures")
        if _opt_str(item, "including_third_party_percent", w) != percent(
            row.segregated + row.third_party, row.liabilities
        ):
            raise FormatError(f"{w}.including_third_party_percent does not match its figures")
        if _get(item, "covered", bool, w) != row.covered:
            raise FormatError(f"{w}.covered does not match its figures")
        coverage.append(row)
    if [c.asset for c in coverage] != sorted(decimals):
        raise FormatError("reserves.coverage must list every liabilities asset once, sorted")
    for c in coverage:
        if c.liabilities != next(a.total for a in assets if a.code == c.asset):
            raise FormatError(
                f"reserves.coverage {c.asset}: liabilities differ from the signed total"
            )
    reserves = Reserves(tuple(chains), tuple(wallets), tuple(coverage))
    if _get(doc, "shortfall", bool, where) != reserves.shortfall:
        raise FormatError("reserves.shortfall does not match the coverage rows")
    return reserves


def parse_attestation(data: bytes) -> Attestation:
    doc = _load_canonical(data, "attestation.json")
    fmt = _get(doc, "format", str, "attestation")
    if fmt not in FORMATS:
        raise FormatError(f"attestation format {fmt!r} is not one of {', '.join(FORMATS)}")
    # Every object has exactly its members (witnesses and legal are optional).
    _only(doc, _ATTESTATION_MEMBERS, "attestation")
    cust = _get(doc, "custodian", dict, "attestation")
    _only(cust, ("name", "legal_entity"), "custodian")
    name_problem = text_problem(_get(cust, "name", str, "custodian"))
    if name_problem:  # a line of every proof-of-control message
        raise FormatError(f"custodian.name {name_problem}")
    epoch = _get(doc, "epoch", dict, "attestation")
    _only(epoch, ("id", "snapshot_time", "next_due"), "epoch")
    _only(_get(doc, "segregation", dict, "attestation"), ("arrangement",), "segregation")
    liab = _get(doc, "liabilities", dict, "attestation")
    # Proof-of-control messages bind the hash of this member as re-serialised from its
    # fields, so it may hold nothing else.
    _only(liab, ("hash", "amount_bytes", "assets"), "liabilities")
    if _get(liab, "hash", str, "liabilities") != "SHA-256":
        raise FormatError("liabilities.hash must be SHA-256")
    if _get(liab, "amount_bytes", int, "liabilities") != AMOUNT_BYTES:
        raise FormatError(f"liabilities.amount_bytes must be {AMOUNT_BYTES}")
    assets = [
        _parse_asset(item, f"liabilities.assets[{i}]", fmt)
        for i, item in enumerate(_get(liab, "assets", list, "liabilities"))
    ]
    if fmt == FORMAT_V2 and len(assets) > MAX_ASSETS_V2:
        raise FormatError(
            f"liabilities.assets: a porsegregate/2 attestation lists at most {MAX_ASSETS_V2} assets"
        )
    if fmt == FORMAT_V2 and len({(a.padded_height, a.parts) for a in assets}) > 1:
        raise FormatError(
            "liabilities.assets: every asset of a porsegregate/2 attestation has the same "
            "padded_height and the same parts"
        )
    codes = [a.code for a in assets]
    if codes != sorted(set(codes)):
        raise FormatError("liabilities.assets must be sorted by code without duplicates")
    if "previous_attestation_sha256" not in doc:
        raise FormatError("attestation.previous_attestation_sha256 is missing")
    prev = doc["previous_attestation_sha256"]
    if prev is not None and not (isinstance(prev, str) and _HEX64.fullmatch(prev)):
        raise FormatError("previous_attestation_sha256 must be null or 64 hex digits")
    snapshot = _get(epoch, "snapshot_time", str, "epoch")
    if not is_time(snapshot):
        raise FormatError("epoch.snapshot_time must be YYYY-MM-DDTHH:MM:SSZ")
    next_due = _get(epoch, "next_due", str, "epoch")
    if not is_time(next_due) or next_due <= snapshot:
        raise FormatError("epoch.next_due must be YYYY-MM-DDTHH:MM:SSZ, after snapshot_time")
    try:
        epoch_id = check_epoch_id(_get(epoch, "id", str, "epoch"))
    except ValueError as exc:
        raise FormatError(str(exc)) from exc
    return Attestation(
        format=fmt,
        generator=_get(doc, "generator", str, "attestation"),
        custodian=Custodian(
            _get(cust, "name", str, "custodian"), _get(cust, "legal_entity", str, "custodian")
        ),
        segregation_arrangement=_get(
            _get(doc, "segregation", dict, "attestation"), "arrangement", str, "segregation"
        ),
        epoch_id=epoch_id,
        snapshot_time=snapshot,
        assets=tuple(assets),
        previous_attestation_sha256=prev,
        next_due=next_due,
        reserves=parse_reserves(_get(doc, "reserves", dict, "attestation"), tuple(assets)),
        witnesses=parse_witnesses(doc["witnesses"]) if "witnesses" in doc else Witnesses(),
        legal=parse_legal(doc["legal"]) if "legal" in doc else None,
    )


def _parse_asset(item: Any, where: str, fmt: str) -> AssetLiabilities:
    v2 = fmt == FORMAT_V2
    members = ("code", "decimals", "root", "total", "padded_height")
    _only(item, (*members, "parts") if v2 else members, where)
    root = _get(item, "root", str, where)
    if not _HEX64.fullmatch(root):
        raise FormatError(f"{where}.root must be 64 lowercase hex digits")
    decimals = _get(item, "decimals", int, where)
    height = _get(item, "padded_height", int, where)
    if not 0 <= decimals <= MAX_DECIMALS or not int(v2) <= height <= MAX_HEIGHT:
        raise FormatError(f"{where}: decimals or padded_height out of range")
    parts = _get(item, "parts", int, where) if v2 else None
    if parts is not None and not 1 <= parts <= MAX_PARTS:
        raise FormatError(f"{where}.parts must be 1 to {MAX_PARTS}")
    try:
        code = check_asset_code(_get(item, "code", str, where))
        total = parse_units(_get(item, "total", str, where))
    except ValueError as exc:
        raise FormatError(f"{where}: {exc}") from exc
    return AssetLiabilities(code, decimals, bytes.fromhex(root), total, height, parts)


def manifest_bytes(m: Manifest) -> bytes:
    proofs: dict[str, Any]
    if m.format == FORMAT_V1:
        proofs = {"shard_prefix_hex_chars": m.shard_prefix_chars}
    else:
        proofs = {
            "entries": m.entries,
            "shard_bits": m.shard_bits,
            "shards_root": m.shards_root.hex() if m.shards_root is not None else None,
        }
    return canonical(
        {
            "format": m.format,
            "epoch": m.epoch_id,
            "attestation_sha256": m.attestation_sha256,
            "proofs": proofs,
            "files": dict(sorted(m.files.items())),
        }
    )


def parse_manifest(data: bytes) -> Manifest:
    doc = _load_canonical(data, "manifest.json")
    fmt = _get(doc, "format", str, "manifest")
    if fmt not in FORMATS:
        raise FormatError(f"manifest format {fmt!r} is not one of {', '.join(FORMATS)}")
    _only(doc, ("format", "epoch", "attestation_sha256", "proofs", "files"), "manifest")
    att = _get(doc, "attestation_sha256", str, "manifest")
    if not _HEX64.fullmatch(att):
        raise FormatError("manifest.attestation_sha256 is not 64 lowercase hex digits")
    proofs = _get(doc, "proofs", dict, "manifest")
    files = _get(doc, "files", dict, "manifest")
    prefix = 0
    entries = bits = None
    root = None
    if fmt == FORMAT_V1:
        _only(proofs, ("shard_prefix_hex_chars",), "proofs")
        prefix = _get(proofs, "shard_prefix_hex_chars", int, "proofs")
        if not 0 <= prefix <= 32:
            raise FormatError("manifest proofs.shard_prefix_hex_chars must be 0 to 32")
    else:
        _only(proofs, ("entries", "shard_bits", "shards_root"), "proofs")
        entries = _get(proofs, "entries", int, "proofs")
        bits = _get(proofs, "shard_bits", int, "proofs")
        root_hex = _get(proofs, "shards_root", str, "proofs")
        if not 1 <= entries <= MAX_ENTRIES:
            raise FormatError(f"manifest proofs.entries must be 1 to {MAX_ENTRIES}")
        if bits != shard_bits(entries):
            raise FormatError(
                f"manifest proofs.shard_bits is {bits}; {entries} entries make it "
                f"{shard_bits(entries)}"
            )
        if not _HEX64.fullmatch(root_hex):
            raise FormatError("manifest proofs.shards_root is not 64 lowercase hex digits")
        root = bytes.fromhex(root_hex)
    for path, digest in files.items():
        if not safe_relative(path):
            raise FormatError(f"manifest.files lists {path[:200]!r}, not a path inside the site")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise FormatError(f"manifest.files[{path!r}] is not a SHA-256 hex digest")
    return Manifest(
        fmt, _get(doc, "epoch", str, "manifest"), att, prefix, files, entries, bits, root
    )


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise FormatError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what} is not valid base64") from exc


def is_proof_log_name(name: str) -> bool:
    """A name `log_files` of a proof file may hold (docs/protocol.md section 10)."""
    return (
        name in PROOF_LOG_FILES
        or INCLUSION_FILE.fullmatch(name) is not None
        or WITNESS_COSIGNATURE_FILE.fullmatch(name) is not None
    )


def proof_file_bytes(p: ProofFile) -> bytes:
    """A porsegregate-proof/2 file (or /1 for a proof read from a /1 file, which has no log)."""
    doc: dict[str, Any] = {
        "format": PROOF_FORMAT if p.log_files is not None else PROOF_FORMAT_1,
        "attestation": base64.b64encode(p.attestation).decode(),
        "attestation_sig": base64.b64encode(p.attestation_sig).decode(),
        "public_key_pem": p.public_key_pem.decode(),
        "lookup": p.lookup.hex(),
        "entry": base64.b64encode(p.entry).decode(),
    }
    if p.log_files is not None:
        doc["log_files"] = {
            name: base64.b64encode(data).decode() for name, data in sorted(p.log_files.items())
        }
    return json.dumps(doc, indent=2).encode()


def _proof_log_files(doc: Any) -> dict[str, bytes]:
    """The published log files of a porsegregate-proof/2 file: each required name once."""
    files = _get(doc, "log_files", dict, "proof")
    out: dict[str, bytes] = {}
    for name, value in files.items():
        if not is_proof_log_name(name):
            raise FormatError(
                f"proof.log_files: {name!r} is not a file a proof file carries "
                f"({', '.join(PROOF_LOG_FILES)}, one {INCLUSION_NAME} and the witnesses' "
                "log/witnesses/<n>/<fingerprint>.note)"
            )
        out[name] = _b64(value, f"proof.log_files[{name!r}]")
    for name in PROOF_LOG_FILES:
        if name not in out:
            raise FormatError(f"proof.log_files has no {name}")
    inclusion = [name for name in out if INCLUSION_FILE.fullmatch(name)]
    if len(inclusion) != 1:
        raise FormatError(
            f"proof.log_files must hold exactly one {INCLUSION_NAME}, the inclusion proof of "
            f"the newest entry; it holds {len(inclusion)}"
        )
    cosigned = [name for name in out if WITNESS_COSIGNATURE_FILE.fullmatch(name)]
    if len(cosigned) > MAX_WITNESSES:
        raise FormatError(
            f"proof.log_files holds {len(cosigned)} witness co-signatures; an attestation names "
            f"at most {MAX_WITNESSES} witnesses"
        )
    return out


def proof_file_from_dict(doc: Any) -> ProofFile:
    """A porsegregate-proof/2 file, or a /1 file (no log: `log_files` is None)."""
    version = _get(doc, "format", str, "proof")
    if version not in (PROOF_FORMAT, PROOF_FORMAT_1):
        raise FormatError(f"not a {PROOF_FORMAT} (or {PROOF_FORMAT_1}) file")
    lookup = _get(doc, "lookup", str, "proof")
    if not re.fullmatch(r"[0-9a-f]{32}", lookup):
        raise FormatError("proof.lookup must be 32 lowercase hex digits")
    return ProofFile(
        attestation=_b64(doc.get("attestation"), "proof.attestation"),
        attestation_sig=_b64(doc.get("attestation_sig"), "proof.attestation_sig"),
        public_key_pem=_get(doc, "public_key_pem", str, "proof").encode(),
        lookup=bytes.fromhex(lookup),
        entry=_b64(doc.get("entry"), "proof.entry"),
        log_files=_proof_log_files(doc) if version == PROOF_FORMAT else None,
    )


def parse_proof_file(data: bytes) -> ProofFile:
    return proof_file_from_dict(_load_json(data, "proof file"))


CHECKPOINT_FORMAT = "porsegregate-checkpoint/1"
ENTRIES_FORMAT = "porsegregate-log-entries/1"
INCLUSION_FORMAT = "porsegregate-inclusion/1"
CONSISTENCY_FORMAT = "porsegregate-consistency/1"
MAX_LOG_SIZE = 2**53 - 1


def checkpoint_bytes(c: Checkpoint) -> bytes:
    return canonical(
        {
            "format": CHECKPOINT_FORMAT,
            "log": c.log,
            "size": c.size,
            "root": c.root.hex(),
            "time": c.time,
            "epoch": c.epoch,
        }
    )


def checkpoint_summary(c: Checkpoint) -> dict[str, Any]:
    """What a report says of a checkpoint (the log's identity is the key fingerprint beside it)."""
    return {"size": c.size, "root": c.root.hex(), "time": c.time, "epoch": c.epoch}


def parse_checkpoint(data: bytes) -> Checkpoint:
    doc = _load_canonical(data, "checkpoint")
    if _get(doc, "format", str, "checkpoint") != CHECKPOINT_FORMAT:
        raise FormatError(f"checkpoint format is not {CHECKPOINT_FORMAT}")
    _only(doc, ("format", "log", "size", "root", "time", "epoch"), "checkpoint")
    log, root = _get(doc, "log", str, "checkpoint"), _get(doc, "root", str, "checkpoint")
    size, time = _get(doc, "size", int, "checkpoint"), _get(doc, "time", str, "checkpoint")
    if not _HEX64.fullmatch(log) or not _HEX64.fullmatch(root):
        raise FormatError("checkpoint.log and checkpoint.root must be 64 lowercase hex digits")
    if not 1 <= size <= MAX_LOG_SIZE or not is_time(time):
        raise FormatError("checkpoint.size or checkpoint.time is out of range")
    try:
        epoch = check_epoch_id(_get(doc, "epoch", str, "checkpoint"))
    except ValueError as exc:
        raise FormatError(f"checkpoint: {exc}") from exc
    return Checkpoint(log, size, bytes.fromhex(root), time, epoch)


def entries_bytes(entries: list[LogEntry]) -> bytes:
    return canonical(
        {
            "format": ENTRIES_FORMAT,
            "entries": [
                {"index": e.index, "epoch": e.epoch, "attestation_sha256": e.attestation_sha256}
                for e in entries
            ],
        }
    )


def parse_entries(data: bytes) -> list[LogEntry]:
    doc = _load_canonical(data, "log entries")
    if _get(doc, "format", str, "entries") != ENTRIES_FORMAT:
        raise FormatError(f"log entries format is not {ENTRIES_FORMAT}")
    _only(doc, ("format", "entries"), "entries")
    entries = []
    for i, item in enumerate(_get(doc, "entries", list, "entries")):
        where = f"entries[{i}]"
        _only(item, ("index", "epoch", "attestation_sha256"), where)
        digest = _get(item, "attestation_sha256", str, where)
        if _get(item, "index", int, where) != i or not _HEX64.fullmatch(digest):
            raise FormatError(f"{where}: index must be {i} and attestation_sha256 a SHA-256")
        epoch_id = _get(item, "epoch", str, where)
        try:
            check_epoch_id(epoch_id)
        except ValueError as exc:
            raise FormatError(f"{where}: {exc}") from exc
        entries.append(LogEntry(i, epoch_id, digest))
    return entries


def _path(doc: Any, where: str) -> tuple[bytes, ...]:
    path = _get(doc, "path", list, where)
    if len(path) > 64 or not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in path):
        raise FormatError(f"{where}.path must be at most 64 SHA-256 hex digests")
    return tuple(bytes.fromhex(h) for h in path)


def inclusion_bytes(p: InclusionProof) -> bytes:
    return canonical(
        {
            "format": INCLUSION_FORMAT,
            "index": p.index,
            "tree_size": p.tree_size,
            "attestation_sha256": p.attestation_sha256,
            "path": [h.hex() for h in p.path],
        }
    )


def parse_inclusion(data: bytes) -> InclusionProof:
    doc = _load_canonical(data, "inclusion proof")
    if _get(doc, "format", str, "inclusion") != INCLUSION_FORMAT:
        raise FormatError(f"inclusion proof format is not {INCLUSION_FORMAT}")
    _only(doc, ("format", "index", "tree_size", "attestation_sha256", "path"), "inclusion")
    index, size = _get(doc, "index", int, "inclusion"), _get(doc, "tree_size", int, "inclusion")
    digest = _get(doc, "attestation_sha256", str, "inclusion")
    if not 0 <= index < size <= MAX_LOG_SIZE or not _HEX64.fullmatch(digest):
        raise FormatError("inclusion: index, tree_size or attestation_sha256 out of range")
    return InclusionProof(index, size, digest, _path(doc, "inclusion"))


def consistency_bytes(p: ConsistencyProof) -> bytes:
    return canonical(
        {
            "format": CONSISTENCY_FORMAT,
            "first": p.first,
            "second": p.second,
            "path": [h.hex() for h in p.path],
        }
    )


def parse_consistency(data: bytes) -> ConsistencyProof:
    doc = _load_canonical(data, "consistency proof")
    if _get(doc, "format", str, "consistency") != CONSISTENCY_FORMAT:
        raise FormatError(f"consistency proof format is not {CONSISTENCY_FORMAT}")
    _only(doc, ("format", "first", "second", "path"), "consistency")
    first, second = _get(doc, "first", int, "consistency"), _get(doc, "second", int, "consistency")
    if not 0 < first <= second <= MAX_LOG_SIZE:
        raise FormatError("consistency: first and second must satisfy 0 < first <= second")
    return ConsistencyProof(first, second, _path(doc, "consistency"))
