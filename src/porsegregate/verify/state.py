"""What a client remembers between checks: the last log checkpoint seen, per custodian key.

`porsegregate verify --state FILE` keeps it in a small JSON file (the browser
page keeps the same in localStorage), so the next check can prove that the
log only grew since — or show that history was rewritten or forked (T7, T8).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._fs import atomic_write
from ..errors import InputError
from ..protocol.models import Checkpoint
from ..protocol.serialization import json_loads

STATE_FORMAT = "porsegregate-state/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Seen:
    size: int
    root: bytes
    time: str
    epoch: str


class ClientState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.logs: dict[str, Seen] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            doc: Any = json_loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a porsegregate state file ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise InputError(f"{path}: not a {STATE_FORMAT} file")
        logs = doc.get("logs")
        if not isinstance(logs, dict):
            raise InputError(f"{path}: 'logs' must be an object")
        for fingerprint, item in logs.items():
            ok = (
                isinstance(fingerprint, str)
                and _HEX64.fullmatch(fingerprint)
                and isinstance(item, dict)
                and isinstance(item.get("size"), int)
                and not isinstance(item.get("size"), bool)
                and item["size"] > 0
                and isinstance(item.get("root"), str)
                and _HEX64.fullmatch(item["root"])
            )
            if not ok:
                raise InputError(f"{path}: the entry for log {fingerprint!r} is malformed")
            self.logs[fingerprint] = Seen(
                item["size"],
                bytes.fromhex(item["root"]),
                str(item.get("time", "")),
                str(item.get("epoch", "")),
            )

    def seen(self, log: str) -> Seen | None:
        return self.logs.get(log)

    def remember(self, checkpoint: Checkpoint) -> None:
        self.logs[checkpoint.log] = Seen(
            checkpoint.size, checkpoint.root, checkpoint.time, checkpoint.epoch
        )

    def save(self) -> None:
        if self.path is None:
            return
        doc = {
            "format": STATE_FORMAT,
            "logs": {
                log: {"size": s.size, "root": s.root.hex(), "time": s.time, "epoch": s.epoch}
                for log, s in sorted(self.logs.items())
            },
        }
        atomic_write(self.path, (json.dumps(doc, indent=2) + "\n").encode())
