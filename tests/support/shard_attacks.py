"""Attacks on porsegregate/2 shards by whoever serves the site (docs/protocol.md section 6):
the client's shard with a wrong path, another shard served under its name, or none at all.
The manifest is left as signed; its shards root catches each (the client's `shard-hash`,
the audit's `proof-shards`). Only the root's copy is touched (the epoch's home keeps its
own, hard links are broken first)."""

from __future__ import annotations

from pathlib import Path

from porsegregate.protocol import layout
from porsegregate.protocol.bundle import shard_index
from porsegregate.protocol.codes import parse_code
from porsegregate.protocol.hashing import epoch_keys
from porsegregate.protocol.serialization import parse_manifest

from .history import History


def client_shard(h: History) -> tuple[Path, int, int]:
    """The root's shard file of the history's client in the newest epoch, its index and b."""
    manifest = parse_manifest((h.site / layout.MANIFEST).read_bytes())
    bits = manifest.shard_bits
    assert bits is not None, "a porsegregate/2 site"
    index = shard_index(epoch_keys(parse_code(h.code), h.epochs[-1]).lookup, bits)
    return h.site / layout.shard_file(index, bits), index, bits


def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # never write through a hard link into the epoch's home
    path.write_bytes(data)


def shard_path_altered(h: History) -> None:
    """One bit of the first hash of the client's shard's path flipped: its entries are intact,
    but the shard no longer folds to the signed shards root."""
    path, _, _ = client_shard(h)
    data = bytearray(path.read_bytes())
    data[9] ^= 1
    _replace(path, bytes(data))


def shard_of_another_index(h: History) -> None:
    """The neighbouring shard (valid, with its own path) served under the client's shard's
    name: it folds to the root, but it is not the shard of that name."""
    path, index, bits = client_shard(h)
    other = h.site / layout.shard_file(index ^ 1, bits)
    _replace(path, other.read_bytes())


def shard_missing(h: History) -> None:
    """The client's shard is not served at all (every one of the 2^b shards is published)."""
    path, _, _ = client_shard(h)
    path.unlink()
