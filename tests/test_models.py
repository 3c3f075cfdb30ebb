"""Round trips of every model and binary format, over generated values (hypothesis)."""

from __future__ import annotations

import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from porsegregate import PROTOCOL_VERSION
from porsegregate.amounts import MAX_AMOUNT
from porsegregate.bundle import (
    AssetProof,
    Bundle,
    LeafProof,
    decode_bundle,
    decode_shard,
    encode_bundle,
    encode_shard,
)
from porsegregate.codes import SECRET_BITS, format_code, parse_code
from porsegregate.models import AssetLiabilities, Attestation, Custodian, Manifest, ProofFile
from porsegregate.serialization import (
    attestation_bytes,
    manifest_bytes,
    parse_attestation,
    parse_manifest,
    parse_proof_file,
    proof_file_bytes,
)

amounts = st.integers(0, MAX_AMOUNT)
hashes = st.binary(min_size=32, max_size=32)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
epochs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
asset_codes = st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,8}", fullmatch=True)
account_ids = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40
).filter(lambda s: s == s.strip() and len(s.encode()) <= 128)


@st.composite
def attestations(draw: st.DrawFn) -> Attestation:
    codes = sorted(draw(st.sets(asset_codes, min_size=1, max_size=5)))
    assets = tuple(
        AssetLiabilities(
            c, draw(st.integers(0, 30)), draw(hashes), draw(amounts), draw(st.integers(0, 64))
        )
        for c in codes
    )
    return Attestation(
        format=PROTOCOL_VERSION,
        generator=draw(text),
        custodian=Custodian(draw(text), draw(text)),
        segregation_arrangement=draw(text),
        epoch_id=draw(epochs),
        snapshot_time="2026-11-30T23:59:59Z",
        assets=assets,
        previous_attestation_sha256=draw(st.none() | hashes.map(bytes.hex)),
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
    m = Manifest(PROTOCOL_VERSION, epoch, att.hex(), q, {k: v.hex() for k, v in files.items()})
    assert parse_manifest(manifest_bytes(m)) == m


@given(
    st.binary(max_size=300),
    st.binary(min_size=64, max_size=64),
    st.binary(min_size=16, max_size=16),
    st.binary(),
)
def test_proof_file_round_trips(att: bytes, sig: bytes, lookup: bytes, entry: bytes) -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    p = ProofFile(att, sig, pem, lookup, entry)
    assert parse_proof_file(proof_file_bytes(p)) == p


@st.composite
def bundles(draw: st.DrawFn) -> Bundle:
    assets = []
    for code in sorted(draw(st.sets(asset_codes, max_size=4))):
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
    return Bundle(PROTOCOL_VERSION, draw(epochs), draw(account_ids), tuple(assets))


@settings(max_examples=100)
@given(bundles())
def test_bundle_round_trips(b: Bundle) -> None:
    assert decode_bundle(encode_bundle(b)) == b


@given(st.dictionaries(st.binary(min_size=16, max_size=16), st.binary(max_size=200), max_size=20))
def test_shard_round_trips(entries: dict[bytes, bytes]) -> None:
    ordered = sorted(entries.items())
    assert decode_shard(encode_shard(ordered)) == entries


@given(st.integers(0, (1 << SECRET_BITS) - 1))
def test_code_round_trips(value: int) -> None:
    secret = value.to_bytes(17, "big")
    code = format_code(secret)
    assert len(code) == 34 and code.count("-") == 6
    assert parse_code(code) == secret
    assert parse_code(code.lower().replace("-", " ")) == secret
