"""Round trips of every model and binary format, over generated values (hypothesis)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate.errors import FormatError
from porsegregate.protocol.amounts import MAX_AMOUNT
from porsegregate.protocol.bundle import (
    AssetProof,
    Bundle,
    BundleLayout,
    LeafProof,
    decode_bundle,
    decode_shard,
    decode_shard_v2,
    encode_bundle,
    encode_bundle_v2,
    encode_shard,
    shard_bits,
    shard_body,
    shard_header,
    shard_index,
    shard_leaf,
    shard_root_of,
    shard_tree,
    sum_bytes,
)
from porsegregate.protocol.codes import SECRET_BITS, format_code, parse_code
from porsegregate.protocol.coverage import compute_coverage
from porsegregate.protocol.hashing import FORMAT_V1, FORMAT_V2, FORMATS, MAX_PARTS, text_problem
from porsegregate.protocol.models import (
    CATEGORIES,
    NETWORK_PATTERNS,
    PROOF_TYPES,
    READABLE_KINDS,
    AssetLiabilities,
    Attestation,
    ChainAsset,
    ChainSnapshot,
    ControlProof,
    Custodian,
    Holding,
    Manifest,
    ProofFile,
    Reserves,
    Wallet,
)
from porsegregate.protocol.serialization import (
    KEY_REVEALING,
    attestation_bytes,
    manifest_bytes,
    parse_attestation,
    parse_manifest,
    parse_proof_file,
    proof_file_bytes,
    wallet_sort_key,
)

amounts = st.integers(0, MAX_AMOUNT)
hashes = st.binary(min_size=32, max_size=32)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
epochs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
asset_codes = st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,8}", fullmatch=True)
account_ids = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40
).filter(lambda s: s == s.strip() and len(s.encode()) <= 128)


labels = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: text_problem(s) is None
)
chain_ids = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True)
urls = st.none() | st.from_regex(r"https://[a-z]{1,10}\.example/\{address\}", fullmatch=True)


@st.composite
def reserves_for(draw: st.DrawFn, assets: tuple[AssetLiabilities, ...]) -> Reserves:
    codes = [a.code for a in assets]
    chains = []
    for chain_id in sorted(draw(st.sets(chain_ids, max_size=3))):
        held = sorted(draw(st.sets(st.sampled_from(codes), min_size=1)))
        chains.append(
            ChainSnapshot(
                chain_id,
                kind := draw(st.sampled_from(("evm", "bitcoin", "ed25519"))),
                draw(st.from_regex(NETWORK_PATTERNS[kind], fullmatch=True)),
                draw(st.integers(0, 2**53 - 1)),
                draw(labels),
                tuple(ChainAsset(c, draw(st.none() | labels)) for c in held),
                draw(urls),
                draw(urls),
            )
        )
    wallets: dict[tuple[str, str], Wallet] = {}
    for _ in range(draw(st.integers(0, 6)) if chains else 0):
        chain = draw(st.sampled_from(chains))
        category = draw(st.sampled_from(CATEGORIES))
        proof_type = draw(st.sampled_from((*PROOF_TYPES[chain.kind], "none")))
        proven = proof_type != "none"
        held = draw(st.sets(st.sampled_from([a.code for a in chain.assets]), min_size=1))
        wallet = Wallet(
            chain=chain.id,
            address=draw(labels),
            category=category,
            holder=draw(labels),
            label=draw(text),
            client_tag=draw(hashes) if category == "client_dedicated" else None,
            holdings=tuple(
                Holding(
                    c,
                    draw(st.integers(0, 2**100)),
                    # Only a kind a node can be asked for is ever read from the chain.
                    draw(st.sampled_from(("chain", "declared")))
                    if chain.kind in READABLE_KINDS
                    else "declared",
                )
                for c in sorted(held)
            ),
            proof=ControlProof(
                proof_type,
                draw(labels) if proven else None,
                (
                    draw(hashes).hex()
                    if proof_type in KEY_REVEALING
                    else draw(st.none() | hashes.map(bytes.hex))
                )
                if proven
                else None,
                None if proven else draw(labels),
            ),
        )
        wallets[(wallet.chain, wallet.address)] = wallet
    listed = sorted(wallets.values(), key=wallet_sort_key)
    coverage = tuple(compute_coverage(a.code, a.decimals, a.total, listed, {}, {}) for a in assets)
    return Reserves(tuple(chains), tuple(listed), coverage)


@st.composite
def attestations(draw: st.DrawFn) -> Attestation:
    codes = sorted(draw(st.sets(asset_codes, min_size=1, max_size=5)))
    fmt = draw(st.sampled_from(FORMATS))
    # porsegregate/2: one height (1..64) and one part count (1..16) for every asset.
    height, parts = draw(st.integers(1, 64)), draw(st.integers(1, MAX_PARTS))

    def shape() -> tuple[int, int | None]:
        return (draw(st.integers(0, 64)), None) if fmt == FORMAT_V1 else (height, parts)

    assets = tuple(
        AssetLiabilities(c, draw(st.integers(0, 30)), draw(hashes), draw(amounts), *shape())
        for c in codes
    )
    return Attestation(
        format=fmt,
        generator=draw(text),
        custodian=Custodian(draw(labels), draw(text)),
        segregation_arrangement=draw(text),
        epoch_id=draw(epochs),
        snapshot_time="2026-11-30T23:59:59Z",
        assets=assets,
        previous_attestation_sha256=draw(st.none() | hashes.map(bytes.hex)),
        reserves=draw(reserves_for(assets)),
        next_due=draw(st.sampled_from(["2026-12-31T00:00:00Z", "2099-01-01T00:00:00Z"])),
    )


@settings(max_examples=150)
@given(attestations())
def test_attestation_round_trips_and_is_canonical(a: Attestation) -> None:
    data = attestation_bytes(a)
    assert parse_attestation(data) == a
    assert rfc8785.dumps(json.loads(data)) == data, "RFC 8785 canonical form"


@given(
    epochs,
    hashes,
    st.integers(0, 32),
    st.dictionaries(st.from_regex(r"proofs/[0-9a-f]{1,4}\.bin", fullmatch=True), hashes),
)
def test_manifest_round_trips(epoch: str, att: bytes, q: int, files: dict[str, bytes]) -> None:
    m = Manifest(FORMAT_V1, epoch, att.hex(), q, {k: v.hex() for k, v in files.items()})
    assert parse_manifest(manifest_bytes(m)) == m


@given(epochs, hashes, st.integers(1, 2**32 - 1), hashes)
def test_v2_manifest_round_trips_and_its_shard_bits_follow_the_entries(
    epoch: str, att: bytes, entries: int, root: bytes
) -> None:
    b = shard_bits(entries)
    assert entries <= 32 << b and (b == 0 or entries > 32 << (b - 1))
    m = Manifest(FORMAT_V2, epoch, att.hex(), 0, {"attestation.json": att.hex()}, entries, b, root)
    assert parse_manifest(manifest_bytes(m)) == m
    with pytest.raises(FormatError, match="shard_bits"):
        parse_manifest(manifest_bytes(replace(m, shard_bits=b + 1)))
    doc = json.loads(manifest_bytes(m))
    assert set(doc["proofs"]) == {"entries", "shard_bits", "shards_root"}
    for bad in ("AB" * 32, root.hex()[:-1], 7):
        doc["proofs"]["shards_root"] = bad
        with pytest.raises(FormatError, match="shards_root"):
            parse_manifest(rfc8785.dumps(doc))
    doc["proofs"]["shards_root"] = root.hex()
    doc["proofs"]["shard_prefix_hex_chars"] = 1
    with pytest.raises(FormatError, match="shard_prefix_hex_chars"):
        parse_manifest(rfc8785.dumps(doc))


def test_sum_width_is_the_largest_totals_bytes() -> None:
    assert sum_bytes([]) == 1 and sum_bytes([0]) == 1 and sum_bytes([255]) == 1
    assert sum_bytes([256, 3]) == 2 and sum_bytes([2**64 - 1]) == 8 and sum_bytes([2**64]) == 9
    assert sum_bytes([2**128 - 1]) == 16


@given(
    st.binary(max_size=300),
    st.binary(min_size=64, max_size=64),
    st.binary(min_size=16, max_size=16),
    st.binary(),
)
def test_proof_file_round_trips(att: bytes, sig: bytes, lookup: bytes, entry: bytes) -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    p = ProofFile(att, sig, pem, lookup, entry)
    assert parse_proof_file(proof_file_bytes(p)) == p  # porsegregate-proof/1: no log


@given(
    st.binary(max_size=300),
    st.binary(max_size=200),
    st.binary(min_size=64, max_size=64),
    st.integers(min_value=0, max_value=2**53 - 2),
    st.binary(max_size=300),
)
def test_proof_file_2_round_trips_its_log_files_byte_for_byte(
    att: bytes, checkpoint: bytes, checkpoint_sig: bytes, index: int, inclusion: bytes
) -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    files = {
        "log/checkpoint.json": checkpoint,
        "log/checkpoint.json.sig": checkpoint_sig,
        "log/checkpoint.note": checkpoint + b"\n",
        f"log/inclusion/{index}.json": inclusion,
        f"log/witnesses/{index + 1}/{'ab' * 32}.note": checkpoint_sig,
    }
    p = ProofFile(att, b"s" * 64, pem, b"l" * 16, b"e", files)
    data = proof_file_bytes(p)
    assert json.loads(data)["format"] == "porsegregate-proof/2"
    assert parse_proof_file(data) == p


@st.composite
def bundles(draw: st.DrawFn) -> Bundle:
    assets = []
    for code in sorted(draw(st.sets(asset_codes, min_size=1, max_size=4))):
        leaves = []
        for _ in range(draw(st.integers(1, 3))):
            h = draw(st.integers(0, 12))
            siblings = tuple((draw(hashes), draw(amounts)) for _ in range(h))
            leaves.append(
                LeafProof(
                    draw(st.integers(0, 2**32 - 1)),
                    draw(amounts),
                    draw(st.integers(0, 2**64 - 1)),
                    siblings,
                )
            )
        assets.append(AssetProof(code, tuple(leaves)))
    return Bundle(FORMAT_V1, draw(epochs), draw(account_ids), tuple(assets))


@settings(max_examples=100)
@given(bundles())
def test_bundle_round_trips(b: Bundle) -> None:
    assert decode_bundle(encode_bundle(b)) == b


@st.composite
def v2_bundles(draw: st.DrawFn) -> tuple[BundleLayout, list[str], Bundle]:
    codes = sorted(draw(st.sets(asset_codes, min_size=1, max_size=9)))
    width = draw(st.integers(1, 16))  # S: every amount and sibling sum in this many bytes
    layout = BundleLayout(len(codes), draw(st.integers(1, 6)), draw(st.integers(1, 3)), width)
    fits = st.integers(0, 256**width - 1)
    held = sorted(draw(st.sets(st.sampled_from(codes), min_size=1)))
    assets = tuple(
        AssetProof(
            code,
            tuple(
                LeafProof(
                    part,
                    draw(fits),
                    draw(st.integers(0, 2**64 - 1)),
                    tuple((draw(hashes), draw(fits)) for _ in range(layout.height)),
                )
                for part in range(layout.parts)
            ),
        )
        for code in held
    )
    return layout, codes, Bundle(FORMAT_V2, draw(epochs), draw(account_ids), assets)


@settings(max_examples=100)
@given(v2_bundles())
def test_v2_bundle_round_trips_at_its_bucket_size(
    drawn: tuple[BundleLayout, list[str], Bundle],
) -> None:
    layout, codes, b = drawn
    data = encode_bundle_v2(b, layout, codes)
    assert decode_bundle(data, FORMAT_V2, layout, codes) == b
    # The length tells only the bucket: the next power of two of the assets held, at most all.
    slots = layout.slots(len(b.assets))
    assert slots >= len(b.assets) and slots == min(
        len(codes), 1 << (len(b.assets) - 1).bit_length()
    )
    assert len(data) == layout.plaintext_bytes(b.epoch, slots)


@given(st.dictionaries(st.binary(min_size=16, max_size=16), st.binary(max_size=200), max_size=20))
def test_shard_round_trips(entries: dict[bytes, bytes]) -> None:
    ordered = sorted(entries.items())
    assert decode_shard(encode_shard(ordered)) == entries


@given(
    st.integers(0, 4),
    st.dictionaries(st.binary(min_size=16, max_size=16), st.binary(max_size=50), max_size=30),
)
def test_v2_shards_round_trip_and_fold_to_their_root(
    bits: int, entries: dict[bytes, bytes]
) -> None:
    """PSS2: each entry in the shard of its lookup id's first b bits, each shard's path folds
    to the one root, and another index or bits does not."""
    shards: list[list[tuple[bytes, bytes]]] = [[] for _ in range(1 << bits)]
    for lookup, blob in sorted(entries.items()):
        shards[shard_index(lookup, bits)].append((lookup, blob))
    bodies = [shard_body(s) for s in shards]
    leaves = [shard_leaf("e1", bits, i, body) for i, body in enumerate(bodies)]
    root, paths = shard_tree(leaves)
    for i, body in enumerate(bodies):
        shard = decode_shard_v2(shard_header(bits, i, paths[i]) + body)
        assert (shard.bits, shard.index, shard.body) == (bits, i, body)
        assert shard.entries == dict(shards[i]) and shard.root("e1") == root
        assert shard_root_of(leaves[i], i, paths[i]) == root
        if bits:
            assert shard_root_of(leaves[i], i ^ 1, paths[i]) != root
            assert shard.root("e2") != root
        if shards[i] and bits:
            other = (i + 1) % (1 << bits)
            with pytest.raises(FormatError, match="is not in shard"):
                decode_shard_v2(shard_header(bits, other, paths[other]) + body)


@given(st.integers(0, (1 << SECRET_BITS) - 1))
def test_code_round_trips(value: int) -> None:
    secret = value.to_bytes(17, "big")
    code = format_code(secret)
    assert len(code) == 34 and code.count("-") == 6
    assert parse_code(code) == secret
    assert parse_code(code.lower().replace("-", " ")) == secret
