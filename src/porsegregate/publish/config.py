"""The custodian's workspace configuration, porsegregate.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FormatError
from ..protocol.amounts import MAX_DECIMALS
from ..protocol.hashing import check_asset_code, text_problem
from ..protocol.models import Asset, Custodian, Witnesses
from ..protocol.witness import parse_witnesses

CONFIG_NAME = "porsegregate.toml"
# How long an attestation stays current: its next_due is snapshot time + this.
DEFAULT_INTERVAL_DAYS = 31
MAX_TEXT = 4000


@dataclass(frozen=True)
class Config:
    path: Path
    custodian: Custodian
    segregation_arrangement: str
    assets: tuple[Asset, ...]
    signing_key: Path
    public_key: Path
    master_secret: Path
    liabilities: Path
    reserves: Path
    log: Path
    site: Path
    codes: Path
    interval_days: int = DEFAULT_INTERVAL_DAYS
    witnesses: Witnesses = field(default_factory=Witnesses)

    @property
    def workspace(self) -> Path:
        return self.path.parent

    def asset(self, code: str) -> Asset | None:
        for a in self.assets:
            if a.code == code:
                return a
        return None


def _text(table: dict[str, Any], key: str, where: str, path: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: [{where}] {key} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ConfigError(f"{path}: [{where}] {key} is longer than {MAX_TEXT} characters")
    if key == "name" and text_problem(value.strip()):
        # The name is a line of every proof-of-control message.
        raise ConfigError(f"{path}: [{where}] {key} {text_problem(value.strip())}")
    return value.strip()


def load_config(path: Path) -> Config:
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: no such config file (create a workspace with `porsegregate init DIR`)"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc

    def table(name: str) -> dict[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        return value

    custodian = table("custodian")
    segregation = table("segregation")
    files = table("files")
    raw_assets = doc.get("assets")
    if not isinstance(raw_assets, list) or not raw_assets:
        raise ConfigError(f"{path}: needs at least one [[assets]] entry with code and decimals")
    assets: list[Asset] = []
    for i, item in enumerate(raw_assets, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: [[assets]] entry {i} must be a table")
        code, decimals = item.get("code"), item.get("decimals")
        try:
            check_asset_code(code if isinstance(code, str) else "")
        except ValueError as exc:
            raise ConfigError(f"{path}: [[assets]] entry {i}: {exc}") from exc
        if isinstance(decimals, bool) or not isinstance(decimals, int):
            raise ConfigError(f"{path}: [[assets]] {code}: decimals must be an integer")
        if not 0 <= decimals <= MAX_DECIMALS:
            raise ConfigError(f"{path}: [[assets]] {code}: decimals must be 0 to {MAX_DECIMALS}")
        if any(a.code == code for a in assets):
            raise ConfigError(f"{path}: asset {code} is listed twice")
        assets.append(Asset(str(code), decimals))

    schedule = table("schedule")
    interval = schedule.get("interval_days", DEFAULT_INTERVAL_DAYS)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 400:
        raise ConfigError(f"{path}: [schedule] interval_days must be a whole number of days, 1-400")

    witnesses = _witnesses(table("witnesses"), path)
    base = path.parent

    def file(key: str, default: str) -> Path:
        value = files.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: [files] {key} must be a path")
        return base / value

    return Config(
        path=path,
        custodian=Custodian(
            _text(custodian, "name", "custodian", path),
            _text(custodian, "legal_entity", "custodian", path),
        ),
        segregation_arrangement=_text(segregation, "arrangement", "segregation", path),
        assets=tuple(sorted(assets, key=lambda a: a.code)),
        signing_key=file("signing_key", "keys/custodian.key.pem"),
        public_key=file("public_key", "keys/custodian.pub.pem"),
        master_secret=file("master_secret", "secrets/master-secret.json"),
        liabilities=file("liabilities", "data/liabilities.csv"),
        reserves=file("reserves", "data/reserves.toml"),
        log=file("log", "log"),
        site=file("site", "site"),
        codes=file("codes", "private/client-codes.csv"),
        interval_days=interval,
        witnesses=witnesses,
    )


def _witnesses(table: dict[str, Any], path: Path) -> Witnesses:
    """[witnesses] keys (C2SP verifier keys) and threshold; none named means threshold 0."""
    extra = sorted(set(table) - {"keys", "threshold"})
    if extra:
        raise ConfigError(f"{path}: [witnesses] has unknown key(s) {', '.join(extra)}")
    keys = table.get("keys", [])
    if not keys and table.get("threshold", 0) == 0:
        return Witnesses()
    try:
        return parse_witnesses({"keys": keys, "threshold": table.get("threshold")})
    except FormatError as exc:
        raise ConfigError(f"{path}: [witnesses] {exc}") from exc
