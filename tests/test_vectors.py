"""The shared vectors: the Python verifier must meet every expectation (the JS one too)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from porsegregate import _crypto
from porsegregate.errors import CodeError, FormatError, VerificationError
from porsegregate.protocol import layout
from porsegregate.protocol.bundle import bundle_aad, shard_index
from porsegregate.protocol.codes import client_secret, format_code, parse_code
from porsegregate.protocol.hashing import FORMAT_V2, account_commitment, epoch_keys
from porsegregate.protocol.serialization import parse_manifest, proof_file_from_dict
from porsegregate.publish.engine import encrypt_entries
from porsegregate.publish.epoch import entry_iv_key
from porsegregate.verify import checks
from porsegregate.verify.client import verify_proof

from .conftest import VECTORS, load_vectors

PROOFS = load_vectors("proofs.json")["cases"]
# porsegregate/2: fixed-size bundles, balances in parts (the /1 file above stays as it was).
PROOFS_V2 = load_vectors("proofs-v2.json")["cases"]
# Issue 14's cases (an attestation with `legal`), apart from proofs.json until the browser
# verifier reads `legal`: the Python verifier meets them now.
LEGAL = load_vectors("legal.json")["cases"]
CODES = load_vectors("codes.json")
# porsegregate/2 shards: the signed manifest, a lookup id, the bytes served at its shard's name.
SHARDS_V2 = load_vectors("shards-v2.json")["cases"]


ALL = PROOFS + PROOFS_V2 + LEGAL


@pytest.mark.parametrize("case", ALL, ids=[c["name"] for c in ALL])
def test_proof_vector(case: dict[str, Any]) -> None:
    report = verify_proof(
        proof_file_from_dict(case["proof"]), case["account_id"], case["code"], case["expect_key"]
    )
    expect = case["expect"]
    assert report.verified is expect["verified"], report.to_json()
    if expect["verified"]:
        assert {b.asset: str(b.amount) for b in report.balances} == expect["balances"]
        assert report.shortfall is expect["shortfall"]
        if "coverage" in expect:
            assert report.to_json()["coverage"] == expect["coverage"]
        # A porsegregate-proof/2 file's log is checked; a /1 file's report warns it was not.
        assert (report.checkpoint is not None) is expect["log_checked"]
        ids = [c.id for c in report.checks]
        assert ("log-inclusion" in ids) is expect["log_checked"]
        unchecked = [w for w in report.warnings if w.startswith("log not checked")]
        assert len(unchecked) == (0 if expect["log_checked"] else 1)
    else:
        failed = report.failed
        assert failed is not None
        assert {"id": failed.id, "asset": failed.asset} == expect["failed"]
        assert [c for c in report.checks if not c.ok] == [failed], "stops at the first failure"


@pytest.mark.parametrize("case", SHARDS_V2, ids=[c["name"] for c in SHARDS_V2])
def test_shard_vector(case: dict[str, Any]) -> None:
    """What the client's shard-hash check makes of the shard served for its lookup id."""
    expect = case["expect"]
    try:
        manifest = parse_manifest(base64.b64decode(case["manifest"]))
    except FormatError:
        assert expect == {"ok": False, "failed": "format"}
        return
    assert manifest.shard_bits is not None
    lookup = bytes.fromhex(case["lookup"])
    name = layout.shard_file(shard_index(lookup, manifest.shard_bits), manifest.shard_bits)
    data = base64.b64decode(case["shard"])
    try:
        entry = checks.shard_entry_v2(name, data, manifest, case["epoch"], lookup, checks.ignore)
    except VerificationError as exc:
        assert expect == {"ok": False, "failed": exc.check}
        return
    assert expect["ok"] is True and entry is not None
    assert _crypto.sha256_hex(entry) == expect["entry_sha256"]


@pytest.mark.parametrize("case", CODES["cases"], ids=lambda c: f"{c['account_id']}@{c['epoch']}")
def test_code_vector(case: dict[str, Any]) -> None:
    secret = client_secret(bytes.fromhex(case["master_secret"]), case["account_id"])
    assert secret.hex() == case["secret"]
    assert format_code(secret) == case["code"]
    assert parse_code(case["code"]) == secret
    keys = epoch_keys(secret, case["epoch"])
    assert (keys.nonce.hex(), keys.lookup.hex(), keys.key.hex()) == (
        case["nonce"],
        case["lookup"],
        case["key"],
    )
    assert (
        account_commitment(case["epoch"], keys.nonce, case["account_id"]).hex()
        == case["commitment"]
    )


@pytest.mark.parametrize("case", CODES["equivalent_spellings"], ids=lambda c: c["code"])
def test_code_spellings(case: dict[str, str]) -> None:
    assert parse_code(case["code"]) == parse_code(case["same_as"])


@pytest.mark.parametrize("case", CODES["bad_codes"], ids=lambda c: repr(c["code"]))
def test_bad_codes(case: dict[str, str]) -> None:
    with pytest.raises(CodeError) as info:
        parse_code(case["code"])
    assert info.value.kind == case["error"]


def test_vectors_are_reproducible(tmp_path: Path) -> None:
    """The committed vectors are exactly what the generator makes from its fixed seeds."""
    subprocess.run(
        [sys.executable, str(VECTORS / "generate.py"), str(tmp_path)], check=True, timeout=120
    )
    names = ("codes.json", "proofs.json", "proofs-v2.json", "shards-v2.json", "entry-ivs.json")
    for name in (*names, "legal.json"):
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


# porsegregate/2 entries' synthetic IVs: the publisher's rule (no verifier checks an IV).
ENTRY_IVS = load_vectors("entry-ivs.json")["cases"]


@pytest.mark.parametrize("case", ENTRY_IVS, ids=[c["name"] for c in ENTRY_IVS])
def test_entry_iv_vector(case: dict[str, str]) -> None:
    """publish derives V and each entry's IV exactly as the vector (spelled from the rule)."""
    iv_key = entry_iv_key(bytes.fromhex(case["master_secret"]), case["epoch"])
    assert iv_key.hex() == case["iv_key"]
    lookup, plaintext = bytes.fromhex(case["lookup"]), bytes.fromhex(case["plaintext"])
    key = bytes(range(32))
    aad = bundle_aad(case["epoch"], b"", FORMAT_V2)
    (blob,) = encrypt_entries(
        np.frombuffer(key, dtype=np.uint8).reshape(1, 32),
        [plaintext],
        np.frombuffer(lookup, dtype=np.uint8).reshape(1, 16),
        aad,
        iv_key,
    )
    assert blob[:12].hex() == case["iv"]
    assert _crypto.aes_gcm_decrypt(key, blob, aad + lookup) == plaintext


def test_entry_iv_vectors_differ_where_their_input_does() -> None:
    ivs = [c["iv"] for c in ENTRY_IVS]
    assert len(set(ivs)) == len(ivs)


V2_VALID = [c for c in PROOFS_V2 if c["expect"]["verified"]]


@pytest.mark.parametrize("case", V2_VALID, ids=[c["name"] for c in V2_VALID])
def test_v2_vector_entries_carry_synthetic_ivs(case: dict[str, Any]) -> None:
    """Each published porsegregate/2 entry of the vectors has IV = HMAC(V, lookup ||
    plaintext)[:12] under the vectors' master secret."""
    master = bytes.fromhex(ENTRY_IVS[0]["master_secret"])
    proof = proof_file_from_dict(case["proof"])
    epoch = json.loads(proof.attestation)["epoch"]["id"]
    keys = epoch_keys(client_secret(master, case["account_id"]), epoch)
    assert keys.lookup == proof.lookup
    plaintext = _crypto.aes_gcm_decrypt(
        keys.key, proof.entry, bundle_aad(epoch, proof.lookup, FORMAT_V2)
    )
    expected = _crypto.hmac_sha256(entry_iv_key(master, epoch), proof.lookup + plaintext)[:12]
    assert proof.entry[:12] == expected
