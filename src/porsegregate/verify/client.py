"""The client's verifier: one client's inclusion in a published site, or in a proof file.

The checks themselves are checks.py's, each written once; this driver runs them
in the order of docs/protocol.md section 9 and stops at the first that fails,
so a client reads one verdict and the reason for it. The auditor's driver
(audit/) runs the same checks over a whole site and collects every failure.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import _crypto
from ..chains import ChainReading
from ..errors import FormatError, InputError, VerificationError
from ..protocol import layout
from ..protocol.bundle import shard_index
from ..protocol.hashing import epoch_keys
from ..protocol.models import Attestation, Checkpoint, Manifest, ProofFile
from ..protocol.serialization import (
    checkpoint_summary,
    parse_attestation,
    parse_consistency,
    parse_inclusion,
    parse_manifest,
)
from ..protocol.transparency import final_entries
from . import checks
from .checks import Balance, Check, ClientCoverage, Record
from .cosignatures import CosignCheck, verify_cosignatures
from .fetch import SiteReader
from .reread import reread
from .state import ClientState

__all__ = [
    "Balance",
    "Check",
    "ClientCoverage",
    "EpochResult",
    "HistoryReport",
    "Report",
    "SignedEpoch",
    "check_signed_site",
    "check_site_files",
    "verify_history",
    "verify_proof",
    "verify_site",
]


# The failed checks a typing mistake explains, and what to check (protocol section 9):
# a code whose checksum fails; no proof under the lookup id derived from the typed code
# (a valid code mistyped into another); a proof that opens with the typed code but names
# another account id. Every other failure is a real one.
INPUT_CHECKS = {"code": "code", "proof-found": "code", "bundle-account": "account id"}


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    epoch: str | None = None
    custodian: dict[str, str] | None = None
    key_fingerprint: str | None = None
    balances: list[Balance] = field(default_factory=list)
    coverage: list[ClientCoverage] = field(default_factory=list)
    shortfall: bool = False
    proof: ProofFile | None = None
    checkpoint: Checkpoint | None = None
    next_due: str | None = None
    overdue: bool = False
    warnings: list[str] = field(default_factory=list)
    auditors: list[dict[str, Any]] = field(default_factory=list)
    rereads: list[ChainReading] = field(default_factory=list)
    # Every witness the attestation names, and whether its co-signature counted (T16).
    witnesses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and self.failed is None

    @property
    def typed_wrong(self) -> str | None:
        """What the client should check they typed, when the failure is one a typing mistake
        explains (protocol section 9, "Presenting the result"): "code" or "account id";
        None when it verified or failed otherwise (a real failure)."""
        failed = self.failed
        return None if failed is None else INPUT_CHECKS.get(failed.id)

    def to_json(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "verified": self.verified,
            "epoch": self.epoch,
            "custodian": self.custodian,
            "key_fingerprint": self.key_fingerprint,
            "failed": {"id": failed.id, "asset": failed.asset, "detail": failed.detail}
            if failed
            else None,
            "checks": [
                {"id": c.id, "ok": c.ok, "asset": c.asset, "detail": c.detail} for c in self.checks
            ],
            "balances": [
                {
                    "asset": b.asset,
                    "decimals": b.decimals,
                    "amount": str(b.amount),
                    "display": b.display,
                    "parts": b.parts,
                }
                for b in self.balances
            ],
            "shortfall": self.shortfall,
            "next_due": self.next_due,
            "overdue": self.overdue,
            "warnings": self.warnings,
            "auditors": self.auditors,
            "reread": [
                {
                    "chain": r.chain,
                    "node": r.node or None,
                    "network": r.network,
                    "block_height": r.block_height,
                    "block_hash": r.block_hash,
                    "balances_read": None if r.balances is None else len(r.balances),
                    "declared_not_checked": r.declared,
                }
                for r in self.rereads
            ],
            "witnesses": self.witnesses,
            "log": None if self.checkpoint is None else checkpoint_summary(self.checkpoint),
            "coverage": [
                {
                    "asset": c.asset,
                    "segregated_percent": c.segregated_percent,
                    "including_third_party_percent": c.including_third_party_percent,
                    "covered": c.covered,
                    "dedicated_wallets": [
                        {"chain": chain, "address": address, "amount": str(amount)}
                        for chain, address, amount in c.dedicated
                    ],
                    "dedicated_shortfall": str(c.dedicated_shortfall),
                }
                for c in self.coverage
            ],
        }


def _failure(exc: VerificationError) -> Check:
    return Check(exc.check, False, exc.detail, exc.asset)


def _client_proof(
    report: Report,
    attestation: Attestation,
    secret: bytes,
    account_id: str,
    proof: ProofFile,
    entry: bytes | None,
) -> None:
    """The client's proof opened (from then on it is the report's evidence, verified or not),
    checked, then how their assets are covered."""
    record = report.checks.append
    keys = epoch_keys(secret, attestation.epoch_id)
    bundle = checks.open_bundle(attestation, keys, entry, record)
    report.proof = proof
    report.balances = checks.check_bundle(attestation, keys, account_id, bundle, record)
    report.coverage = checks.client_coverage(attestation, secret, account_id, report.balances)


def _attestation(
    report: Report, data: bytes, signature: bytes, public_pem: bytes, expect_key: str | None
) -> tuple[Attestation, _crypto.Ed25519PublicKey]:
    key = checks.custodian_key(public_pem)
    report.key_fingerprint = _crypto.fingerprint(key)
    attestation = checks.check_attestation(key, data, signature, expect_key, report.checks.append)
    report.epoch = attestation.epoch_id
    report.custodian = {
        "name": attestation.custodian.name,
        "legal_entity": attestation.custodian.legal_entity,
    }
    return attestation, key


def _reserves(
    report: Report,
    attestation: Attestation,
    rpc_urls: Mapping[str, str] | None = None,
    site: tuple[SiteReader, Manifest] | None = None,
) -> None:
    """The reserves checks, then the legal ones right after reserves-coverage: legal-holders,
    and on a site (`site`: its reader and signed manifest) legal-documents; a proof file
    carries no documents."""
    report.shortfall = attestation.reserves.shortfall
    record = report.checks.append
    checks.check_reserves(attestation, report.key_fingerprint or "", record)
    checks.check_legal_holders(attestation, record)
    if site is not None:
        reader, manifest = site
        files = {name: reader.read(name) for name in checks.legal_document_files(attestation)}
        checks.check_legal_documents(attestation, manifest, files, record)
    if rpc_urls:
        report.rereads = reread(attestation, rpc_urls)
        checks.check_reread(attestation, report.rereads, report.checks.append)


def verify_proof(
    proof: ProofFile,
    account_id: str,
    code: str,
    expect_key: str | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
    rpc_urls: Mapping[str, str] | None = None,
) -> Report:
    """Verify a downloaded proof file offline.

    A porsegregate-proof/2 file carries the log files the site showed: the same log checks
    run as on the site, then freshness. With `state`, its checkpoint is compared with the
    one remembered (read, never written: a saved proof is a snapshot, not a visit). A /1
    file carries no log: the report warns that the log was not checked. `rpc_urls` names
    nodes to re-read chains from ({chain id: URL}); a chain the attestation does not list
    is an InputError.
    """
    report = Report()
    record = report.checks.append
    try:
        secret = checks.client_secret(code, record)
        attestation, key = _attestation(
            report, proof.attestation, proof.attestation_sig, proof.public_key_pem, expect_key
        )
        if proof.log_files is None:
            report.warnings.append(
                "log not checked: this is a porsegregate-proof/1 file, which carries no "
                "transparency log, so log-checkpoint, log-inclusion and log-consistency did "
                "not run: nothing shows that this attestation is the one the custodian logged "
                "for everyone; verify on the site, and save the proof again"
            )
        else:
            files = proof.log_files
            checkpoint, _ = _log_head(
                report,
                lambda relative, check: _carried(files, relative, check),
                key,
                proof.attestation,
                attestation.epoch_id,
            )
            if state is not None:
                _remembered_offline(report, checkpoint, state)
            _witnesses(
                report, files.get(layout.CHECKPOINT_NOTE), files.get, key, attestation, checkpoint
            )
        _freshness(report, attestation, now, offline=True)
        _reserves(report, attestation, rpc_urls)
        keys = epoch_keys(secret, attestation.epoch_id)
        mine = _crypto.constant_time_equal(keys.lookup, proof.lookup)
        _client_proof(report, attestation, secret, account_id, proof, proof.entry if mine else None)
    except VerificationError as exc:
        record(_failure(exc))
    report.proof = proof
    return report


def _carried(files: dict[str, bytes], relative: str, check: str) -> bytes:
    """A log file the proof file carries, by its published name."""
    data = files.get(relative)
    if data is None:
        raise VerificationError(check, f"the proof file carries no {relative}")
    return data


def _remembered_offline(report: Report, checkpoint: Checkpoint, state: ClientState) -> None:
    """A proof file's checkpoint against the remembered one (T7): the same size must be the
    same log. A file carries no consistency proof, so another size is a warning, not a check."""
    seen = state.seen(checkpoint.log)
    if seen is None:
        detail = "you remember no checkpoint of this log: nothing to compare"
    elif seen.size == checkpoint.size:
        checks.remembered_log(seen.size, seen.root, checkpoint, "log-consistency")
        detail = f"the log is the one you saw before (size {seen.size})"
    else:
        report.warnings.append(
            f"log not compared: you remember this log at size {seen.size}, this proof file's "
            f"checkpoint has size {checkpoint.size}, and a proof file carries no consistency "
            "proof between the two; verify on the site with your state to check that the log "
            "only grew"
        )
        return
    report.checks.append(Check("log-consistency", True, detail))


@dataclass(frozen=True)
class SignedEpoch:
    """An epoch's site whose custodian signatures verify."""

    attestation_bytes: bytes
    attestation: Attestation
    fingerprint: str  # the custodian key's
    manifest: Manifest


def check_signed_site(site: SiteReader, expect_key: str | None = None) -> SignedEpoch:
    """The custodian's signatures on a site, without a client: the same checks as
    `verify_site`; VerificationError names the first that fails."""
    data = site.need(layout.ATTESTATION)
    key = checks.custodian_key(site.need(layout.PUBLIC_KEY))
    signature = site.need(layout.sig(layout.ATTESTATION))
    attestation = checks.check_attestation(key, data, signature, expect_key, checks.ignore)
    manifest_data = site.need(layout.MANIFEST)
    manifest_sig = site.need(layout.sig(layout.MANIFEST))
    manifest = checks.check_manifest(
        key, manifest_data, manifest_sig, data, attestation, checks.ignore
    )
    return SignedEpoch(data, attestation, _crypto.fingerprint(key), manifest)


def check_site_files(site: SiteReader, manifest: Manifest) -> None:
    """Every file the signed manifest lists is there, unchanged (check `manifest-files`)."""
    for relative, expected in sorted(manifest.files.items()):
        if not layout.safe_relative(relative):
            raise VerificationError("manifest-files", f"the manifest lists a bad path {relative!r}")
        data = site.read(relative)
        if data is None:
            raise VerificationError(
                "manifest-files", f"{relative} is in the signed manifest but missing"
            )
        if _crypto.sha256_hex(data) != expected:
            raise VerificationError(
                "manifest-files", f"{relative} does not match the signed manifest: it was altered"
            )


def _listed(site: SiteReader, manifest: Manifest, relative: str, check: str) -> bytes:
    """A file of the site, checked against the signed manifest before it is used."""
    return checks.listed_file(manifest, relative, site.read(relative), check)


LogReader = Callable[[str, str], bytes]


def _log_head(
    report: Report,
    read: LogReader,
    key: _crypto.Ed25519PublicKey,
    attestation_data: bytes,
    epoch: str,
) -> tuple[Checkpoint, dict[str, bytes]]:
    """The attestation (of `epoch`) is the newest entry of the signed log (checks
    log-checkpoint and log-inclusion). `read(name, check)` gives a log file by its published
    name; the files read, by name, are returned too (what a saved proof file carries)."""
    record = report.checks.append
    files: dict[str, bytes] = {}

    def need(relative: str, check: str) -> bytes:
        files[relative] = read(relative, check)
        return files[relative]

    data = need(layout.CHECKPOINT, "log-checkpoint")
    signature = need(layout.sig(layout.CHECKPOINT), "log-checkpoint")
    checkpoint = checks.check_checkpoint(key, report.key_fingerprint or "", data, signature)
    checks.check_checkpoint_epoch(checkpoint, epoch)
    report.checkpoint = checkpoint
    record(
        Check(
            "log-checkpoint",
            True,
            f"the log checkpoint (size {checkpoint.size}, {checkpoint.time}) is signed by the "
            "custodian",
        )
    )
    relative = layout.inclusion_name(checkpoint.size - 1)
    proof = checks.parse_signed(
        need(relative, "log-inclusion"), parse_inclusion, "log-inclusion", relative
    )
    checks.check_newest_entry(attestation_data, checkpoint, proof, record)
    return checkpoint, files


def _log(
    report: Report,
    site: SiteReader,
    manifest: Manifest,
    key: _crypto.Ed25519PublicKey,
    attestation_data: bytes,
    state: ClientState | None,
) -> tuple[Checkpoint, dict[str, bytes]]:
    """The attestation is the newest entry of the signed log, and the log only grew (T8)."""
    checkpoint, files = _log_head(
        report,
        lambda relative, check: _listed(site, manifest, relative, check),
        key,
        attestation_data,
        manifest.epoch_id,  # the attestation's: check_manifest compared them
    )
    record = report.checks.append
    if state is not None and layout.is_epoch_home(site.location):
        record(
            Check(
                "log-consistency",
                True,
                "an earlier epoch's own copy (epochs/<id>/): its log ends there, so it is not "
                "compared with the checkpoint you remember",
            )
        )
    elif state is not None:
        _remembered(record, site, manifest, checkpoint, state)
    return checkpoint, files


def _remembered(
    record: Record, site: SiteReader, manifest: Manifest, checkpoint: Checkpoint, state: ClientState
) -> None:
    seen = state.seen(checkpoint.log)
    if seen is None:
        detail = "first visit: this checkpoint will be remembered if everything verifies"
    elif not checks.remembered_log(seen.size, seen.root, checkpoint, "log-consistency"):
        detail = f"the log is the one you saw before (size {seen.size})"
    else:
        relative = layout.consistency_name(seen.size)
        data = _listed(site, manifest, relative, "log-consistency")
        proof = checks.parse_signed(data, parse_consistency, "log-consistency", relative)
        if not checks.extends(seen.size, seen.root, checkpoint, proof):
            raise checks.not_extended(seen.size, "log-consistency")
        detail = f"the log only grew since your last check (size {seen.size} to {checkpoint.size})"
    record(Check("log-consistency", True, detail))


def _site_witnesses(
    report: Report,
    site: SiteReader,
    manifest: Manifest,
    key: _crypto.Ed25519PublicKey,
    attestation: Attestation,
    checkpoint: Checkpoint,
) -> dict[str, bytes]:
    """log-witnesses on a site: its checkpoint note (listed in the manifest) and whatever
    co-signatures the witnesses published beside it."""
    note = site.read(layout.CHECKPOINT_NOTE)
    if note is not None:
        note = _listed(site, manifest, layout.CHECKPOINT_NOTE, "log-witnesses")
    return _witnesses(report, note, site.read, key, attestation, checkpoint)


def _witnesses(
    report: Report,
    note: bytes | None,
    read: Callable[[str], bytes | None],
    key: _crypto.Ed25519PublicKey,
    attestation: Attestation,
    checkpoint: Checkpoint,
) -> dict[str, bytes]:
    """The checkpoint carries its witnesses' co-signatures, as many as the attestation
    requires, so this log is the one everyone is shown (section 13, T16). Returns the
    files read, by their published names, for a saved proof file to carry."""
    files: dict[str, bytes] = {}
    if note is not None:
        files[layout.CHECKPOINT_NOTE] = note

    def reading(relative: str) -> bytes | None:
        data = read(relative)
        if data is not None:
            files[relative] = data
        return data

    body = checks.check_checkpoint_note(key, checkpoint, note)
    results = checks.witness_cosignatures(attestation, checkpoint, body, reading)
    report.witnesses = [r.to_json() for r in results]
    checks.check_witnesses(attestation, checkpoint, results)
    report.checks.append(
        Check("log-witnesses", True, checks.witnesses_summary(attestation, results))
    )
    return files


def _freshness(
    report: Report, attestation: Attestation, now: datetime | None, offline: bool = False
) -> None:
    """A freeze attack shows an old attestation forever: say so once the next is overdue (T9)."""
    report.next_due = attestation.next_due
    if checks.overdue(attestation, now or datetime.now(UTC)):
        report.overdue = True
        report.warnings.append(
            f"overdue: the custodian said the next attestation would be published by "
            f"{attestation.next_due}"
            + (
                ", so this saved proof is stale: it shows your balances as they were then; "
                "verify on the site for the current attestation"
                if offline
                else ", and this is still the latest one it shows; it may have stopped "
                "publishing, or this site may be showing you an old copy"
            )
        )


def _newest(
    site: SiteReader, key: _crypto.Ed25519PublicKey, attestation: Attestation
) -> Attestation:
    """The attestation whose freshness counts (section 13): on an earlier epoch's home
    (epochs/<id>/), the site root's, when it is signed by the same custodian key; otherwise
    (and when the root cannot be read or does not verify) this one."""
    if not layout.is_epoch_home(site.location):
        return attestation
    root = _site_root(site.location)
    try:
        reader = SiteReader(root)
        data = reader.read(layout.ATTESTATION)
        signature = reader.read(layout.sig(layout.ATTESTATION))
        if data is None or signature is None:
            return attestation
        newest = checks.check_attestation(key, data, signature, None, checks.ignore)
    except (InputError, VerificationError):
        return attestation
    return newest


def _site_root(location: str) -> str:
    """The site root of an earlier epoch's home: two folders up."""
    if "://" in location:
        return urllib.parse.urljoin(location.rstrip("/") + "/", "../../")
    return str(Path(location).parent.parent)


def previous_attestation(
    site: SiteReader, manifest: Manifest, attestation: Attestation, checkpoint: Checkpoint
) -> Attestation | None:
    """The previous epoch's attestation: the one this attestation chains to, in the log as
    log/attestations/<n-2>.json (or earlier, when an epoch was republished), listed in the
    manifest; None when the log has one entry. InputError says why it cannot be read."""
    chained = attestation.previous_attestation_sha256
    if checkpoint.size < 2 or chained is None:
        return None
    index = next(
        (
            i
            for i in range(checkpoint.size - 2, -1, -1)
            if manifest.files.get(layout.logged_attestation_name(i)) == chained
        ),
        checkpoint.size - 2,
    )
    relative = layout.logged_attestation_name(index)
    data = site.read(relative)
    if data is None or manifest.files.get(relative) != chained:
        raise InputError(
            f"{relative}, the attestation this one chains to, is missing from the site or "
            "from its signed manifest"
        )
    if _crypto.sha256_hex(data) != chained:
        raise InputError(f"{relative} does not match the signed manifest")
    try:
        return parse_attestation(data)
    except FormatError as exc:
        raise InputError(f"{relative}: {exc}") from exc


def _legal_changes(
    report: Report,
    site: SiteReader,
    manifest: Manifest,
    attestation: Attestation,
    checkpoint: Checkpoint,
) -> None:
    """Warn of every change of the legal arrangement since the previous epoch (section 12)."""
    try:
        previous = previous_attestation(site, manifest, attestation, checkpoint)
    except InputError as exc:
        report.warnings.append(f"legal changes not compared with the previous epoch: {exc}")
        return
    assets = [b.asset for b in report.balances]
    report.warnings.extend(checks.legal_warnings(attestation, previous, assets))


def _auditors(report: Report, site: SiteReader, attestation_data: bytes) -> None:
    """Auditors' co-signatures of this attestation (section 14): every listed one must verify.

    No `auditors/index.json` means no auditor co-signed, and no check. A name is the
    auditor's own claim; the key fingerprint is what to compare with the auditor's.
    """
    cosignatures = verify_cosignatures(site, attestation_data)
    report.auditors = [c.to_json() for c in cosignatures]
    for c in cosignatures:
        if not c.ok:
            raise VerificationError("auditor-signature", c.detail)
    if cosignatures:
        report.checks.append(
            Check(
                "auditor-signature",
                True,
                f"co-signed by {len(cosignatures)} auditor key(s): "
                + "; ".join(f"{c.name!r} {c.fingerprint}{_reread_note(c)}" for c in cosignatures)
                + " (names are the auditors' own claims: compare the fingerprints with theirs)",
            )
        )


def _reread_note(cosignature: CosignCheck) -> str:
    if not cosignature.reread:
        return ""
    chains = ", ".join(f"{r.chain} at block {r.block_height}" for r in cosignature.reread)
    return f", who read the balances of {chains} again from its own node(s)"


def verify_site(
    location: str,
    account_id: str,
    code: str,
    expect_key: str | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
    rpc_urls: Mapping[str, str] | None = None,
) -> Report:
    """Verify a client's inclusion against a published site (folder or URL).

    With `state`, the log checkpoint is checked against the one remembered from
    the last visit, and remembered for the next one when everything verifies.
    With `rpc_urls` ({chain id: node URL}), every balance the attestation says was
    read from those chains is read again from those nodes (check reserves-reread);
    a chain the attestation does not list is an InputError, before any node is asked.
    """
    site = SiteReader(location)
    attestation_data = site.need(layout.ATTESTATION)
    signature = site.need(layout.sig(layout.ATTESTATION))
    public_pem = site.need(layout.PUBLIC_KEY)
    manifest_data = site.need(layout.MANIFEST)
    manifest_sig = site.need(layout.sig(layout.MANIFEST))
    report = Report()
    record = report.checks.append
    try:
        secret = checks.client_secret(code, record)
        attestation, key = _attestation(report, attestation_data, signature, public_pem, expect_key)
        _auditors(report, site, attestation_data)
        manifest = checks.check_manifest(
            key, manifest_data, manifest_sig, attestation_data, attestation, record
        )
        checkpoint, log_files = _log(report, site, manifest, key, attestation_data, state)
        log_files.update(_site_witnesses(report, site, manifest, key, attestation, checkpoint))
        _freshness(report, _newest(site, key, attestation), now)
        _reserves(report, attestation, rpc_urls, (site, manifest))
        keys = epoch_keys(secret, attestation.epoch_id)
        entry = _shard_entry(site, manifest, attestation.epoch_id, keys.lookup, record)
        proof = ProofFile(
            attestation_data, signature, public_pem, keys.lookup, entry or b"", log_files
        )
        _client_proof(report, attestation, secret, account_id, proof, entry)
        _legal_changes(report, site, manifest, attestation, checkpoint)
        if state is not None and not layout.is_epoch_home(location):
            state.remember(checkpoint)
    except VerificationError as exc:
        record(_failure(exc))
    return report


def _shard_entry(
    site: SiteReader, manifest: Manifest, epoch: str, lookup: bytes, record: Record
) -> bytes | None:
    """The client's encrypted entry from its shard (check shard-hash): porsegregate/1 the
    shard of its lookup id's hex prefix, listed in the manifest; porsegregate/2 the shard of
    its lookup id's first b bits, whose path folds to the manifest's shards_root."""
    if manifest.shard_bits is not None:
        bits = manifest.shard_bits
        shard_path = layout.shard_file(shard_index(lookup, bits), bits)
        data = site.read(shard_path)
        return checks.shard_entry_v2(shard_path, data, manifest, epoch, lookup, record)
    prefix = lookup.hex()[: manifest.shard_prefix_chars]
    shard_path = layout.shard_name(prefix)
    expected = manifest.files.get(shard_path)
    if expected is None:
        return None
    shard = site.need(shard_path)
    return checks.shard_entry(shard_path, shard, expected, lookup, record, prefix)


@dataclass
class EpochResult:
    epoch: str
    location: str
    report: Report | None


@dataclass
class HistoryReport:
    """The client's check of every published epoch, and of the history that links them."""

    latest: Report
    epochs: list[EpochResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    @property
    def verified(self) -> bool:
        """The newest epoch and the history verify; an older epoch may hold no proof for you."""
        return (
            self.latest.verified
            and self.failed is None
            and all(
                e.report is not None
                and (e.report.verified or (e.report.failed and e.report.failed.id == "proof-found"))
                for e in self.epochs
            )
        )

    def to_json(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "verified": self.verified,
            "latest": self.latest.to_json(),
            "history": {
                "failed": None
                if failed is None
                else {"id": failed.id, "asset": failed.asset, "detail": failed.detail},
                "checks": [{"id": c.id, "ok": c.ok, "detail": c.detail} for c in self.checks],
            },
            "epochs": [
                {
                    "epoch": e.epoch,
                    "location": e.location,
                    "included": bool(e.report and e.report.verified),
                    "report": e.report.to_json() if e.report else None,
                }
                for e in self.epochs
            ],
        }


def verify_history(
    location: str,
    account_id: str,
    code: str,
    expect_key: str | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
    rpc_urls: Mapping[str, str] | None = None,
) -> HistoryReport:
    """Verify the client in every published epoch, and that the epochs form one history.

    The newest epoch is checked as by `verify_site` (with the remembered
    checkpoint); then every epoch listed in the signed log: its site is present
    under `epochs/<id>/`, its attestation is the log entry, included under the
    newest checkpoint, chained to the epoch before it, and the client's proof
    in it verifies (or it holds none for them: they may not have been a client).
    """
    latest = verify_site(location, account_id, code, expect_key, state, now, rpc_urls)
    result = HistoryReport(latest)
    checkpoint = latest.checkpoint
    if not latest.checks or (latest.failed is not None and checkpoint is None):
        return result
    assert checkpoint is not None
    root = SiteReader(location)
    record = result.checks.append
    try:
        manifest = _manifest_again(root, latest.key_fingerprint)
        data = _listed(root, manifest, layout.ENTRIES, "history-log")
        entries = checks.check_entries(data, checkpoint, layout.ENTRIES, "history-log")
        record(Check("history-log", True, f"the signed log lists {len(entries)} attestations"))
        base = root.location if root.location.endswith("/") else root.location + "/"
        previous: str | None = None
        for entry in final_entries(entries).values():
            newest = entry.index == checkpoint.size - 1
            prefix = "" if newest else layout.epoch_home(entry.epoch)
            relative = layout.inclusion_name(entry.index)
            proof = checks.parse_signed(
                _listed(root, manifest, relative, "history-inclusion"),
                parse_inclusion,
                "history-inclusion",
                relative,
            )
            if not checks.included(entry.attestation_sha256, entry.index, checkpoint, proof):
                raise VerificationError(
                    "history-inclusion",
                    f"epoch {entry.epoch}'s log entry is not under the signed checkpoint",
                )
            published = root.read(prefix + layout.ATTESTATION)
            attestation = checks.check_logged_attestation(entry, published, prefix or "./")
            checks.check_chain(attestation, previous)
            previous = entry.attestation_sha256
            where = root.location if newest else urllib.parse.urljoin(base, prefix)
            report = (
                latest if newest else verify_site(where, account_id, code, expect_key, None, now)
            )
            result.epochs.append(EpochResult(entry.epoch, where, report))
        record(Check("history-inclusion", True, "every epoch's attestation is in the signed log"))
        record(Check("history-epoch", True, "every epoch in the log is published and unchanged"))
        record(Check("history-chain", True, "every epoch chains to the one before it"))
    except VerificationError as exc:
        record(_failure(exc))
    except InputError as exc:
        record(Check("history-epoch", False, str(exc)))
    return result


def _manifest_again(root: SiteReader, fingerprint: str | None) -> Manifest:
    """The manifest verify_site checked, read again: its signature is checked again too."""
    data = root.need(layout.MANIFEST)
    key = checks.custodian_key(root.need(layout.PUBLIC_KEY), "history-log")
    signature = root.need(layout.sig(layout.MANIFEST))
    if _crypto.fingerprint(key) != fingerprint or not _crypto.ed25519_verify(key, signature, data):
        raise VerificationError("history-log", "the site changed while it was being checked")
    return checks.parse_signed(data, parse_manifest, "history-log", layout.MANIFEST)
