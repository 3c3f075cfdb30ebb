"""The custodian's workspace configuration, porsegregate.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .. import _crypto
from ..errors import ConfigError, FormatError
from ..protocol.amounts import MAX_DECIMALS
from ..protocol.bundle import MAX_ENTRIES
from ..protocol.hashing import (
    MAX_PARTS,
    check_asset_code,
    check_epoch_id,
    text_problem,
)
from ..protocol.layout import MAX_DOCUMENT, MIB, document_name
from ..protocol.legal import (
    MAX_DOCUMENTS,
    MAX_ENTITIES,
    MAX_NAME,
    MAX_REGISTRATION,
    date_problem,
    jurisdiction_problem,
    lei_problem,
)
from ..protocol.models import (
    DOCUMENT_KINDS,
    ROLES,
    Asset,
    Custodian,
    Document,
    Entity,
    Legal,
    Witnesses,
)
from ..protocol.witness import parse_witnesses
from .epoch import MAX_PRIVACY_HEIGHT, Privacy
from .i18n import DEFAULT_LANGUAGE, check_language

CONFIG_NAME = "porsegregate.toml"
# In a per-epoch path of [files] (liabilities, reserves, codes): the epoch id given to the
# command, e.g. reserves = "data/reserves-{epoch}.toml" reads data/reserves-2026-11.toml
# for --epoch 2026-11.
EPOCH_PLACEHOLDER = "{epoch}"
PER_EPOCH_FILES = ("liabilities", "reserves", "codes")
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
    # [[entities]] and [[documents]]: None when no entity is declared.
    legal: Legal | None = None
    # Each document's file (read when the config was loaded; its SHA-256 is the document's).
    document_files: tuple[tuple[Document, Path], ...] = ()
    # [site] language: the language of the published pages and the browser verifier.
    language: str = DEFAULT_LANGUAGE
    # [privacy]: the tree height, the entries published and the balance split (T17).
    privacy: Privacy = field(default_factory=Privacy)
    # [engine]: which engine publishes (issue 12): this machine's processes, or a Dask cluster.
    engine: EngineChoice = field(default_factory=lambda: EngineChoice())

    @property
    def workspace(self) -> Path:
        return self.path.parent

    def for_epoch(self, epoch: str) -> Config:
        """The config with `{epoch}` in its per-epoch paths replaced by this epoch id."""

        def sub(p: Path) -> Path:
            text = str(p)
            if EPOCH_PLACEHOLDER not in text:
                return p
            try:
                check_epoch_id(epoch)  # no "/" nor "..": the path stays where the config says
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
            return Path(text.replace(EPOCH_PLACEHOLDER, epoch))

        return replace(
            self,
            liabilities=sub(self.liabilities),
            reserves=sub(self.reserves),
            codes=sub(self.codes),
        )

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
    site_table = table("site")
    unknown = sorted(set(site_table) - {"language"})
    if unknown:
        raise ConfigError(f"{path}: [site] has unknown key(s) {', '.join(unknown)}")
    language = check_language(site_table.get("language", DEFAULT_LANGUAGE), f"{path}: [site]")
    privacy = _privacy(table("privacy"), path)
    engine = _engine(table("engine"), path)
    base = path.parent
    legal, document_files = _legal(doc, path)

    def file(key: str, default: str) -> Path:
        value = files.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: [files] {key} must be a path")
        rest = value.replace(EPOCH_PLACEHOLDER, "") if key in PER_EPOCH_FILES else value
        if "{" in rest or "}" in rest:
            allowed = (
                f"the only placeholder is {EPOCH_PLACEHOLDER}"
                if key in PER_EPOCH_FILES
                else f"only {', '.join(PER_EPOCH_FILES)} may contain {EPOCH_PLACEHOLDER}"
            )
            raise ConfigError(f"{path}: [files] {key} = {value!r}: {allowed}")
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
        legal=legal,
        document_files=document_files,
        language=language,
        privacy=privacy,
        engine=engine,
    )


ENGINES = ("local", "dask")


@dataclass(frozen=True)
class EngineChoice:
    """Which engine publishes: `local` (this machine's processes) or `dask` (a Dask cluster:
    `scheduler` its address, None for a LocalCluster of `workers` processes on this machine).
    Both publish the same bytes."""

    kind: str = "local"
    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ConfigError(f"unknown engine {self.kind!r} (choose {' or '.join(ENGINES)})")
        if self.workers is not None and not 1 <= self.workers <= MAX_DASK_WORKERS:
            raise ConfigError(f"{self.workers} Dask workers: choose 1 to {MAX_DASK_WORKERS}")
        if self.scheduler is not None and not self.scheduler.startswith(SCHEDULER_SCHEMES):
            raise ConfigError(
                f"Dask scheduler {self.scheduler!r}: give an address such as tcp://HOST:8786 "
                "(or tls://)"
            )


def engine_choice(
    configured: EngineChoice, kind: str | None, scheduler: str | None, workers: int | None
) -> EngineChoice:
    """The config's [engine] with what the command line gives instead; a scheduler or a
    worker count alone means the dask engine."""
    if kind is None and (scheduler or workers):
        kind = "dask"
    chosen = EngineChoice(
        kind or configured.kind,
        scheduler if scheduler is not None else configured.scheduler,
        workers if workers is not None else configured.workers,
    )
    if chosen.kind != "dask" and (scheduler or workers):
        raise ConfigError("--scheduler and --dask-workers go with --engine dask")
    return chosen


MAX_DASK_WORKERS = 1024
SCHEDULER_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def _engine(table: dict[str, Any], path: Path) -> EngineChoice:
    """[engine] kind ("local" or "dask"), scheduler ("tcp://HOST:PORT"), workers (N)."""
    extra = sorted(set(table) - {"kind", "scheduler", "workers"})
    if extra:
        raise ConfigError(f"{path}: [engine] has unknown key(s) {', '.join(extra)}")
    kind, scheduler, workers = (
        table.get("kind", "local"),
        table.get("scheduler"),
        table.get("workers"),
    )
    if not isinstance(kind, str):
        raise ConfigError(f'{path}: [engine] kind must be "local" or "dask"')
    if scheduler is not None and not isinstance(scheduler, str):
        raise ConfigError(f"{path}: [engine] scheduler must be an address such as tcp://HOST:8786")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ConfigError(f"{path}: [engine] workers must be a whole number")
    try:
        return EngineChoice(kind, scheduler, workers)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [engine] {exc}") from exc


def _privacy(table: dict[str, Any], path: Path) -> Privacy:
    """[privacy] height, entries and split; each left out is the default."""
    extra = sorted(set(table) - {"height", "entries", "split"})
    if extra:
        raise ConfigError(f"{path}: [privacy] has unknown key(s) {', '.join(extra)}")

    def whole(key: str, low: int, high: int, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{path}: [privacy] {key} must be a whole number from {low} to {high}"
            )
        return value

    entries = table.get("entries", "auto")
    height = table.get("height", "auto")  # auto: ceil(log2(entries * split)) (issue 11)
    return Privacy(
        height=None if height == "auto" else whole("height", 1, MAX_PRIVACY_HEIGHT, 0),
        split=whole("split", 1, MAX_PARTS, 1),
        entries=None if entries == "auto" else whole("entries", 1, MAX_ENTRIES, 0),
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


_ENTITY_KEYS = ("name", "role", "jurisdiction", "lei", "registration")
_DOCUMENT_KEYS = ("title", "kind", "date", "binds", "file", "publish")


def _entries(doc: dict[str, Any], name: str, path: Path, most: int) -> list[dict[str, Any]]:
    raw = doc.get(name, [])
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ConfigError(f"{path}: [[{name}]] must be a list of tables")
    if len(raw) > most:
        raise ConfigError(f"{path}: at most {most} [[{name}]] entries")
    return raw


def _entry_text(
    item: dict[str, Any], key: str, where: str, limit: int, optional: bool = False
) -> str | None:
    value = item.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    problem = text_problem(value, limit)
    if problem:
        raise ConfigError(f"{where}: {key} {problem}")
    return value


def _entity(item: dict[str, Any], i: int, path: Path) -> Entity:
    where = f"{path}: [[entities]] entry {i}"
    extra = sorted(set(item) - set(_ENTITY_KEYS))
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
    name = _entry_text(item, "name", where, MAX_NAME)
    assert name is not None
    where = f"{where} ({name})"
    role = item.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)} (got {role!r})")
    jurisdiction = item.get("jurisdiction")
    if not isinstance(jurisdiction, str) or jurisdiction_problem(jurisdiction):
        raise ConfigError(f"{where}: {jurisdiction_problem(str(jurisdiction))}")
    lei = item.get("lei")
    if lei is not None:
        problem = lei_problem(lei) if isinstance(lei, str) else "lei must be a string"
        if problem:
            raise ConfigError(f"{where}: {problem}")
    registration = _entry_text(item, "registration", where, MAX_REGISTRATION, optional=True)
    if lei is None and registration is None:
        raise ConfigError(f"{where}: needs an lei or a registration number (or both)")
    return Entity(name, str(role), jurisdiction, lei, registration)


def _document(item: dict[str, Any], i: int, path: Path, names: set[str]) -> tuple[Document, Path]:
    where = f"{path}: [[documents]] entry {i}"
    extra = sorted(set(item) - set(_DOCUMENT_KEYS))
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
    title = _entry_text(item, "title", where, MAX_NAME)
    assert title is not None
    where = f"{where} ({title})"
    kind = item.get("kind")
    if kind not in DOCUMENT_KINDS:
        raise ConfigError(
            f"{where}: kind must be one of {', '.join(DOCUMENT_KINDS)} (got {kind!r})"
        )
    day = item.get("date")
    day = day.isoformat() if isinstance(day, date) and not isinstance(day, datetime) else day
    if not isinstance(day, str) or date_problem(day):
        raise ConfigError(f"{where}: {date_problem(str(day))}")
    binds = item.get("binds")
    if not isinstance(binds, list) or not binds or not all(isinstance(b, str) for b in binds):
        raise ConfigError(f"{where}: binds must be a non-empty list of entity names")
    for name in binds:
        if name not in names:
            raise ConfigError(f"{where}: binds {name!r}, which is not a declared [[entities]] name")
    if len(set(binds)) != len(binds):
        raise ConfigError(f"{where}: binds names an entity twice")
    publish = item.get("publish", False)
    if not isinstance(publish, bool):
        raise ConfigError(f"{where}: publish must be true (the file is published) or false")
    relative = item.get("file")
    if not isinstance(relative, str) or not relative:
        raise ConfigError(f"{where}: file must be the document's path, relative to {path.name}")
    file = path.parent / relative
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the file {file}: {exc.strerror}") from exc
    if publish and len(data) > MAX_DOCUMENT:
        raise ConfigError(
            f"{where}: {file} is {len(data)} bytes; a published document is at most "
            f"{MAX_DOCUMENT // MIB} MiB (what verifiers fetch): publish = false, or a smaller file"
        )
    sha = _crypto.sha256_hex(data)
    ext = file.suffix.lower()
    try:
        published = document_name(sha, ext) if publish else None
    except ValueError:
        published = document_name(sha, "")
    return Document(title, str(kind), day, tuple(sorted(binds)), sha, published), file


def _legal(
    doc: dict[str, Any], path: Path
) -> tuple[Legal | None, tuple[tuple[Document, Path], ...]]:
    """[[entities]] and [[documents]]: the attestation's `legal` member and each file."""
    entities = [
        _entity(item, i, path)
        for i, item in enumerate(_entries(doc, "entities", path, MAX_ENTITIES), 1)
    ]
    raw_documents = _entries(doc, "documents", path, MAX_DOCUMENTS)
    if not entities:
        if raw_documents:
            raise ConfigError(f"{path}: [[documents]] need the [[entities]] they bind")
        return None, ()
    names = [e.name for e in entities]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{path}: [[entities]] {name!r} is declared twice")
    files = [_document(item, i, path, set(names)) for i, item in enumerate(raw_documents, 1)]
    seen: dict[str, str] = {}
    for d, _ in files:
        if d.sha256 in seen:
            raise ConfigError(
                f"{path}: [[documents]] {d.title!r} has the same file (sha256) as "
                f"{seen[d.sha256]!r}"
            )
        seen[d.sha256] = d.title
    files.sort(key=lambda x: (x[0].date, x[0].title))
    legal = Legal(tuple(sorted(entities, key=lambda e: e.name)), tuple(d for d, _ in files))
    return legal, tuple(files)
