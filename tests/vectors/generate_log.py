"""Generate the transparency-log vectors (RFC 9162 inclusion and consistency proofs).

    python tests/vectors/generate_log.py [OUTDIR]

Writes log.json: the leaves of a log of 1..13 entries (each entry the SHA-256
of a fixed label, as an attestation digest would be), the root of every size
(checked against pymerkle's SQLite backend), and proofs with the verdict
every verifier must reach: the Python one (tests/test_transparency.py) and the
browser one (tests/js/porverify.test.mjs).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from porsegregate.protocol.transparency import (
    consistency_proof,
    inclusion_path,
    leaf_hash,
    root_of,
)
from porsegregate.publish.history import TransparencyLog

SIZE = 13


def entry(i: int) -> bytes:
    return hashlib.sha256(b"porsegregate log vector entry %d" % i).digest()


def main(out: Path) -> None:
    entries = [entry(i) for i in range(SIZE)]
    leaves = [leaf_hash(e) for e in entries]
    roots = [root_of(leaves[:n]).hex() for n in range(SIZE + 1)]
    with tempfile.TemporaryDirectory() as tmp, TransparencyLog(Path(tmp) / "log.sqlite") as log:
        for e in entries:
            log.append(e)
        assert [log.root(n).hex() for n in range(1, SIZE + 1)] == roots[1:], "pymerkle agrees"
    flip = lambda h: h[:-1] + bytes((h[-1] ^ 1,))  # noqa: E731
    inclusion: list[dict[str, Any]] = []
    for n in (1, 2, 3, 5, 8, 13):
        for i in range(n):
            path = inclusion_path(i, leaves[:n])
            case = {"entry": entries[i].hex(), "index": i, "size": n, "root": roots[n]}
            inclusion.append({**case, "path": [h.hex() for h in path], "valid": True})
            if i == n // 2:
                inclusion.append(
                    {
                        **case,
                        "index": (i + 1) % n,
                        "path": [h.hex() for h in path],
                        "valid": n == 1,
                        "why": "another index",
                    }
                )
                if path:
                    inclusion.append(
                        {
                            **case,
                            "path": [flip(path[0]).hex(), *[h.hex() for h in path[1:]]],
                            "valid": False,
                            "why": "a path node altered",
                        }
                    )
                    inclusion.append(
                        {
                            **case,
                            "path": [h.hex() for h in path[:-1]],
                            "valid": False,
                            "why": "path one short",
                        }
                    )
                inclusion.append(
                    {
                        **case,
                        "path": [*[h.hex() for h in path], roots[n]],
                        "valid": False,
                        "why": "path one long",
                    }
                )
                inclusion.append(
                    {
                        **case,
                        "entry": entries[(i + 1) % SIZE].hex(),
                        "path": [h.hex() for h in path],
                        "valid": False,
                        "why": "another entry",
                    }
                )
    inclusion.append(
        {
            "entry": entries[0].hex(),
            "index": 5,
            "size": 5,
            "root": roots[5],
            "path": [],
            "valid": False,
            "why": "index outside the tree",
        }
    )
    consistency: list[dict[str, Any]] = []
    for n in (1, 2, 3, 4, 7, 8, 13):
        for m in range(1, n + 1):
            proof = [h.hex() for h in consistency_proof(m, leaves[:n])]
            case = {"first": m, "second": n, "first_root": roots[m], "second_root": roots[n]}
            consistency.append({**case, "path": proof, "valid": True})
            if m < n and m in (1, n // 2, n - 1):
                consistency.append(
                    {
                        **case,
                        "first_root": roots[m - 1] if m > 1 else roots[2],
                        "path": proof,
                        "valid": False,
                        "why": "a forked older root",
                    }
                )
                consistency.append(
                    {**case, "path": proof[:-1], "valid": False, "why": "proof one short"}
                )
                consistency.append(
                    {**case, "path": [*proof, roots[n]], "valid": False, "why": "proof one long"}
                )
    consistency.append(
        {
            "first": 4,
            "second": 3,
            "first_root": roots[4],
            "second_root": roots[3],
            "path": [],
            "valid": False,
            "why": "the log shrank",
        }
    )
    consistency.append(
        {
            "first": 5,
            "second": 5,
            "first_root": roots[5],
            "second_root": roots[4],
            "path": [],
            "valid": False,
            "why": "two roots of one size (a fork)",
        }
    )
    doc = {
        "entries": [e.hex() for e in entries],
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
