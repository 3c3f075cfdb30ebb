"""`reserves snapshot`: each chain's last block at or before the snapshot time, written into
the epoch's reserves file (its `block` and `block_hash`), found on the custodian's nodes.

The rest of the file is kept byte for byte: in a TOML file only the value of the `block`
and `block_hash` lines of each `[chains.ID]` table read is replaced (a missing line is
added under the table's header); a JSON file is rewritten with the same content. Wallet
signatures stay valid: the message a wallet key signs binds the custodian, the epoch, the
liabilities' hash, the chain id, the address, the category and the holder, never the block
(protocol/control.py), so the block may be set before or after the signing ceremony.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .._fs import atomic_write
from ..chains import family
from ..errors import InputError
from .config import Config
from .pipeline import parse_snapshot_time
from .readers import make_readers
from .reserves import read_reserves


@dataclass(frozen=True)
class ChainBlock:
    chain: str
    node: str
    height: int
    block_hash: str
    time: int  # the block's unix time
    previous_height: int  # what the file said before


@dataclass(frozen=True)
class SnapshotResult:
    path: Path
    snapshot_time: str
    chains: tuple[ChainBlock, ...]
    unread: tuple[str, ...]  # declared chains no --rpc was given for: left as they were

    def to_json(self) -> dict[str, Any]:
        return {
            "reserves": str(self.path),
            "snapshot_time": self.snapshot_time,
            "chains": [
                {
                    "chain": c.chain,
                    "node": c.node,
                    "block": c.height,
                    "block_hash": c.block_hash,
                    "block_time": c.time,
                    "previous_block": c.previous_height,
                }
                for c in self.chains
            ],
            "unread": list(self.unread),
        }


def snapshot_blocks(
    config: Config,
    epoch: str,
    snapshot_time: str,
    urls: dict[str, str],
    reserves_path: Path | None = None,
) -> SnapshotResult:
    """Find each `--rpc` chain's block at the snapshot time and write it into the file."""
    if not urls:
        raise InputError("give --rpc CHAIN=URL for each chain whose snapshot block to find")
    path = reserves_path or config.for_epoch(epoch).reserves
    when = parse_snapshot_time(snapshot_time)
    unix = int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
    declaration = read_reserves(path, config.assets, signed=False)
    readers = make_readers(urls, declaration.chains)
    found: list[ChainBlock] = []
    for chain in declaration.chains:
        reader = readers.get(chain.id)
        if reader is None:
            continue
        height, block_hash, block_time = reader.block_at_or_before(chain, unix)
        found.append(
            ChainBlock(
                chain.id,
                reader.node,
                height,
                family(chain.kind).block_hash(block_hash),
                block_time,
                chain.block_height,
            )
        )
    original = path.read_bytes()
    if path.suffix.lower() == ".json":
        updated = _edit_json(path, original, found)
    else:
        updated = _edit_toml(path, original.decode("utf-8"), found).encode("utf-8")
    # Written beside the file and read back before it replaces it: never a file publish refuses.
    check = path.with_name(f".{path.name}.snapshot{path.suffix}")
    try:
        atomic_write(check, updated)
        again = {c.id: c for c in read_reserves(check, config.assets, signed=False).chains}
        for c in found:
            if (again[c.chain].block_height, again[c.chain].block_hash) != (c.height, c.block_hash):
                raise InputError(f"{path}: [chains.{c.chain}] could not be updated")
    finally:
        check.unlink(missing_ok=True)
    atomic_write(path, updated)
    unread = tuple(c.id for c in declaration.chains if c.id not in readers)
    return SnapshotResult(path, when, tuple(found), unread)


def _edit_json(path: Path, data: bytes, found: list[ChainBlock]) -> bytes:
    doc = json.loads(data)
    for c in found:
        table = doc["chains"][c.chain]
        table["block"] = c.height
        table["block_hash"] = c.block_hash
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


_HEADER = re.compile(r"^\s*\[\s*chains\s*\.\s*(?:\"([^\"]+)\"|'([^']+)'|([A-Za-z0-9_-]+))\s*\]")
_TABLE = re.compile(r"^\s*\[")


def _edit_toml(path: Path, text: str, found: list[ChainBlock]) -> str:
    lines = text.splitlines(keepends=True)
    for c in found:
        start = next(
            (
                i
                for i, line in enumerate(lines)
                if (m := _HEADER.match(line)) and c.chain in m.groups()
            ),
            None,
        )
        if start is None:
            raise InputError(
                f"{path}: no [chains.{c.chain}] table header to write block {c.height} into; "
                f"write block = {c.height} and block_hash = {json.dumps(c.block_hash)} by hand"
            )
        end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
        for key, value in (("block", str(c.height)), ("block_hash", json.dumps(c.block_hash))):
            pattern = re.compile(rf"^(\s*{key}\s*=\s*)(\"[^\"]*\"|'[^']*'|[^#\s]*)(.*)$", re.S)
            for i in range(start + 1, end):
                m = pattern.match(lines[i])
                if m:
                    lines[i] = m.group(1) + value + m.group(3)
                    break
            else:
                newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
                if not lines[start].endswith(("\n", "\r")):
                    lines[start] += newline
                lines.insert(start + 1, f"{key} = {value}{newline}")
                end += 1
    return "".join(lines)
