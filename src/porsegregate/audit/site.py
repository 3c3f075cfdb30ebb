"""`porsegregate audit`: everything a published history promises, checked at once.

A client checks their own proof in one epoch; an auditor checks the whole
site: every signature (custodian and co-signing auditors), every file against
every manifest, the whole transparency log recomputed from its entries, the
hash chain of the epochs, freshness and the reserves proofs of every epoch.
With the data room (the liabilities CSV, the config, optionally the
passphrase, the client codes and the reserves declaration) it also rebuilds
the newest epoch's trees, opens client proofs and re-derives the coverage
figures only private data can check. docs/protocol.md section 13 ("Audit")
lists every check.

Unlike the client verifier, an audit does not stop at the first failure: it
runs every check it can and reports each one as passed, failed or not
applicable (with the reason).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import SystemRandom
from typing import Any, TypeVar

from .. import _crypto
from ..errors import FormatError, InputError
from ..protocol import layout
from ..protocol.bundle import decode_shard
from ..protocol.control import EpochContext
from ..protocol.hashing import epoch_keys, published_height
from ..protocol.layout import AUDITORS, EPOCHS, shard_name
from ..protocol.layout import LOG as SITE_LOG
from ..protocol.models import (
    AssetLiabilities,
    Attestation,
    Checkpoint,
    LogEntry,
    Manifest,
    Reserves,
    Wallet,
)
from ..protocol.serialization import (
    checkpoint_summary,
    liabilities_sha256,
    parse_attestation,
    parse_checkpoint,
    parse_consistency,
    parse_entries,
    parse_inclusion,
    parse_manifest,
)
from ..protocol.transparency import (
    consistency_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from ..protocol.transparency import leaf_hash as log_leaf_hash
from ..publish.assess import assess
from ..publish.config import Config
from ..publish.liabilities import Liabilities, read_liabilities
from ..publish.reserves import read_reserves
from ..verify.client import (
    _check_bundle,
    _check_reserves,
    _Failed,
    _open_bundle,
    _parse_code,
    _Run,
)
from ..verify.cosignatures import verify_cosignatures
from ..verify.fetch import SiteReader
from ..verify.state import ClientState

PASS = "pass"  # noqa: S105 - a check status
FAIL = "fail"
NOT_APPLICABLE = "n/a"
DEFAULT_SAMPLE = 100
# At most this many failure lines per check; the rest are counted.
MAX_DETAILS = 20

# Every check, in report order.
CHECKS = (
    "custodian-key",
    "attestation-signatures",
    "manifest-signatures",
    "checkpoint-signatures",
    "auditor-signatures",
    "manifest-missing",
    "manifest-changed",
    "manifest-extra",
    "log-entries",
    "log-attestations",
    "log-root",
    "log-consistency",
    "log-inclusion",
    "log-checkpoint",
    "log-epoch-logs",
    "log-state",
    "history-epoch",
    "history-chain",
    "reserves-proofs",
    "freshness",
    "dataroom-totals",
    "dataroom-roots",
    "dataroom-bundles",
    "dataroom-coverage",
    "dataroom-wallets",
)
DATAROOM_CHECKS = tuple(c for c in CHECKS if c.startswith("dataroom-"))
_CHECKPOINT_FILE = re.compile(r"log/checkpoints/([1-9][0-9]*)\.json")

T = TypeVar("T")


@dataclass(frozen=True)
class AuditCheck:
    id: str
    status: str  # PASS, FAIL or NOT_APPLICABLE
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != FAIL


@dataclass(frozen=True)
class DataRoom:
    """The private inputs of the newest epoch that only the custodian (and its auditor) hold."""

    config: Config
    liabilities: Path
    passphrase: bytes | None = None
    codes: Path | None = None
    reserves: Path | None = None
    sample: int | None = DEFAULT_SAMPLE  # clients whose proofs are opened; None: every client


@dataclass
class AuditReport:
    site: str
    checks: list[AuditCheck] = field(default_factory=list)
    epoch: str | None = None
    key_fingerprint: str | None = None
    epochs: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    clients_checked: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[AuditCheck]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and not self.failed

    def status(self, check: str) -> str | None:
        """The check's overall status: FAIL if any line of it failed."""
        lines = [c for c in self.checks if c.id == check]
        if not lines:
            return None
        if any(c.status == FAIL for c in lines):
            return FAIL
        return lines[0].status

    def to_json(self) -> dict[str, Any]:
        failed_ids = list(dict.fromkeys(c.id for c in self.failed))
        return {
            "ok": self.ok,
            "site": self.site,
            "epoch": self.epoch,
            "key_fingerprint": self.key_fingerprint,
            "epochs": self.epochs,
            "log": None if self.checkpoint is None else checkpoint_summary(self.checkpoint),
            "failed": failed_ids,
            "checks": [{"id": c.id, "status": c.status, "detail": c.detail} for c in self.checks],
            "summary": {
                "checks": len(dict.fromkeys(c.id for c in self.checks)),
                "failed": len(failed_ids),
                "not_applicable": sum(1 for c in self.checks if c.status == NOT_APPLICABLE),
                "clients_checked": self.clients_checked,
                "seconds": round(self.seconds, 3),
            },
        }


@dataclass
class _Folder:
    """One epoch's site: the root ("") or an epoch's home ("epochs/<id>/")."""

    prefix: str
    attestation_data: bytes
    attestation: Attestation | None = None
    manifest: Manifest | None = None


def read_codes(path: Path) -> dict[str, str]:
    """The private client codes CSV (`account_id,code`) that publish writes."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, strict=True))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a client codes CSV ({exc})") from exc
    if not rows or [h.strip() for h in rows[0]] != ["account_id", "code"]:
        raise InputError(f"{path}:1: header must be account_id,code")
    codes: dict[str, str] = {}
    for number, row in enumerate(rows[1:], 2):
        if len(row) != 2:
            raise InputError(f"{path}:{number}: expected 2 fields account_id,code")
        codes[row[0]] = row[1]
    return codes


class _Audit:
    def __init__(
        self,
        location: str,
        dataroom: DataRoom | None,
        state: ClientState | None,
        now: datetime | None,
    ) -> None:
        self.site = SiteReader(location)
        self.report = AuditReport(site=location)
        self.dataroom = dataroom
        self.state = state
        self.now = now or datetime.now(UTC)
        self.problems: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.passed: dict[str, str] = {}
        self.not_applicable: dict[str, str] = {}
        self._cache: dict[str, bytes | None] = {}
        self.key: _crypto.Ed25519PublicKey | None = None
        self.fingerprint = ""

    # -- recording ---------------------------------------------------------------------------

    def fail(self, check: str, detail: str) -> None:
        self.problems[check].append(detail)

    def ok(self, check: str, detail: str) -> None:
        self.passed[check] = detail

    def na(self, check: str, detail: str) -> None:
        self.not_applicable[check] = detail

    def finish(self) -> AuditReport:
        for check in CHECKS:
            problems = self.problems[check]
            if problems:
                for detail in problems[:MAX_DETAILS]:
                    self.report.checks.append(AuditCheck(check, FAIL, detail))
                if len(problems) > MAX_DETAILS:
                    self.report.checks.append(
                        AuditCheck(
                            check, FAIL, f"... and {len(problems) - MAX_DETAILS} more failures"
                        )
                    )
            elif check in self.passed:
                self.report.checks.append(AuditCheck(check, PASS, self.passed[check]))
            else:
                self.report.checks.append(
                    AuditCheck(
                        check,
                        NOT_APPLICABLE,
                        self.not_applicable.get(
                            check, "not checked: what it checks could not be read (see above)"
                        ),
                    )
                )
        return self.report

    # -- reading -----------------------------------------------------------------------------

    def read(self, relative: str) -> bytes | None:
        """A file of the site; small files are kept, proof shards are read when needed."""
        if relative in self._cache:
            return self._cache[relative]
        data = self.site.read(relative)
        if "/proofs/" not in f"/{relative}":
            self._cache[relative] = data
        return data

    def parsed(self, relative: str, parse: Callable[[bytes], T], check: str) -> T | None:
        """A file of the site parsed; a missing or malformed one fails `check` (and is None)."""
        data = self.read(relative)
        try:
            if data is None:
                raise FormatError("missing")
            return parse(data)
        except FormatError as exc:
            self.fail(check, f"{relative}: {exc}")
            return None

    def listing(self, prefix: str) -> list[str] | None:
        """Every file under a local folder ('/'-separated, relative to it); None for a URL."""
        if self.site.is_url:
            return None
        base = self.site.root / prefix
        out = []
        for directory, dirs, files in os.walk(base):
            dirs.sort()
            relative = Path(directory).relative_to(base).as_posix()
            for name in sorted(files):
                out.append(name if relative == "." else f"{relative}/{name}")
        return out

    def subfolders(self, prefix: str) -> list[str] | None:
        if self.site.is_url:
            return None
        base = self.site.root / prefix
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def signed(self, relative: str) -> tuple[bytes, str | None] | None:
        """(bytes, problem) of a file and its .sig under the custodian key; None if missing."""
        data = self.read(relative)
        if data is None:
            return None
        signature = self.read(relative + ".sig")
        assert self.key is not None
        if signature is None:
            return data, f"{relative}.sig is missing"
        if not _crypto.ed25519_verify(self.key, signature, data):
            return data, f"{relative} is not signed by the custodian key"
        return data, None

    # -- the audit ---------------------------------------------------------------------------

    def run(self) -> AuditReport:
        started = time.perf_counter()
        root_pem = self.site.need("custodian.pub.pem")
        root_attestation = self.site.need("attestation.json")
        self.site.need("manifest.json")
        try:
            self.key = _crypto.load_public_key_pem(root_pem)
        except (TypeError, ValueError):
            self.fail("custodian-key", "custodian.pub.pem is not an Ed25519 public key")
            return self.finish()
        self.fingerprint = _crypto.fingerprint(self.key)
        self.report.key_fingerprint = self.fingerprint

        entries = self._entries()
        finals = _finals(entries or [])
        root = _Folder("", root_attestation)
        folders = [root]
        folders += self._homes(finals)
        files = 0
        for folder in folders:
            self._folder(folder)
            files += len(folder.manifest.files) if folder.manifest else 0
        where = f"the site's root and its {len(folders) - 1} epoch homes"
        self.ok("custodian-key", f"{where} publish the same custodian key {self.fingerprint}")
        self.ok(
            "attestation-signatures",
            f"the attestations of {where} are well formed and signed by the custodian key",
        )
        self.ok(
            "manifest-signatures",
            f"the manifests of {where} are signed by the custodian key and name their attestation",
        )
        self.ok("manifest-missing", f"all {files} files the manifests list are present")
        self.ok("manifest-changed", f"all {files} files match their signed manifests")
        if not self.site.is_url:
            self.ok(
                "manifest-extra",
                "no file other than the manifests themselves, auditors/ and (at the root) "
                "epochs/ is left out of its folder's manifest",
            )
        self._auditors(folders)
        self.report.epoch = root.attestation.epoch_id if root.attestation else None
        self.report.epochs = list(finals) or ([self.report.epoch] if self.report.epoch else [])

        checkpoint = self._log(root, entries)
        self._epoch_logs(folders, entries, finals)
        self._history(root, folders, entries, finals)
        self._reserves_proofs(folders)
        self._freshness(root)
        self._dataroom(root)
        if self.state is not None:
            self._state(checkpoint, entries)
        else:
            self.na("log-state", "no --state file: no earlier checkpoint to compare with")
        report = self.finish()
        if report.ok and self.state is not None and checkpoint is not None:
            self.state.remember(checkpoint)
        report.seconds = time.perf_counter() - started
        return report

    def _entries(self) -> list[LogEntry] | None:
        data = self.read(f"{SITE_LOG}/entries.json")
        if data is None:
            self.fail("log-entries", "log/entries.json is missing")
            return None
        try:
            return parse_entries(data)
        except FormatError as exc:
            self.fail("log-entries", f"log/entries.json is malformed: {exc}")
            return None

    def _homes(self, finals: dict[str, LogEntry]) -> list[_Folder]:
        """Every epoch's home: one per epoch of the log, and any other folder under epochs/."""
        homes = []
        listed = self.subfolders(EPOCHS) or []
        for extra in listed:
            if extra not in finals:
                self.fail(
                    "history-epoch",
                    f"epochs/{extra}/ is not an epoch of the signed log (a site the log "
                    "does not vouch for)",
                )
        for epoch in finals:
            prefix = f"{EPOCHS}/{epoch}/"
            data = self.read(prefix + "attestation.json")
            if data is None:
                self.fail(
                    "history-epoch",
                    f"epoch {epoch} is in the signed log but its site ({prefix}) is missing: "
                    "it was removed",
                )
                continue
            homes.append(_Folder(prefix, data))
        return homes

    def _folder(self, folder: _Folder) -> None:
        """Signatures of one epoch's site, and its files against its manifest."""
        p = folder.prefix
        assert self.key is not None
        pem = self.read(p + "custodian.pub.pem")
        if pem is None:
            self.fail("custodian-key", f"{p}custodian.pub.pem is missing")
        else:
            try:
                same = _crypto.fingerprint(_crypto.load_public_key_pem(pem)) == self.fingerprint
            except (TypeError, ValueError):
                same = False
            if not same:
                self.fail(
                    "custodian-key",
                    f"{p}custodian.pub.pem is not the custodian key {self.fingerprint}",
                )
        signature = self.read(p + "attestation.json.sig")
        if signature is None or not _crypto.ed25519_verify(
            self.key, signature, folder.attestation_data
        ):
            self.fail(
                "attestation-signatures",
                f"{p}attestation.json is not signed by the custodian key",
            )
        try:
            folder.attestation = parse_attestation(folder.attestation_data)
        except FormatError as exc:
            self.fail("attestation-signatures", f"{p}attestation.json is malformed: {exc}")

        manifest = self.signed(p + "manifest.json")
        if manifest is None:
            self.fail("manifest-signatures", f"{p}manifest.json is missing")
        else:
            data, problem = manifest
            if problem:
                self.fail("manifest-signatures", problem)
            try:
                folder.manifest = parse_manifest(data)
            except FormatError as exc:
                self.fail("manifest-signatures", f"{p}manifest.json is malformed: {exc}")
        if folder.manifest is not None:
            m = folder.manifest
            if m.attestation_sha256 != _crypto.sha256_hex(folder.attestation_data):
                self.fail(
                    "manifest-signatures",
                    f"{p}manifest.json is for a different attestation than {p}attestation.json",
                )
            if folder.attestation is not None and m.epoch_id != folder.attestation.epoch_id:
                self.fail(
                    "manifest-signatures",
                    f"{p}manifest.json is for epoch {m.epoch_id!r}, its attestation for "
                    f"{folder.attestation.epoch_id!r}",
                )
            self._files(folder, m)

        checkpoint = self.signed(p + f"{SITE_LOG}/checkpoint.json")
        if checkpoint is None:
            self.fail("checkpoint-signatures", f"{p}log/checkpoint.json is missing")
        else:
            self._checkpoint_problems(p + f"{SITE_LOG}/checkpoint.json", *checkpoint, None)

    def _checkpoint_problems(
        self, relative: str, data: bytes, problem: str | None, size: int | None
    ) -> Checkpoint | None:
        if problem:
            self.fail("checkpoint-signatures", problem)
        try:
            parsed = parse_checkpoint(data)
        except FormatError as exc:
            self.fail("checkpoint-signatures", f"{relative} is malformed: {exc}")
            return None
        if parsed.log != self.fingerprint:
            self.fail("checkpoint-signatures", f"{relative} names another log (another key)")
        if size is not None and parsed.size != size:
            self.fail("checkpoint-signatures", f"{relative} says size {parsed.size}")
        return None if problem else parsed

    def _files(self, folder: _Folder, manifest: Manifest) -> None:
        p = folder.prefix
        for relative, expected in sorted(manifest.files.items()):
            if not _inside(relative):
                self.fail(
                    "manifest-signatures",
                    f"{p}manifest.json lists {relative[:200]!r}, not a path inside its folder",
                )
                continue
            data = self.read(p + relative)
            if data is None:
                self.fail(
                    "manifest-missing", f"{p}{relative} is listed in its manifest but missing"
                )
            elif _crypto.sha256_hex(data) != expected:
                self.fail(
                    "manifest-changed",
                    f"{p}{relative} does not match its signed manifest: it was altered",
                )
        present = self.listing(p)
        if present is None:
            self.na(
                "manifest-extra",
                "the site is a URL: its files cannot be listed, so files no manifest lists "
                "cannot be found (audit a local copy, e.g. from wget --mirror, for this check)",
            )
            return
        for relative in present:
            top = relative.split("/", 1)[0]
            if relative in ("manifest.json", "manifest.json.sig") or top == AUDITORS:
                continue
            if not p and top == EPOCHS:
                continue
            if relative not in manifest.files:
                self.fail(
                    "manifest-extra",
                    f"{p}{relative} is not listed in its signed manifest (added by someone)",
                )

    def _auditors(self, folders: list[_Folder]) -> None:
        """Co-signatures by auditors: `auditors/<fingerprint>/` of each epoch they sign."""
        count = 0
        for folder in folders:
            if self.site.is_url:
                reader = SiteReader(urllib.parse.urljoin(self.site.location, folder.prefix))
            else:
                reader = SiteReader(str(self.site.root / folder.prefix))
            checks = verify_cosignatures(reader, folder.attestation_data)
            count += len(checks)
            for check in checks:
                if not check.ok:
                    where = folder.prefix or "./"
                    self.fail("auditor-signatures", f"{where}: {check.detail}")
            listed = {c.fingerprint for c in checks}
            for name in self.subfolders(folder.prefix + AUDITORS) or []:
                if not name.startswith(".") and name not in listed:
                    self.fail(
                        "auditor-signatures",
                        f"{folder.prefix}{AUDITORS}/{name}/ is not listed in "
                        f"{layout.AUDITORS_INDEX}: no verifier shows it (a withdrawn or hidden "
                        "co-signature)",
                    )
        if count == 0 and not self.problems["auditor-signatures"]:
            self.na("auditor-signatures", "no auditor has co-signed any epoch of this site")
        else:
            self.ok(
                "auditor-signatures",
                f"all {count} auditor co-signature(s) listed in auditors/index.json verify over "
                "their epoch's attestation (with their signed auditor.json and statement)",
            )

    def _log(self, root: _Folder, entries: list[LogEntry] | None) -> Checkpoint | None:
        """The root's log: entries, attestations, recomputed roots, proofs, checkpoints."""
        manifest_names = set(root.manifest.files) if root.manifest else set()
        local = self.listing(f"{SITE_LOG}/checkpoints/") or []
        names = manifest_names | {f"{SITE_LOG}/checkpoints/{n}" for n in local}
        checkpoints: dict[int, tuple[Checkpoint, bytes]] = {}
        for name in sorted(names):
            match = _CHECKPOINT_FILE.fullmatch(name)
            if not match:
                continue
            found = self.signed(name)
            if found is None:
                continue  # manifest-missing says so
            parsed = self._checkpoint_problems(name, found[0], found[1], int(match.group(1)))
            if parsed is not None:
                checkpoints[parsed.size] = (parsed, found[0])
        newest_file = self.signed(f"{SITE_LOG}/checkpoint.json")
        newest = None
        if newest_file is not None and newest_file[1] is None:
            try:
                newest = parse_checkpoint(newest_file[0])
            except FormatError:
                newest = None  # checkpoint-signatures says so
        if not checkpoints and newest is None:
            self.fail("log-checkpoint", "the site publishes no signed log checkpoint")
            return None
        self.ok(
            "checkpoint-signatures",
            f"all {len(checkpoints)} checkpoints of the log and every epoch's own checkpoint "
            "are signed by the custodian key",
        )
        largest = max(checkpoints) if checkpoints else None
        if newest is None or largest is None:
            self.fail("log-checkpoint", "log/checkpoint.json or log/checkpoints/ is unusable")
        else:
            assert newest_file is not None
            if newest.size != largest:
                self.fail(
                    "log-checkpoint",
                    f"log/checkpoint.json (size {newest.size}) is not the newest of "
                    f"log/checkpoints/ (size {largest})",
                )
            elif checkpoints[largest][1] != newest_file[0]:
                self.fail(
                    "log-checkpoint",
                    f"log/checkpoint.json and log/checkpoints/{largest}.json are two different "
                    f"signed checkpoints of size {largest}: the log was forked",
                )
            if root.attestation is not None and newest.epoch != root.attestation.epoch_id:
                self.fail(
                    "log-checkpoint",
                    f"the newest checkpoint is for epoch {newest.epoch}, the site shows "
                    f"{root.attestation.epoch_id}",
                )
        self.report.checkpoint = newest
        if entries is None or newest is None:
            return newest
        n = newest.size
        if len(entries) != n:
            self.fail(
                "log-entries",
                f"log/entries.json lists {len(entries)} entries, the checkpoint says {n}",
            )
            return newest
        self.ok("log-entries", f"log/entries.json lists the {n} entries of the signed log")
        digest = _crypto.sha256_hex(root.attestation_data)
        if entries[-1].attestation_sha256 != digest:
            self.fail(
                "log-checkpoint",
                "the site's attestation.json is not the newest entry of the signed log",
            )
        else:
            self.ok(
                "log-checkpoint",
                f"log/checkpoint.json is the newest checkpoint (size {n}) and the site's "
                f"attestation is its newest entry (epoch {newest.epoch})",
            )

        for entry in entries:
            name = f"{SITE_LOG}/attestations/{entry.index}.json"
            found = self.signed(name)
            if found is None:
                self.fail("log-attestations", f"{name} is missing")
                continue
            data, problem = found
            if problem:
                self.fail("log-attestations", problem)
            if _crypto.sha256_hex(data) != entry.attestation_sha256:
                self.fail("log-attestations", f"{name} does not hash to log entry {entry.index}")
                continue
            try:
                epoch = parse_attestation(data).epoch_id
            except FormatError as exc:
                self.fail("log-attestations", f"{name} is malformed: {exc}")
                continue
            if epoch != entry.epoch:
                self.fail(
                    "log-attestations",
                    f"log entry {entry.index} says epoch {entry.epoch}, its attestation {epoch}",
                )
        self.ok(
            "log-attestations",
            f"all {n} logged attestations are published, signed and hash to their entries",
        )

        leaves = [log_leaf_hash(bytes.fromhex(e.attestation_sha256)) for e in entries]
        if root_of(leaves) != newest.root:
            self.fail(
                "log-root",
                f"the root of the {n} published entries is not the signed checkpoint's root",
            )
        else:
            self.ok("log-root", f"the signed root is the RFC 9162 root of all {n} entries")

        sizes = sorted(checkpoints)
        for m in sizes:
            cp = checkpoints[m][0]
            if m > n:
                self.fail("log-consistency", f"checkpoint {m} is larger than the log ({n})")
                continue
            if root_of(leaves[:m]) != cp.root:
                self.fail(
                    "log-consistency",
                    f"checkpoint {m}'s root is not the root of the first {m} entries: the log "
                    "was rewritten since it was signed",
                )
            if m == n:
                continue
            name = f"{SITE_LOG}/consistency/{m}.json"
            proof = self.parsed(name, parse_consistency, "log-consistency")
            if proof is None:
                continue
            if (proof.first, proof.second) != (m, n) or not verify_consistency(
                m, n, cp.root, newest.root, proof.path
            ):
                self.fail(
                    "log-consistency",
                    f"{name} does not prove that the log of size {n} extends checkpoint {m}",
                )
        for a, b in itertools.pairwise(sizes):
            if b > n:
                continue
            path = consistency_proof(a, leaves[:b])
            if not verify_consistency(a, b, checkpoints[a][0].root, checkpoints[b][0].root, path):
                self.fail("log-consistency", f"checkpoint {b} does not extend checkpoint {a}")
        self.ok(
            "log-consistency",
            f"each of the {len(sizes)} checkpoints extends the one before (roots recomputed "
            "from the entries; the published consistency proofs to the newest verify)",
        )

        for entry in entries:
            name = f"{SITE_LOG}/inclusion/{entry.index}.json"
            inclusion = self.parsed(name, parse_inclusion, "log-inclusion")
            if inclusion is None:
                continue
            if (
                inclusion.index != entry.index
                or inclusion.tree_size != n
                or inclusion.attestation_sha256 != entry.attestation_sha256
                or not verify_inclusion(
                    leaves[entry.index], entry.index, n, inclusion.path, newest.root
                )
            ):
                self.fail(
                    "log-inclusion",
                    f"{name} does not prove entry {entry.index} under the newest checkpoint",
                )
        self.ok("log-inclusion", f"every entry's inclusion proof verifies under root size {n}")
        return newest

    def _epoch_logs(
        self, folders: list[_Folder], entries: list[LogEntry] | None, finals: dict[str, LogEntry]
    ) -> None:
        """Each epoch's own log is a prefix of the root's: same checkpoints (no fork)."""
        if entries is None:
            return
        homes = 0
        for folder in folders:
            if not folder.prefix or folder.attestation is None:
                continue
            p = folder.prefix
            final = finals.get(folder.attestation.epoch_id)
            own = self.parsed(p + f"{SITE_LOG}/checkpoint.json", parse_checkpoint, "log-epoch-logs")
            if own is None:
                continue
            homes += 1
            published = self.read(f"{SITE_LOG}/checkpoints/{own.size}.json")
            if published is None:
                self.fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json has size {own.size}, but the site's log has no "
                    "checkpoint of that size",
                )
            elif published != self.read(p + f"{SITE_LOG}/checkpoint.json"):
                self.fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json and log/checkpoints/{own.size}.json are two "
                    f"different checkpoints of size {own.size}: the log was forked",
                )
            if final is not None and own.size != final.index + 1:
                self.fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json has size {own.size}, but epoch "
                    f"{final.epoch} is entry {final.index} of the log",
                )
            listed = self.parsed(p + f"{SITE_LOG}/entries.json", parse_entries, "log-epoch-logs")
            if listed is None:
                continue
            if listed != entries[: len(listed)] or len(listed) != own.size:
                self.fail(
                    "log-epoch-logs",
                    f"{p}log/entries.json is not the first {own.size} entries of the site's log",
                )
            names = folder.manifest.files if folder.manifest else {}
            for name in sorted(names):
                if _CHECKPOINT_FILE.fullmatch(name) and self.read(p + name) != self.read(name):
                    self.fail(
                        "log-epoch-logs",
                        f"{p}{name} differs from the site's {name}: the log was forked",
                    )
        if homes:
            self.ok(
                "log-epoch-logs",
                f"the log of each of the {homes} epoch homes is a prefix of the site's log",
            )
        else:
            self.na("log-epoch-logs", "the site keeps no epoch homes under epochs/")

    def _history(
        self,
        root: _Folder,
        folders: list[_Folder],
        entries: list[LogEntry] | None,
        finals: dict[str, LogEntry],
    ) -> None:
        if entries is None:
            return
        by_prefix = {f.prefix: f for f in folders}
        previous: str | None = None
        chain_ok = True
        for epoch, entry in finals.items():
            newest = entry.index == len(entries) - 1
            home = by_prefix.get(f"{EPOCHS}/{epoch}/")
            for folder in ([root] if newest else []) + ([home] if home else []):
                if _crypto.sha256_hex(folder.attestation_data) != entry.attestation_sha256:
                    self.fail(
                        "history-epoch",
                        f"{folder.prefix or './'}attestation.json (epoch {epoch}) is not the one "
                        "in the signed log: it was rewritten",
                    )
            data = self.read(f"{SITE_LOG}/attestations/{entry.index}.json")
            if data is None or _crypto.sha256_hex(data) != entry.attestation_sha256:
                data = home.attestation_data if home else None
            try:
                if data is None:
                    raise FormatError("no copy of it is published")
                attestation = parse_attestation(data)
            except FormatError as exc:
                self.fail("history-chain", f"epoch {epoch}'s attestation: {exc}")
                chain_ok = False
                continue
            if attestation.previous_attestation_sha256 != previous:
                self.fail(
                    "history-chain",
                    f"epoch {epoch}'s previous_attestation_sha256 is "
                    f"{attestation.previous_attestation_sha256}, the epoch before it is "
                    f"{previous}: the chain is broken",
                )
            previous = entry.attestation_sha256
        if root.attestation is not None and root.attestation.epoch_id not in finals:
            self.fail(
                "history-epoch",
                f"the site shows epoch {root.attestation.epoch_id}, which is not in the log",
            )
        self.ok(
            "history-epoch",
            f"all {len(finals)} epochs of the log are published, each exactly as logged",
        )
        if chain_ok:
            self.ok(
                "history-chain",
                f"each of the {len(finals)} epochs chains to the one published before it",
            )

    def _reserves_proofs(self, folders: list[_Folder]) -> None:
        done: set[str] = set()
        checked = 0
        for folder in folders:
            attestation = folder.attestation
            digest = _crypto.sha256_hex(folder.attestation_data)
            if attestation is None or digest in done:
                continue
            done.add(digest)
            run = _Run()
            run.report.key_fingerprint = self.fingerprint
            try:
                _check_reserves(run, attestation)
                checked += 1
            except _Failed:
                failed = run.report.failed
                assert failed is not None
                self.fail(
                    "reserves-proofs",
                    f"epoch {attestation.epoch_id}: {failed.id}: {failed.detail}",
                )
        self.ok(
            "reserves-proofs",
            f"in all {checked} epochs every wallet's proof of control verifies, no address or "
            "key is in two categories and the coverage sums add up",
        )

    def _freshness(self, root: _Folder) -> None:
        attestation = root.attestation
        if attestation is None or attestation.next_due is None:
            return
        due = datetime.strptime(attestation.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if self.now > due:
            self.fail(
                "freshness",
                f"overdue: the next attestation was due by {attestation.next_due} and epoch "
                f"{attestation.epoch_id} is still the newest",
            )
        else:
            self.ok(
                "freshness",
                f"the newest attestation is current: the next is due by {attestation.next_due}",
            )

    def _state(self, checkpoint: Checkpoint | None, entries: list[LogEntry] | None) -> None:
        assert self.state is not None
        if checkpoint is None:
            return
        seen = self.state.seen(checkpoint.log)
        if seen is None:
            self.na(
                "log-state",
                "the state file remembers no checkpoint of this log (it will after this audit)",
            )
            return
        if seen.size > checkpoint.size:
            self.fail(
                "log-state",
                f"you saw this log at size {seen.size} before; it now has {checkpoint.size} "
                "entries: history was rewritten, or this is an old or forked copy",
            )
            return
        if seen.size == checkpoint.size and seen.root != checkpoint.root:
            self.fail(
                "log-state",
                f"you saw a different log of the same size ({seen.size}) before: the custodian "
                "shows different histories to different people (a fork)",
            )
            return
        if entries is not None and len(entries) == checkpoint.size:
            leaves = [log_leaf_hash(bytes.fromhex(e.attestation_sha256)) for e in entries]
            if root_of(leaves[: seen.size]) != seen.root:
                self.fail(
                    "log-state",
                    f"the first {seen.size} entries of this log are not the log you saw before: "
                    "history was rewritten (or forked) since",
                )
                return
        self.ok(
            "log-state",
            f"the log extends the checkpoint remembered in the state file (size {seen.size} to "
            f"{checkpoint.size})",
        )

    # -- the data room -----------------------------------------------------------------------

    def _dataroom(self, root: _Folder) -> None:
        room = self.dataroom
        attestation = root.attestation
        if room is None:
            for check in DATAROOM_CHECKS:
                self.na(check, "no data room given (--liabilities and --config)")
            return
        if attestation is None or root.manifest is None:
            for check in DATAROOM_CHECKS:
                self.na(check, "the newest attestation or manifest is unreadable")
            return
        from ..publish.pipeline import PreparedEpoch, assess_reserves, prepare_epoch

        prepared: PreparedEpoch | None = None
        if room.passphrase is not None:
            prepared = prepare_epoch(
                room.config, room.passphrase, attestation.epoch_id, room.liabilities
            )
            liabilities = prepared.liabilities
        else:
            liabilities = read_liabilities(room.liabilities, room.config.assets)
        self._totals(attestation, liabilities)
        if prepared is None:
            self.na(
                "dataroom-roots",
                "roots were not rebuilt: that needs the master secret (give the passphrase "
                "with --passphrase-file or $PORSEGREGATE_PASSPHRASE); totals were checked from "
                "the liabilities CSV",
            )
        else:
            self._roots(attestation, prepared.proofs.assets, prepared.signing_key)

        codes: dict[str, str] | None = None
        if room.codes is not None:
            codes = read_codes(room.codes)
        elif prepared is not None:
            codes = dict(zip(prepared.proofs.accounts, prepared.proofs.codes, strict=True))
        if codes is None:
            self.na(
                "dataroom-bundles",
                "no client codes: give --codes (or the passphrase, to derive them)",
            )
        else:
            self._bundles(attestation, root.manifest, liabilities, codes, room.sample)

        if room.reserves is None:
            for check in ("dataroom-coverage", "dataroom-wallets"):
                self.na(check, "no reserves declaration given (--reserves)")
            return
        declaration = read_reserves(room.reserves, room.config.assets)
        if prepared is not None:
            assessment = assess_reserves(prepared, declaration)
            for error in assessment.errors:
                self.fail("dataroom-wallets", f"the declaration does not check out: {error}")
            derived = assessment.reserves
            keys = True
        else:
            # Without the master secret the client tags (and so the dedicated wallets'
            # signatures) cannot be rebuilt; the coverage figures need neither.
            context = EpochContext(
                custodian=attestation.custodian.name,
                fingerprint=self.fingerprint,
                epoch=attestation.epoch_id,
                liabilities_sha256=liabilities_sha256(attestation.assets),
                assets=attestation.assets,
            )
            derived = assess(declaration, context, liabilities, lambda _: bytes(32)).reserves
            keys = False
        self._coverage(attestation.reserves, derived)
        self._wallets(attestation.reserves, derived, keys)

    def _totals(self, attestation: Attestation, liabilities: Liabilities) -> None:
        signed = {a.code: a for a in attestation.assets}
        mine = [a.code for a in liabilities.assets]
        if sorted(signed) != sorted(mine):
            self.fail(
                "dataroom-totals",
                f"the attestation lists assets {sorted(signed)}, the config {sorted(mine)}",
            )
        totals = liabilities.totals()
        for index, asset in enumerate(liabilities.assets):
            a = signed.get(asset.code)
            if a is None:
                continue
            holders = sum(1 for b in liabilities.balances.values() if b[index] is not None)
            if a.total != totals[index]:
                self.fail(
                    "dataroom-totals",
                    f"{asset.code}: the liabilities CSV adds up to {totals[index]}, the signed "
                    f"total is {a.total}",
                )
            if a.decimals != asset.decimals:
                self.fail(
                    "dataroom-totals",
                    f"{asset.code}: {asset.decimals} decimals in the config, {a.decimals} signed",
                )
            if a.padded_height != published_height(holders):
                self.fail(
                    "dataroom-totals",
                    f"{asset.code}: {holders} holders need a tree of height "
                    f"{published_height(holders)}, the signed height is {a.padded_height}",
                )
        self.ok(
            "dataroom-totals",
            f"the liabilities CSV ({len(liabilities.balances)} clients) adds up to every signed "
            "total, with the signed tree heights",
        )

    def _roots(
        self,
        attestation: Attestation,
        rebuilt: Iterable[AssetLiabilities],
        signing_key: _crypto.Ed25519PrivateKey,
    ) -> None:
        if _crypto.fingerprint(signing_key.public_key()) != self.fingerprint:
            self.fail(
                "dataroom-roots",
                "the config's signing key is not the key of this site: wrong workspace",
            )
        count = 0
        for asset in rebuilt:
            count += 1
            signed = attestation.asset(asset.code)
            if signed is None:
                continue  # dataroom-totals says so
            if asset.root != signed.root or asset.padded_height != signed.padded_height:
                self.fail(
                    "dataroom-roots",
                    f"{asset.code}: the tree rebuilt from the data room has root "
                    f"{asset.root.hex()}, the signed root is {signed.root.hex()}",
                )
        self.ok(
            "dataroom-roots",
            f"all {count} sum trees rebuilt from the data room have the signed roots",
        )

    def _bundles(
        self,
        attestation: Attestation,
        manifest: Manifest,
        liabilities: Liabilities,
        codes: dict[str, str],
        sample: int | None,
    ) -> None:
        accounts = list(liabilities.balances)
        if sample is None or sample >= len(accounts):
            chosen = accounts
        else:
            chosen = SystemRandom().sample(accounts, sample)
        q = manifest.shard_prefix_chars
        epoch = attestation.epoch_id
        shards: dict[str, dict[bytes, bytes]] = {}

        def shard(name: str) -> dict[bytes, bytes]:
            if name not in shards:
                shards[name] = {}
                expected = manifest.files.get(name)
                data = self.read(name) if expected is not None else None
                if data is None:
                    return shards[name]
                if _crypto.sha256_hex(data) != expected:
                    self.fail(
                        "dataroom-bundles",
                        f"{name} does not match the signed manifest: none of its proofs count",
                    )
                    return shards[name]
                try:
                    shards[name] = decode_shard(data)
                except FormatError as exc:
                    self.fail("dataroom-bundles", f"{name} is malformed: {exc}")
            return shards[name]

        for account in chosen:
            code = codes.get(account)
            if code is None:
                self.fail("dataroom-bundles", f"{account}: no code in the client codes file")
                continue
            run = _Run()
            try:
                secret = _parse_code(run, code)
                keys = epoch_keys(secret, epoch)
                entry = shard(shard_name(keys.lookup.hex()[:q])).get(keys.lookup)
                bundle = _open_bundle(run, attestation, secret, keys.lookup, entry)
                _check_bundle(run, attestation, secret, account, bundle)
            except _Failed:
                check = run.report.failed
                assert check is not None
                where = f" [{check.asset}]" if check.asset else ""
                self.fail(
                    "dataroom-bundles", f"{account}: {check.id}{where} failed: {check.detail}"
                )
                continue
            owed = {
                a.code: amount
                for a, amount in zip(liabilities.assets, liabilities.balances[account], strict=True)
                if amount is not None
            }
            shown = {b.asset: b.amount for b in run.report.balances}
            if shown != owed:
                self.fail(
                    "dataroom-bundles",
                    f"{account}: the published proof shows {_amounts(shown)}, the liabilities "
                    f"CSV {_amounts(owed)}",
                )
        self.report.clients_checked = len(chosen)
        extra = ""
        if len(chosen) == len(accounts):
            published = sum(
                len(shard(name)) for name in manifest.files if name.startswith("proofs/")
            )
            if published != len(accounts):
                self.fail(
                    "dataroom-bundles",
                    f"the site publishes {published} proofs for {len(accounts)} clients",
                )
            extra = f"; the site publishes exactly {len(accounts)} proofs"
        how = "every client" if len(chosen) == len(accounts) else "a random sample of clients"
        self.ok(
            "dataroom-bundles",
            f"{len(chosen)} client proofs ({how}) open with the clients' codes, verify "
            f"under the signed roots and show the balances of the liabilities CSV{extra}",
        )

    def _coverage(self, signed: Reserves, derived: Reserves) -> None:
        signed_rows = {c.asset: c for c in signed.coverage}
        derived_rows = {c.asset: c for c in derived.coverage}
        if sorted(signed_rows) != sorted(derived_rows):
            self.fail(
                "dataroom-coverage",
                f"coverage rows for {sorted(signed_rows)} signed, {sorted(derived_rows)} derived",
            )
        for asset, row in sorted(derived_rows.items()):
            published = signed_rows.get(asset)
            if published is None:
                continue
            for name in (
                "liabilities",
                "client_segregated",
                "client_dedicated",
                "client_dedicated_counted",
                "third_party",
                "proprietary",
                "dedicated_shortfalls",
            ):
                mine, theirs = getattr(row, name), getattr(published, name)
                if mine != theirs:
                    self.fail(
                        "dataroom-coverage",
                        f"{asset}: {name} is {theirs} in the signed coverage, {mine} from the "
                        "data room",
                    )
        self.ok(
            "dataroom-coverage",
            f"the signed coverage of all {len(signed_rows)} assets (client_dedicated_counted "
            "and dedicated_shortfalls included) is what the data room gives",
        )

    def _wallets(self, signed: Reserves, derived: Reserves, keys: bool) -> None:
        def comparable(w: Wallet) -> Wallet:
            # Without --rpc a re-derived holding is "declared"; the signed one may say "chain".
            w = dataclasses.replace(
                w, holdings=tuple(dataclasses.replace(h, source="") for h in w.holdings)
            )
            if not keys:
                w = dataclasses.replace(
                    w,
                    client_tag=None,
                    proof=dataclasses.replace(w.proof, public_key=None),
                )
            return w

        mine = {(w.chain, w.address): comparable(w) for w in derived.wallets}
        theirs = {(w.chain, w.address): comparable(w) for w in signed.wallets}
        for key in sorted(set(mine) | set(theirs)):
            a, b = mine.get(key), theirs.get(key)
            if a is None:
                self.fail("dataroom-wallets", f"{key[0]} {key[1]} is signed but not declared")
            elif b is None:
                self.fail("dataroom-wallets", f"{key[0]} {key[1]} is declared but not signed")
            elif a != b:
                fields = [
                    f.name
                    for f in dataclasses.fields(a)
                    if getattr(a, f.name) != getattr(b, f.name)
                ]
                self.fail(
                    "dataroom-wallets",
                    f"{key[0]} {key[1]}: the signed wallet differs from the declaration in "
                    f"{', '.join(fields)}",
                )
        note = "" if keys else " (client tags not rebuilt: no passphrase)"
        self.ok(
            "dataroom-wallets",
            f"the {len(signed.wallets)} signed wallets are exactly the declared ones{note}",
        )


def _finals(entries: list[LogEntry]) -> dict[str, LogEntry]:
    """Each epoch's last entry, in log order (a republished epoch counts at its last entry)."""
    finals: dict[str, LogEntry] = {}
    for entry in entries:
        finals.pop(entry.epoch, None)
        finals[entry.epoch] = entry
    return finals


def _inside(relative: str) -> bool:
    """A manifest path that stays inside its folder: never read a file outside the site."""
    parts = relative.split("/")
    return "\\" not in relative and all(part not in ("", ".", "..") for part in parts)


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{code} {amount}" for code, amount in sorted(amounts.items())) or "nothing"


def audit_site(
    location: str,
    dataroom: DataRoom | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """Audit a published site (folder or http(s) URL) and, with the data room, its newest epoch.

    Raises InputError (or ConfigError) when an input cannot be read at all: not a
    site, an unreadable CSV, a wrong passphrase. With `state`, the log must extend
    the remembered checkpoint, and the newest is remembered when everything holds.
    """
    return _Audit(location, dataroom, state, now).run()
