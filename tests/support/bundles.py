"""Attacks on clients' proof bundles by the custodian, who holds the master secret (so every
client's keys) and the signing key: a bundle rewritten, re-encrypted validly, its shard
re-listed in a re-signed manifest. Every path still folds to the signed root; only the
bundle's form gives it away (docs/protocol.md sections 6 and 9: `bundle-format`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from porsegregate import _crypto
from porsegregate.protocol import layout
from porsegregate.protocol.bundle import (
    Bundle,
    bundle_aad,
    decode_bundle,
    decode_shard,
    decode_shard_v2,
    encode_bundle,
    encode_bundle_v2,
    encode_shard,
    shard_body,
    shard_header,
    shard_index,
    shard_leaf,
    shard_tree,
)
from porsegregate.protocol.codes import client_secret
from porsegregate.protocol.hashing import EpochKeys, epoch_keys
from porsegregate.protocol.models import Attestation
from porsegregate.protocol.serialization import canonical, parse_attestation, parse_manifest
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.publish.keys import load_master_secret

from .history import History


def asset_twice(bundle: Bundle) -> Bundle:
    """The client's first asset listed again: its balance shown twice."""
    return replace(bundle, assets=(bundle.assets[0], *bundle.assets))


def assets_reversed(bundle: Bundle) -> Bundle:
    """The client's assets out of the attestation's order."""
    return replace(bundle, assets=tuple(reversed(bundle.assets)))


def client_holding(h: History, assets: int) -> str:
    """An account whose newest-epoch bundle lists at least this many assets."""
    for account in h.codes:
        if len(newest_bundle(h, account).assets) >= assets:
            return account
    raise AssertionError(f"no client holds {assets} assets")


def newest_bundle(h: History, account: str) -> Bundle:
    """The account's bundle in the newest epoch, opened as the custodian can."""
    attestation = parse_attestation((h.site / layout.ATTESTATION).read_bytes())
    manifest = parse_manifest((h.site / layout.MANIFEST).read_bytes())
    master = load_master_secret(h.config.master_secret, DEMO_PASSPHRASE)
    keys = epoch_keys(client_secret(master, account), attestation.epoch_id)
    if manifest.shard_bits is None:
        name = layout.shard_name(keys.lookup.hex()[: manifest.shard_prefix_chars])
        entry = decode_shard((h.site / name).read_bytes())[keys.lookup]
    else:
        bits = manifest.shard_bits
        name = layout.shard_file(shard_index(keys.lookup, bits), bits)
        entry = decode_shard_v2((h.site / name).read_bytes()).entries[keys.lookup]
    return open_entry(attestation, keys, entry)


def open_entry(attestation: Attestation, keys: EpochKeys, entry: bytes) -> Bundle:
    """A client's entry decrypted and decoded, in the attestation's format."""
    fmt = attestation.format
    plaintext = _crypto.aes_gcm_decrypt(
        keys.key, entry, bundle_aad(attestation.epoch_id, keys.lookup, fmt)
    )
    codes = [a.code for a in attestation.assets]
    return decode_bundle(plaintext, fmt, attestation.bundle_layout, codes)


def seal(attestation: Attestation, keys: EpochKeys, bundle: Bundle) -> bytes:
    """A bundle encoded in the attestation's format and encrypted as the custodian can."""
    fmt = attestation.format
    layout_ = attestation.bundle_layout
    codes = [a.code for a in attestation.assets]
    plaintext = (
        encode_bundle(bundle) if layout_ is None else encode_bundle_v2(bundle, layout_, codes)
    )
    aad = bundle_aad(attestation.epoch_id, keys.lookup, fmt)
    return _crypto.aes_gcm_encrypt(keys.key, plaintext, aad)


def rewrite_newest_bundle(h: History, account: str, edit: Callable[[Bundle], Bundle]) -> None:
    """The newest epoch's bundle of `account`, edited, re-encrypted under the client's own key
    and re-published at the root and in the epoch's home, with their manifests re-signed."""
    attestation = parse_attestation((h.site / layout.ATTESTATION).read_bytes())
    master = load_master_secret(h.config.master_secret, DEMO_PASSPHRASE)
    keys = epoch_keys(client_secret(master, account), attestation.epoch_id)

    def rewrite(entries: dict[bytes, bytes]) -> None:
        entries[keys.lookup] = seal(
            attestation, keys, edit(open_entry(attestation, keys, entries[keys.lookup]))
        )

    rewrite_newest_shard(h, keys.lookup.hex(), rewrite)


def reverse_entries(entries: dict[bytes, bytes]) -> None:
    """A shard's entries in descending lookup order (write with raw=True): malformed."""
    items = list(entries.items())[::-1]
    entries.clear()
    entries.update(items)


def rewrite_newest_shard(
    h: History, lookup_hex: str, edit: Callable[[dict[bytes, bytes]], None], raw: bool = False
) -> str:
    """The newest epoch's shard that holds lookup id `lookup_hex` (a hex prefix will do),
    its entries edited in place by `edit`, re-published at the root and in the epoch's home
    with their manifests re-signed, as the custodian can; returns the shard's name. With
    `raw` the entries are written in the order `edit` leaves them (not sorted)."""
    epoch = parse_attestation((h.site / layout.ATTESTATION).read_bytes()).epoch_id
    name = ""
    for folder in (h.site, h.site / "epochs" / epoch):
        manifest_path = folder / layout.MANIFEST
        manifest = parse_manifest(manifest_path.read_bytes())
        if manifest.shard_bits is not None:
            name = rewrite_shard_v2(h, folder, epoch, lookup_hex, edit, raw)
            continue
        name = layout.shard_name(lookup_hex[: manifest.shard_prefix_chars])
        shard = folder / name
        entries = decode_shard(shard.read_bytes())
        edit(entries)
        data = encode_shard(list(entries.items()) if raw else sorted(entries.items()))
        shard.unlink()  # never write through a hard link into another folder
        shard.write_bytes(data)
        doc = json.loads(manifest_path.read_bytes())
        doc["files"][name] = _crypto.sha256_hex(data)
        signed = canonical(doc)
        signature = h.signing_key().sign(signed)
        signature_path = folder / layout.sig(layout.MANIFEST)
        for path, content in ((manifest_path, signed), (signature_path, signature)):
            path.unlink()
            path.write_bytes(content)
    return name


def _resign_manifest(h: History, folder: Path, doc: dict[str, Any]) -> None:
    manifest_path = folder / layout.MANIFEST
    signed = canonical(doc)
    signature = h.signing_key().sign(signed)
    signature_path = folder / layout.sig(layout.MANIFEST)
    for path, content in ((manifest_path, signed), (signature_path, signature)):
        path.unlink()
        path.write_bytes(content)


def write_shards_v2(
    h: History,
    folder: Path,
    epoch: str,
    bodies: list[bytes],
    headers: dict[int, bytes] | None = None,
) -> None:
    """porsegregate/2: the 2^b shards of `folder` written from their bodies (index order), each
    with its path to the new shards root (or the header `headers` gives it), and the
    manifest's shards_root re-signed, as the custodian can."""
    bits = len(bodies).bit_length() - 1
    root, paths = shard_tree([shard_leaf(epoch, bits, i, body) for i, body in enumerate(bodies)])
    for index, body in enumerate(bodies):
        shard = folder / layout.shard_file(index, bits)
        header = (headers or {}).get(index, shard_header(bits, index, paths[index]))
        shard.unlink()  # never write through a hard link into another folder
        shard.write_bytes(header + body)
    doc = json.loads((folder / layout.MANIFEST).read_bytes())
    doc["proofs"]["shards_root"] = root.hex()
    _resign_manifest(h, folder, doc)


def shard_bodies_v2(folder: Path) -> list[bytes]:
    """porsegregate/2: every shard's body of `folder`, in index order."""
    bits = parse_manifest((folder / layout.MANIFEST).read_bytes()).shard_bits
    assert bits is not None
    return [
        decode_shard_v2((folder / layout.shard_file(i, bits)).read_bytes()).body
        for i in range(1 << bits)
    ]


def rewrite_shard_v2(
    h: History,
    folder: Path,
    epoch: str,
    lookup_hex: str,
    edit: Callable[[dict[bytes, bytes]], None],
    raw: bool = False,
) -> str:
    """porsegregate/2: the shard of `folder` holding `lookup_hex` (padded with zeros), edited;
    every shard's path and the manifest's shards_root rewritten to fit; returns its name."""
    bits = parse_manifest((folder / layout.MANIFEST).read_bytes()).shard_bits
    assert bits is not None
    index = shard_index(bytes.fromhex(lookup_hex.ljust(32, "0")), bits)
    bodies = shard_bodies_v2(folder)
    name = layout.shard_file(index, bits)
    entries = decode_shard_v2((folder / name).read_bytes()).entries
    edit(entries)
    bodies[index] = shard_body(list(entries.items()) if raw else sorted(entries.items()))
    write_shards_v2(h, folder, epoch, bodies)
    return name
