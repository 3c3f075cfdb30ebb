"""`porsegregate audit`: everything a published history promises, checked at once.

A client checks their own proof in one epoch; an auditor checks the whole
site: every signature (custodian and co-signing auditors), every file against
every manifest, the whole transparency log recomputed from its entries, the
hash chain of the epochs, freshness and the reserves proofs of every epoch.
With the data room (dataroom.py) it also rebuilds the newest epoch's trees,
opens client proofs and re-derives the coverage figures only private data can
check. docs/protocol.md section 13 ("Audit") lists every check.

The checks are the client verifier's (verify/checks.py) wherever the two
check the same thing; this driver runs them over every epoch's folder and,
unlike the client's, does not stop at the first failure: each one is
reported under the audit check it belongs to.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from .. import _crypto
from ..errors import InputError, VerificationError
from ..progress import NO_PROGRESS, Progress, step
from ..protocol import layout
from ..protocol.models import Attestation, Checkpoint, ConsistencyProof, LogEntry, Manifest
from ..protocol.serialization import (
    parse_attestation,
    parse_checkpoint,
    parse_consistency,
    parse_entries,
    parse_inclusion,
    parse_manifest,
)
from ..protocol.transparency import consistency_proof, final_entries, root_of
from ..protocol.transparency import leaf_hash as log_leaf_hash
from ..verify import checks
from ..verify.cosignatures import verify_cosignatures
from ..verify.fetch import SiteReader
from ..verify.reread import reread
from ..verify.state import ClientState
from .dataroom import DataRoom, check_dataroom
from .report import AuditReport, Findings
from .stored import FolderReader, StoredFiles

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class _Folder:
    """One epoch's site: the root ("") or an epoch's home ("epochs/<id>/")."""

    prefix: str
    attestation_data: bytes
    attestation: Attestation | None = None
    manifest: Manifest | None = None
    checkpoint: Checkpoint | None = None


class _Audit:
    def __init__(
        self,
        location: str,
        dataroom: DataRoom | None,
        state: ClientState | None,
        now: datetime | None,
        rpc_urls: Mapping[str, str] | None = None,
        documents: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.site = SiteReader(location)
        self.documents = documents
        self.rpc_urls = dict(rpc_urls or {})
        self.report = AuditReport(site=location)
        self.findings = Findings()
        self.dataroom = dataroom
        self.state = state
        self.now = now or datetime.now(UTC)
        self.files = StoredFiles(self.site)
        self.progress = progress or NO_PROGRESS
        self.key: _crypto.Ed25519PublicKey | None = None
        self.fingerprint = ""

    # -- reading -----------------------------------------------------------------------------

    def read(self, relative: str) -> bytes | None:
        """A file of the site; small files are kept, proof shards are read when needed."""
        return self.files.read(relative)

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

    def signed_by_custodian(self, relative: str, data: bytes) -> bool:
        signature = self.read(layout.sig(relative))
        assert self.key is not None
        return signature is not None and _crypto.ed25519_verify(self.key, signature, data)

    def checkpoint(self, relative: str, data: bytes, size: int | None = None) -> Checkpoint | None:
        """A signed checkpoint of this custodian's log (checkpoint-signatures), or None."""
        assert self.key is not None
        key, signature = self.key, self.read(layout.sig(relative)) or b""
        found = self.findings.attempt(
            "checkpoint-signatures",
            checks.check_checkpoint,
            key,
            self.fingerprint,
            data,
            signature,
            relative,
            "checkpoint-signatures",
        )
        if found is not None and size is not None and found.size != size:
            self.findings.fail("checkpoint-signatures", f"{relative} says size {found.size}")
            return None
        return found

    # -- the audit ---------------------------------------------------------------------------

    def run(self) -> AuditReport:
        started = time.perf_counter()
        root_pem = self.files.need(layout.PUBLIC_KEY)
        root_attestation = self.files.need(layout.ATTESTATION)
        self.files.need(layout.MANIFEST)
        self.key = self.findings.attempt(
            "custodian-key", checks.custodian_key, root_pem, "custodian-key"
        )
        if self.key is None:
            return self.finish(started)
        self.fingerprint = _crypto.fingerprint(self.key)
        self.report.key_fingerprint = self.fingerprint

        entries = self._entries()
        finals = final_entries(entries or [])
        root = _Folder("", root_attestation)
        folders = [root, *self._homes(finals)]
        files = 0
        for folder in folders:
            self._folder(folder)
            files += len(folder.manifest.files) if folder.manifest else 0
        where = f"the site's root and its {len(folders) - 1} epoch homes"
        ok = self.findings.ok
        ok("custodian-key", f"{where} publish the same custodian key {self.fingerprint}")
        ok(
            "attestation-signatures",
            f"the attestations of {where} are well formed and signed by the custodian key",
        )
        ok(
            "manifest-signatures",
            f"the manifests of {where} are signed by the custodian key and name their attestation",
        )
        ok("manifest-missing", f"all {files} files the manifests list are present")
        ok("manifest-changed", f"all {files} files match their signed manifests")
        if not self.site.is_url:
            ok(
                "manifest-extra",
                "no file other than the manifests themselves, auditors/, log/witnesses/ and (at "
                "the root) epochs/ is left out of its folder's manifest",
            )
        ok(
            "proof-shards",
            "every proof shard is well formed under its prefix; in porsegregate/2 epochs all "
            "2^b shards are there, each named for its index and folding with its path to the "
            "signed shards root, and they hold exactly the signed number of entries, each of a "
            "length the signed layout allows",
        )
        self._auditors(folders)
        self.report.epoch = root.attestation.epoch_id if root.attestation else None
        self.report.epochs = list(finals) or ([self.report.epoch] if self.report.epoch else [])

        checkpoint = self._log(root, entries)
        self._epoch_logs(folders, entries, finals)
        self._witnesses(folders)
        self._history(root, folders, entries, finals)
        self._reserves_proofs(folders)
        self._legal(folders, root)
        self._reread(root)
        self._freshness(root)
        self.report.clients_checked = check_dataroom(
            self.findings,
            self.dataroom,
            root.attestation,
            root.manifest,
            self.fingerprint,
            self.read,
            self.progress,
        )
        if self.state is not None:
            self._state(checkpoint, entries)
        else:
            self.findings.na("log-state", "no --state file: no earlier checkpoint to compare with")
        report = self.finish(started)
        if report.ok and self.state is not None and checkpoint is not None:
            self.state.remember(checkpoint)
        return report

    def finish(self, started: float) -> AuditReport:
        self.report.checks = self.findings.lines()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _entries(self) -> list[LogEntry] | None:
        data = self.read(layout.ENTRIES)
        if data is None:
            self.findings.fail("log-entries", f"{layout.ENTRIES} is missing")
            return None
        return self.findings.attempt(
            "log-entries",
            checks.parse_signed,
            data,
            parse_entries,
            "log-entries",
            layout.ENTRIES,
        )

    def _homes(self, finals: dict[str, LogEntry]) -> list[_Folder]:
        """Every epoch's home: one per epoch of the log, and any other folder under epochs/."""
        homes = []
        for extra in self.subfolders(layout.EPOCHS) or []:
            if extra not in finals:
                self.findings.fail(
                    "history-epoch",
                    f"{layout.epoch_home(extra)} is not an epoch of the signed log (a site the "
                    "log does not vouch for)",
                )
        for epoch in finals:
            prefix = layout.epoch_home(epoch)
            data = self.read(prefix + layout.ATTESTATION)
            if data is None:
                self.findings.fail(
                    "history-epoch",
                    f"epoch {epoch} is in the signed log but its site ({prefix}) is missing: "
                    "it was removed",
                )
                continue
            homes.append(_Folder(prefix, data))
        return homes

    def _folder(self, folder: _Folder) -> None:
        """Signatures of one epoch's site, and its files against its manifest."""
        p, fail, attempt = folder.prefix, self.findings.fail, self.findings.attempt
        pem = self.read(p + layout.PUBLIC_KEY)
        if pem is None:
            fail("custodian-key", f"{p}{layout.PUBLIC_KEY} is missing")
        else:
            try:
                same = _crypto.fingerprint(_crypto.load_public_key_pem(pem)) == self.fingerprint
            except (TypeError, ValueError):
                same = False
            if not same:
                fail(
                    "custodian-key",
                    f"{p}{layout.PUBLIC_KEY} is not the custodian key {self.fingerprint}",
                )
        name = p + layout.ATTESTATION
        if not self.signed_by_custodian(name, folder.attestation_data):
            fail("attestation-signatures", f"{name} is not signed by the custodian key")
        folder.attestation = attempt(
            "attestation-signatures",
            checks.parse_signed,
            folder.attestation_data,
            parse_attestation,
            "attestation-signatures",
            name,
        )

        name = p + layout.MANIFEST
        data = self.read(name)
        if data is None:
            fail("manifest-signatures", f"{name} is missing")
        else:
            if not self.signed_by_custodian(name, data):
                fail("manifest-signatures", f"{name} is not signed by the custodian key")
            folder.manifest = attempt(
                "manifest-signatures",
                checks.parse_signed,
                data,
                parse_manifest,
                "manifest-signatures",
                name,
            )
        if folder.manifest is not None:
            manifest = folder.manifest
            attempt(
                "manifest-signatures",
                checks.check_manifest_names,
                manifest,
                folder.attestation_data,
                folder.attestation,
                name,
            )
            self._files(folder, manifest)

        name = p + layout.CHECKPOINT
        data = self.read(name)
        if data is None:
            fail("checkpoint-signatures", f"{name} is missing")
        else:
            folder.checkpoint = self.checkpoint(name, data)

    def _files(self, folder: _Folder, manifest: Manifest) -> None:
        p, fail = folder.prefix, self.findings.fail
        allowed = checks.allowed_entry_lengths(folder.attestation)
        entries: int | None = 0
        progress = self.progress
        progress.begin(f"checking {p or 'the root'}", len(manifest.files))
        # A stored file (hard links: the newest epoch at the root and in its home) is read and
        # hashed once; a shard's checks are computed once per name and signed layout.
        question = ("shard", manifest.shard_prefix_chars, frozenset(allowed))
        for relative, expected in sorted(manifest.files.items()):
            progress.advance(1)
            if not layout.safe_relative(relative):
                fail(
                    "manifest-signatures",
                    f"{p}manifest.json lists {relative[:200]!r}, not a path inside its folder",
                )
                continue
            stored = self.files.stored(p + relative)
            if stored is None:
                fail("manifest-missing", f"{p}{relative} is listed in its manifest but missing")
            elif stored.sha256 != expected:
                fail(
                    "manifest-changed",
                    f"{p}{relative} does not match its signed manifest: it was altered",
                )
            elif relative.startswith(layout.PROOFS + "/"):
                count, problems = stored.once(
                    (*question, relative),
                    functools.partial(
                        _shard_problems, relative, manifest.shard_prefix_chars, allowed
                    ),
                )
                for shard_problem in problems:
                    fail("proof-shards", p + shard_problem)
                # A shard that cannot be read has no count: the total is not judged.
                entries = None if count is None or entries is None else entries + count
        progress.end()
        if manifest.shard_bits is not None:
            entries = self._shards_v2(folder, manifest, allowed)
        count_problem = None if entries is None else checks.entry_count_problem(manifest, entries)
        if count_problem is not None:
            fail("proof-shards", f"{p}manifest.json: {count_problem}")
        present = self.listing(p)
        if present is None:
            self.findings.na(
                "manifest-extra",
                "the site is a URL: its files cannot be listed, so files no manifest lists "
                "cannot be found (audit a local copy, e.g. from wget --mirror, for this check)",
            )
            return
        v2 = manifest.shard_bits is not None
        for relative in present:
            if v2 and relative.startswith(layout.PROOFS + "/"):
                # porsegregate/2 shards are in no manifest: the shards root covers them.
                if layout.shard_file_index(relative, manifest.shard_bits or 0) is None:
                    fail(
                        "proof-shards",
                        f"{p}{relative} is not the name of one of the 2^"
                        f"{manifest.shard_bits} shards (added by someone)",
                    )
                continue
            if layout.in_manifest(relative, root=not p) and relative not in manifest.files:
                fail(
                    "manifest-extra",
                    f"{p}{relative} is not listed in its signed manifest (added by someone)",
                )

    def _shards_v2(self, folder: _Folder, manifest: Manifest, allowed: set[int]) -> int | None:
        """porsegregate/2 proof-shards: all 2^b shard files are there, each well formed,
        named for its index, of the signed bits, folding with its path to the signed
        shards_root; returns the entries they hold (None when one cannot be read)."""
        p, fail = folder.prefix, self.findings.fail
        bits = manifest.shard_bits or 0
        # The shard leaves hash the epoch the attestation signs (a manifest naming another
        # epoch is manifest-signatures' finding, not every shard's).
        epoch = folder.attestation.epoch_id if folder.attestation else manifest.epoch_id
        entries: int | None = 0
        # A shard stored once (hard links: the newest epoch's root and home) is checked once.
        question = ("shard-v2", bits, manifest.shards_root, epoch, frozenset(allowed))
        with step(self.progress, f"checking {p or 'the root'}'s shards", 1 << bits) as shown:
            for index in range(1 << bits):
                name = layout.shard_file(index, bits)
                stored = self.files.stored(p + name)
                shown.advance(1)
                if stored is None:
                    fail(
                        "proof-shards",
                        f"{p}{name} is missing: every one of the 2^{bits} shards is published",
                    )
                    entries = None
                    continue
                count, problems = stored.once(
                    (*question, name),
                    functools.partial(_shard_v2_problems, name, manifest, epoch, allowed),
                )
                for shard_problem in problems:
                    fail("proof-shards", p + shard_problem)
                entries = None if count is None or entries is None else entries + count
        return entries

    def _auditors(self, folders: list[_Folder]) -> None:
        """Co-signatures by auditors: `auditors/<fingerprint>/` of each epoch they sign.

        The newest epoch's co-signatures are published twice (at the root and in its home
        `epochs/<id>/`): each is one co-signature, counted and reported once per epoch and
        auditor fingerprint (a problem found in both places is one finding naming both).
        """
        verified: set[tuple[str, str]] = set()
        problems: dict[tuple[str, str, str], list[str]] = {}
        for folder in folders:
            reader = FolderReader(self.files, folder.prefix)
            epoch = folder.attestation.epoch_id if folder.attestation else folder.prefix
            cosignatures = verify_cosignatures(reader, folder.attestation_data)
            for cosignature in cosignatures:
                key = (epoch, cosignature.fingerprint)
                if cosignature.ok:
                    verified.add(key)
                else:
                    places = problems.setdefault((*key, cosignature.detail), [])
                    places.append(folder.prefix or "./")
            listed = {c.fingerprint for c in cosignatures}
            for name in self.subfolders(folder.prefix + layout.AUDITORS) or []:
                if not name.startswith(".") and name not in listed:
                    self.findings.fail(
                        "auditor-signatures",
                        f"{folder.prefix}{layout.auditor_folder(name)}/ is not listed in "
                        f"{layout.AUDITORS_INDEX}: no verifier shows it (a withdrawn or hidden "
                        "co-signature)",
                    )
        for (_, _, detail), places in problems.items():
            self.findings.fail("auditor-signatures", f"{' and '.join(places)}: {detail}")
        count = len(verified | {(epoch, fingerprint) for epoch, fingerprint, _ in problems})
        if count == 0 and not self.findings.problems["auditor-signatures"]:
            self.findings.na(
                "auditor-signatures", "no auditor has co-signed any epoch of this site"
            )
        else:
            self.findings.ok(
                "auditor-signatures",
                f"all {count} auditor co-signature(s) listed in auditors/index.json verify over "
                "their epoch's attestation (with their signed auditor.json and statement), "
                "each counted once per epoch and auditor (the newest epoch's are at the root "
                "and in its home)",
            )

    def _log(self, root: _Folder, entries: list[LogEntry] | None) -> Checkpoint | None:
        """The root's log: entries, attestations, recomputed roots, proofs, checkpoints."""
        fail, ok = self.findings.fail, self.findings.ok
        manifest_names = set(root.manifest.files) if root.manifest else set()
        local = self.listing(f"{layout.LOG}/checkpoints/") or []
        names = manifest_names | {f"{layout.LOG}/checkpoints/{n}" for n in local}
        checkpoints: dict[int, tuple[Checkpoint, bytes]] = {}
        for name in sorted(names):
            match = layout.CHECKPOINT_FILE.fullmatch(name)
            data = self.read(name) if match else None
            if match is None or data is None:
                continue  # not a checkpoint, or manifest-missing says so
            parsed = self.checkpoint(name, data, int(match.group(1)))
            if parsed is not None:
                checkpoints[parsed.size] = (parsed, data)
        newest = root.checkpoint
        if not checkpoints and newest is None:
            fail("log-checkpoint", "the site publishes no signed log checkpoint")
            return None
        ok(
            "checkpoint-signatures",
            f"all {len(checkpoints)} checkpoints of the log and every epoch's own checkpoint "
            "are signed by the custodian key",
        )
        largest = max(checkpoints) if checkpoints else None
        if newest is None or largest is None:
            fail("log-checkpoint", "log/checkpoint.json or log/checkpoints/ is unusable")
        else:
            if newest.size != largest:
                fail(
                    "log-checkpoint",
                    f"log/checkpoint.json (size {newest.size}) is not the newest of "
                    f"log/checkpoints/ (size {largest})",
                )
            elif checkpoints[largest][1] != self.read(layout.CHECKPOINT):
                fail(
                    "log-checkpoint",
                    f"log/checkpoint.json and log/checkpoints/{largest}.json are two different "
                    f"signed checkpoints of size {largest}: the log was forked",
                )
            if root.attestation is not None and newest.epoch != root.attestation.epoch_id:
                fail(
                    "log-checkpoint",
                    f"the newest checkpoint is for epoch {newest.epoch}, the site shows "
                    f"{root.attestation.epoch_id}",
                )
        self.report.checkpoint = newest
        if entries is None or newest is None:
            return newest
        n = newest.size
        try:
            checks.check_entry_count(entries, newest, layout.ENTRIES, "log-entries")
        except VerificationError as exc:
            fail("log-entries", exc.detail)
            return newest
        ok("log-entries", f"log/entries.json lists the {n} entries of the signed log")
        if entries[-1].attestation_sha256 != _crypto.sha256_hex(root.attestation_data):
            fail(
                "log-checkpoint",
                "the site's attestation.json is not the newest entry of the signed log",
            )
        else:
            ok(
                "log-checkpoint",
                f"log/checkpoint.json is the newest checkpoint (size {n}) and the site's "
                f"attestation is its newest entry (epoch {newest.epoch})",
            )
        self._logged_attestations(entries)
        leaves = [log_leaf_hash(bytes.fromhex(e.attestation_sha256)) for e in entries]
        if root_of(leaves) != newest.root:
            fail(
                "log-root",
                f"the root of the {n} published entries is not the signed checkpoint's root",
            )
        else:
            ok("log-root", f"the signed root is the RFC 9162 root of all {n} entries")
        self._consistency(checkpoints, newest, leaves)
        for entry in entries:
            name = layout.inclusion_name(entry.index)
            inclusion = self._parsed(name, parse_inclusion, "log-inclusion")
            if inclusion is not None and not checks.included(
                entry.attestation_sha256, entry.index, newest, inclusion
            ):
                fail(
                    "log-inclusion",
                    f"{name} does not prove entry {entry.index} under the newest checkpoint",
                )
        ok("log-inclusion", f"every entry's inclusion proof verifies under root size {n}")
        return newest

    def _parsed(self, relative: str, parse: Callable[[bytes], T], check: str) -> T | None:
        """A file of the site parsed; a missing or malformed one fails `check` (and is None)."""
        data = self.read(relative)
        if data is None:
            self.findings.fail(check, f"{relative}: missing")
            return None
        return self.findings.attempt(check, checks.parse_signed, data, parse, check, relative)

    def _logged_attestations(self, entries: list[LogEntry]) -> None:
        """Every attestation the log lists is published, signed and hashes to its entry."""
        fail = self.findings.fail
        for entry in entries:
            name = layout.logged_attestation_name(entry.index)
            data = self.read(name)
            if data is None:
                fail("log-attestations", f"{name} is missing")
                continue
            if not self.signed_by_custodian(name, data):
                fail("log-attestations", f"{name} is not signed by the custodian key")
            if _crypto.sha256_hex(data) != entry.attestation_sha256:
                fail("log-attestations", f"{name} does not hash to log entry {entry.index}")
                continue
            attestation = self.findings.attempt(
                "log-attestations",
                checks.parse_signed,
                data,
                parse_attestation,
                "log-attestations",
                name,
            )
            if attestation is not None and attestation.epoch_id != entry.epoch:
                fail(
                    "log-attestations",
                    f"log entry {entry.index} says epoch {entry.epoch}, its attestation "
                    f"{attestation.epoch_id}",
                )
        self.findings.ok(
            "log-attestations",
            f"all {len(entries)} logged attestations are published, signed and hash to their "
            "entries",
        )

    def _consistency(
        self,
        checkpoints: dict[int, tuple[Checkpoint, bytes]],
        newest: Checkpoint,
        leaves: list[bytes],
    ) -> None:
        """Every checkpoint ever signed is a prefix of the log, and extends the one before."""
        fail, n = self.findings.fail, newest.size
        sizes = sorted(checkpoints)
        for m in sizes:
            signed = checkpoints[m][0]
            if m > n:
                fail("log-consistency", f"checkpoint {m} is larger than the log ({n})")
                continue
            if root_of(leaves[:m]) != signed.root:
                fail(
                    "log-consistency",
                    f"checkpoint {m}'s root is not the root of the first {m} entries: the log "
                    "was rewritten since it was signed",
                )
            if m == n:
                continue
            name = layout.consistency_name(m)
            proof = self._parsed(name, parse_consistency, "log-consistency")
            if proof is not None and not checks.extends(m, signed.root, newest, proof):
                fail(
                    "log-consistency",
                    f"{name} does not prove that the log of size {n} extends checkpoint {m}",
                )
        for a, b in itertools.pairwise(sizes):
            if b > n:
                continue
            first, second = checkpoints[a][0], checkpoints[b][0]
            between = ConsistencyProof(a, b, tuple(consistency_proof(a, leaves[:b])))
            if not checks.extends(a, first.root, second, between):
                fail("log-consistency", f"checkpoint {b} does not extend checkpoint {a}")
        self.findings.ok(
            "log-consistency",
            f"each of the {len(sizes)} checkpoints extends the one before (roots recomputed "
            "from the entries; the published consistency proofs to the newest verify)",
        )

    def _epoch_logs(
        self, folders: list[_Folder], entries: list[LogEntry] | None, finals: dict[str, LogEntry]
    ) -> None:
        """Each epoch's own log is a prefix of the root's: same checkpoints (no fork)."""
        if entries is None:
            return
        fail = self.findings.fail
        homes = 0
        for folder in folders:
            if not folder.prefix or folder.attestation is None:
                continue
            p = folder.prefix
            final = finals.get(folder.attestation.epoch_id)
            own = self._parsed(p + layout.CHECKPOINT, parse_checkpoint, "log-epoch-logs")
            if own is None:
                continue
            homes += 1
            published = self.read(layout.checkpoint_name(own.size))
            if published is None:
                fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json has size {own.size}, but the site's log has no "
                    "checkpoint of that size",
                )
            elif published != self.read(p + layout.CHECKPOINT):
                fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json and log/checkpoints/{own.size}.json are two "
                    f"different checkpoints of size {own.size}: the log was forked",
                )
            if final is not None and own.size != final.index + 1:
                fail(
                    "log-epoch-logs",
                    f"{p}log/checkpoint.json has size {own.size}, but epoch "
                    f"{final.epoch} is entry {final.index} of the log",
                )
            listed = self._parsed(p + layout.ENTRIES, parse_entries, "log-epoch-logs")
            if listed is None:
                continue
            if listed != entries[: len(listed)] or len(listed) != own.size:
                fail(
                    "log-epoch-logs",
                    f"{p}log/entries.json is not the first {own.size} entries of the site's log",
                )
            names = folder.manifest.files if folder.manifest else {}
            for name in sorted(names):
                if layout.CHECKPOINT_FILE.fullmatch(name) and self.read(p + name) != self.read(
                    name
                ):
                    fail(
                        "log-epoch-logs",
                        f"{p}{name} differs from the site's {name}: the log was forked",
                    )
        if homes:
            self.findings.ok(
                "log-epoch-logs",
                f"the log of each of the {homes} epoch homes is a prefix of the site's log",
            )
        else:
            self.findings.na("log-epoch-logs", "the site keeps no epoch homes under epochs/")

    def _read_in(self, prefix: str, relative: str) -> bytes | None:
        return self.read(prefix + relative)

    def _witnesses(self, folders: list[_Folder]) -> None:
        """`log-witnesses` in every folder: its checkpoint as a signed note, co-signed by the
        threshold of witnesses its attestation names (section 13)."""
        assert self.key is not None
        counted, witnessed = 0, 0
        for folder in folders:
            p, attestation, checkpoint = folder.prefix, folder.attestation, folder.checkpoint
            if attestation is None or checkpoint is None:
                continue  # already failed: attestation-signatures or checkpoint-signatures
            where = p or "./"
            try:
                body = checks.check_checkpoint_note(
                    self.key, checkpoint, self.read(p + layout.CHECKPOINT_NOTE)
                )
                results = checks.witness_cosignatures(
                    attestation, checkpoint, body, functools.partial(self._read_in, p)
                )
                checks.check_witnesses(attestation, checkpoint, results)
            except VerificationError as exc:
                self.findings.fail("log-witnesses", f"{where}: {exc.detail}")
                continue
            if attestation.witnesses.keys:
                witnessed += 1
                counted += sum(1 for r in results if r.ok)
        if witnessed == 0 and not self.findings.problems["log-witnesses"]:
            self.findings.na(
                "log-witnesses",
                "no attestation names witnesses: nothing shows that everyone sees this same log",
            )
        else:
            self.findings.ok(
                "log-witnesses",
                f"in each of the {witnessed} folder(s) whose attestation names witnesses, the "
                f"checkpoint is co-signed by at least the threshold ({counted} co-signatures "
                "verify in all)",
            )

    def _history(
        self,
        root: _Folder,
        folders: list[_Folder],
        entries: list[LogEntry] | None,
        finals: dict[str, LogEntry],
    ) -> None:
        if entries is None:
            return
        fail = self.findings.fail
        by_prefix = {f.prefix: f for f in folders}
        previous: str | None = None
        chain_ok = True
        for epoch, entry in finals.items():
            newest = entry.index == len(entries) - 1
            home = by_prefix.get(layout.epoch_home(epoch))
            for folder in ([root] if newest else []) + ([home] if home else []):
                if _crypto.sha256_hex(folder.attestation_data) != entry.attestation_sha256:
                    fail(
                        "history-epoch",
                        f"{folder.prefix or './'}attestation.json (epoch {epoch}) is not the one "
                        "in the signed log: it was rewritten",
                    )
            data = self.read(layout.logged_attestation_name(entry.index))
            if data is None or _crypto.sha256_hex(data) != entry.attestation_sha256:
                data = home.attestation_data if home else None
            if data is None:
                fail("history-chain", f"epoch {epoch}'s attestation: no copy of it is published")
                chain_ok = False
                continue
            attestation = self.findings.attempt(
                "history-chain",
                checks.parse_signed,
                data,
                parse_attestation,
                "history-chain",
                f"epoch {epoch}'s attestation",
            )
            if attestation is None:
                chain_ok = False
                continue
            self.findings.attempt("history-chain", checks.check_chain, attestation, previous)
            previous = entry.attestation_sha256
        if root.attestation is not None and root.attestation.epoch_id not in finals:
            fail(
                "history-epoch",
                f"the site shows epoch {root.attestation.epoch_id}, which is not in the log",
            )
        self.findings.ok(
            "history-epoch",
            f"all {len(finals)} epochs of the log are published, each exactly as logged",
        )
        if chain_ok:
            self.findings.ok(
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
            try:
                checks.check_reserves(attestation, self.fingerprint, checks.ignore)
                checked += 1
            except VerificationError as exc:
                self.findings.fail(
                    "reserves-proofs", f"epoch {attestation.epoch_id}: {exc.check}: {exc.detail}"
                )
        self.findings.ok(
            "reserves-proofs",
            f"in all {checked} epochs every wallet's proof of control verifies, no network or "
            "wallet is listed twice, no address or key is in two categories and the coverage "
            "sums add up",
        )

    def _legal(self, folders: list[_Folder], root: _Folder) -> None:
        """legal-holders and legal-documents in every epoch's folder; with --documents, the
        newest epoch's hash-only documents against the files the auditor was shown."""
        checked = declared = 0
        done: set[str] = set()
        for folder in folders:
            attestation, manifest = folder.attestation, folder.manifest
            if attestation is None or manifest is None:
                continue
            checked += 1
            declared += attestation.legal is not None
            where = f"{folder.prefix or './'} (epoch {attestation.epoch_id})"
            digest = _crypto.sha256_hex(folder.attestation_data)
            if digest not in done:  # the same attestation at the root and in its home
                done.add(digest)
                self.findings.attempt(
                    "legal", _inner(where, checks.check_legal_holders), attestation, checks.ignore
                )
            names = checks.legal_document_files(attestation)
            files = {name: self.read(folder.prefix + name) for name in names}
            self.findings.attempt(
                "legal",
                _inner(where, checks.check_legal_documents),
                attestation,
                manifest,
                files,
                checks.ignore,
            )
        detail = (
            f"in all {checked} epoch folders every wallet's holder is a declared entity, no "
            "client wallet is held by the operating company, and every published document "
            "matches its signed sha256"
            if declared
            else checks.NO_LEGAL
        )
        if self.documents is not None and root.attestation is not None:
            detail += "; " + self._private_documents(root.attestation, self.documents)
        elif declared:
            detail += "; hash-only documents not checked (no --documents DIR)"
        self.findings.ok("legal", detail)

    def _private_documents(self, attestation: Attestation, folder: Path) -> str:
        """audit --documents: the newest attestation's hash-only documents against the files
        in `folder` (legal-documents-private)."""
        if not folder.is_dir():
            raise InputError(f"--documents {folder}: no such folder")
        hashes = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                hashes[path.relative_to(folder).as_posix()] = _crypto.sha256_hex(path.read_bytes())
            except OSError as exc:
                raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
        found = checks.match_private_documents(attestation, hashes)
        for name, d in found.matched:
            self.report.documents.append(
                {"file": name, "sha256": d.sha256, "status": "matched", "title": d.title}
            )
        for d in found.missing:
            self.report.documents.append(
                {"file": None, "sha256": d.sha256, "status": "missing", "title": d.title}
            )
            self.findings.fail(
                "legal",
                f"legal-documents-private: no file in {folder} has the sha256 of the hash-only "
                f"document {d.title!r} ({d.kind}, {d.date}, sha256 {d.sha256})",
            )
        for name in found.extra:
            self.report.documents.append(
                {"file": name, "sha256": hashes[name], "status": "no document", "title": None}
            )
        private = sum(
            1 for d in (attestation.legal.documents if attestation.legal else ()) if d.file is None
        )
        text = (
            f"--documents {folder}: {len(found.matched)} file(s) match a document of epoch "
            f"{attestation.epoch_id}"
            + "".join(f"; {name} is {d.title!r}" for name, d in found.matched)
            + f"; {private - len(found.missing)} of {private} hash-only document(s) shown"
        )
        if found.extra:
            text += f"; {len(found.extra)} file(s) match no document: {', '.join(found.extra)}"
        return text

    def _reread(self, root: _Folder) -> None:
        """The newest epoch's chain balances read again from the auditor's nodes (--rpc)."""
        if not self.rpc_urls:
            self.findings.na(
                "reserves-reread",
                "no --rpc: the balances were not read again; `source: chain` and the block are "
                "the custodian's node's reading",
            )
            return
        attestation = root.attestation
        if attestation is None:
            return
        self.report.rereads = readings = reread(attestation, self.rpc_urls)
        failed = False
        for reading in readings:
            for problem in checks.reread_problems(attestation, reading):
                self.findings.fail("reserves-reread", f"epoch {attestation.epoch_id}: {problem}")
                failed = True
        if not failed:
            self.findings.ok(
                "reserves-reread",
                f"epoch {attestation.epoch_id}: {checks.reread_summary(readings)}",
            )

    def _freshness(self, root: _Folder) -> None:
        attestation = root.attestation
        if attestation is None or attestation.next_due is None:
            return
        if checks.overdue(attestation, self.now):
            self.findings.fail(
                "freshness",
                f"overdue: the next attestation was due by {attestation.next_due} and epoch "
                f"{attestation.epoch_id} is still the newest",
            )
        else:
            self.findings.ok(
                "freshness",
                f"the newest attestation is current: the next is due by {attestation.next_due}",
            )

    def _state(self, checkpoint: Checkpoint | None, entries: list[LogEntry] | None) -> None:
        """The log extends the checkpoint the auditor's state file remembers (T8)."""
        assert self.state is not None
        if checkpoint is None:
            return
        seen = self.state.seen(checkpoint.log)
        if seen is None:
            self.findings.na(
                "log-state",
                "the state file remembers no checkpoint of this log (it will after this audit)",
            )
            return
        grew = self.findings.attempt(
            "log-state",
            checks.remembered_log,
            seen.size,
            seen.root,
            checkpoint,
            "log-state",
        )
        if grew is None:
            return
        if grew and entries is not None and len(entries) == checkpoint.size:
            leaves = [log_leaf_hash(bytes.fromhex(e.attestation_sha256)) for e in entries]
            if root_of(leaves[: seen.size]) != seen.root:
                self.findings.fail("log-state", checks.not_extended(seen.size, "log-state").detail)
                return
        self.findings.ok(
            "log-state",
            f"the log extends the checkpoint remembered in the state file (size {seen.size} to "
            f"{checkpoint.size})",
        )


def _inner(where: str, run: Callable[P, None]) -> Callable[P, None]:
    """A shared check whose failure is one of audit check `legal`, its detail naming the
    folder and the inner check."""

    @functools.wraps(run)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            run(*args, **kwargs)
        except VerificationError as exc:
            raise VerificationError(exc.check, f"{where}: {exc.check}: {exc.detail}") from exc

    return wrapped


def audit_site(
    location: str,
    dataroom: DataRoom | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
    rpc_urls: Mapping[str, str] | None = None,
    documents: Path | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit a published site (folder or http(s) URL) and, with the data room, its newest epoch.

    With `rpc_urls` ({chain id: node URL}) the newest epoch's chain balances are read
    again at the signed blocks from those nodes (check reserves-reread); a chain the
    attestation does not list is an InputError, a node without a trustworthy answer a
    ChainError.

    Raises InputError (or ConfigError) when an input cannot be read at all: not a
    site, an unreadable CSV, a wrong passphrase. With `state`, the log must extend
    the remembered checkpoint, and the newest is remembered when everything holds.
    With `documents` (a folder the custodian's data room showed), every hash-only document
    of the newest attestation must be one of its files (legal-documents-private).
    """
    return _Audit(location, dataroom, state, now, rpc_urls, documents, progress).run()


def _shard_problems(
    relative: str, q: int, allowed: set[int], data: bytes
) -> tuple[int | None, list[str]]:
    return checks.shard_problems(relative, data, q, allowed)


def _shard_v2_problems(
    name: str, manifest: Manifest, epoch: str, allowed: set[int], data: bytes
) -> tuple[int | None, list[str]]:
    return checks.shard_v2_problems(name, data, manifest, epoch, allowed)
