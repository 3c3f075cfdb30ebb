"""The Python verifier of one client's inclusion (docs/protocol.md section 9).

Every check has the id the protocol gives it, so the CLI, the browser page and
the test vectors all name the same failure. The root and total of an asset
only ever come from the signed attestation (T8); the client's leaf is always
rebuilt from their own account id, code and balance (T4).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import _crypto
from ..chains import verify_control
from ..errors import (
    AddressError,
    CodeError,
    FormatError,
    InputError,
    PathError,
    SignatureError,
    VerificationError,
)
from ..protocol.amounts import format_decimal
from ..protocol.bundle import Bundle, bundle_aad, decode_bundle, decode_shard
from ..protocol.codes import parse_code
from ..protocol.control import EpochContext, address_key, commingling_problems, key_id
from ..protocol.coverage import coverage_problems, percent
from ..protocol.hashing import account_commitment, dedicated_tag, epoch_keys, leaf_hash
from ..protocol.layout import shard_name
from ..protocol.models import (
    CLIENT_CATEGORIES,
    Attestation,
    Checkpoint,
    LogEntry,
    Manifest,
    ProofFile,
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
from ..protocol.transparency import leaf_hash as log_leaf_hash
from ..protocol.transparency import verify_consistency, verify_inclusion
from ..protocol.tree import fold_path
from .cosignatures import verify_cosignatures
from .fetch import SiteReader
from .state import ClientState


@dataclass(frozen=True)
class Check:
    id: str
    ok: bool
    detail: str
    asset: str | None = None


@dataclass(frozen=True)
class Balance:
    asset: str
    decimals: int
    amount: int

    @property
    def display(self) -> str:
        return format_decimal(self.amount, self.decimals)


@dataclass(frozen=True)
class ClientCoverage:
    """What the client sees about one of their assets: how well it is covered, and by what."""

    asset: str
    decimals: int
    segregated_percent: str | None
    including_third_party_percent: str | None
    covered: bool
    # The client's own client_dedicated wallets holding this asset, and what they hold.
    dedicated: tuple[tuple[str, str, int], ...] = ()
    dedicated_shortfall: int = 0


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

    @property
    def failed(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and self.failed is None

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
                }
                for b in self.balances
            ],
            "shortfall": self.shortfall,
            "next_due": self.next_due,
            "overdue": self.overdue,
            "warnings": self.warnings,
            "auditors": self.auditors,
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


class _Failed(Exception):
    """Stops a verification run at its first failing check (already recorded)."""


class _Run:
    def __init__(self) -> None:
        self.report = Report()

    def ok(self, check: str, detail: str, asset: str | None = None) -> None:
        self.report.checks.append(Check(check, True, detail, asset))

    def fail(self, check: str, detail: str, asset: str | None = None) -> _Failed:
        self.report.checks.append(Check(check, False, detail, asset))
        return _Failed()


def _parse_code(run: _Run, code: str) -> bytes:
    try:
        secret = parse_code(code)
    except CodeError as exc:
        raise run.fail("code", str(exc)) from exc
    run.ok("code", "the code is well formed and its checksum matches")
    return secret


def _check_attestation(
    run: _Run, data: bytes, signature: bytes, public_pem: bytes, expect_key: str | None
) -> tuple[Attestation, _crypto.Ed25519PublicKey]:
    try:
        key = _crypto.load_public_key_pem(public_pem)
    except (TypeError, ValueError) as exc:
        raise run.fail(
            "attestation-signature", "custodian.pub.pem is not an Ed25519 public key"
        ) from exc
    run.report.key_fingerprint = _crypto.fingerprint(key)
    if not _crypto.ed25519_verify(key, signature, data):
        raise run.fail(
            "attestation-signature",
            "the attestation's signature does not verify under the custodian's key: "
            "the attestation or signature was altered",
        )
    run.ok("attestation-signature", "the attestation is signed by the custodian key")
    if expect_key is not None:
        wanted = expect_key.replace(" ", "").replace(":", "").replace("-", "").lower()
        if not _crypto.constant_time_equal(wanted.encode(), run.report.key_fingerprint.encode()):
            raise run.fail(
                "key-pin",
                f"the custodian key {run.report.key_fingerprint} is not the one you expected "
                f"({wanted}): do not trust this site",
            )
        run.ok("key-pin", "the custodian key matches the fingerprint you pinned")
    try:
        attestation = parse_attestation(data)
    except FormatError as exc:
        raise run.fail("format", f"attestation.json is malformed: {exc}") from exc
    run.report.epoch = attestation.epoch_id
    run.report.custodian = {
        "name": attestation.custodian.name,
        "legal_entity": attestation.custodian.legal_entity,
    }
    run.ok("format", f"attestation format {attestation.format}, epoch {attestation.epoch_id}")
    return attestation, key


def _check_reserves(run: _Run, attestation: Attestation) -> None:
    """Everything about the reserves a verifier can check from the signed attestation (T11)."""
    reserves = attestation.reserves
    run.report.shortfall = reserves.shortfall
    fingerprint = run.report.key_fingerprint or ""
    context = EpochContext(
        custodian=attestation.custodian.name,
        fingerprint=fingerprint,
        epoch=attestation.epoch_id,
        liabilities_sha256=liabilities_sha256(attestation.assets),
        assets=attestation.assets,
    )
    identities: list[tuple[str, str, str, str | None]] = []
    proven = 0
    for wallet in reserves.wallets:
        chain = reserves.chain(wallet.chain)
        assert chain is not None  # parse_reserves guarantees it
        where = f"{wallet.chain} {wallet.address} ({wallet.category})"
        public_key: bytes | None = None
        if not wallet.proof.proven:
            if wallet.category in CLIENT_CATEGORIES:
                raise run.fail(
                    "reserves-control",
                    f"{where} counts for clients but has no proof of control",
                )
        else:
            assert wallet.proof.signature is not None
            message = context.message(wallet, wallet.category, wallet.client_tag)
            try:
                public_key = verify_control(
                    chain, wallet.address, wallet.proof.type, wallet.proof.signature, message
                )
            except (SignatureError, AddressError) as exc:
                raise run.fail(
                    "reserves-control",
                    f"{where}: the proof of control does not verify for this custodian, epoch, "
                    f"liabilities, address and category: {exc}",
                ) from exc
            published = wallet.proof.public_key
            if public_key is not None and public_key.hex() != published:
                raise run.fail(
                    "reserves-control",
                    f"{where}: the published public key is not the key that signed",
                )
            proven += 1
        identities.append(
            (where, wallet.category, address_key(chain, wallet.address), key_id(chain, public_key))
        )
    run.ok("reserves-control", f"all {proven} wallet signatures prove control for this epoch")
    mixed = commingling_problems(identities)
    if mixed:
        raise run.fail("reserves-commingling", "; ".join(mixed))
    run.ok("reserves-commingling", "no address or key is in two categories")
    for row in reserves.coverage:
        problems = coverage_problems(row, reserves.wallets)
        if problems:
            raise run.fail("reserves-coverage", "; ".join(problems), row.asset)
    run.ok("reserves-coverage", "the signed coverage figures add up from the listed wallets")


def _client_coverage(run: _Run, attestation: Attestation, secret: bytes, account_id: str) -> None:
    """Coverage of each of the client's assets, and the client's own dedicated wallets."""
    nonce = epoch_keys(secret, attestation.epoch_id).nonce
    mine = [
        w
        for w in attestation.reserves.wallets
        if w.client_tag is not None
        and _crypto.constant_time_equal(
            w.client_tag,
            dedicated_tag(attestation.epoch_id, nonce, account_id, w.chain, w.address),
        )
    ]
    for balance in run.report.balances:
        row = attestation.reserves.asset_coverage(balance.asset)
        if row is None:
            continue
        dedicated = tuple(
            (w.chain, w.address, w.amount(balance.asset))
            for w in mine
            if any(h.asset == balance.asset for h in w.holdings)
        )
        held = sum(amount for _, _, amount in dedicated)
        run.report.coverage.append(
            ClientCoverage(
                asset=balance.asset,
                decimals=balance.decimals,
                segregated_percent=percent(row.segregated, row.liabilities),
                including_third_party_percent=percent(
                    row.segregated + row.third_party, row.liabilities
                ),
                covered=row.covered,
                dedicated=dedicated,
                dedicated_shortfall=max(balance.amount - held, 0) if dedicated else 0,
            )
        )


def _open_bundle(
    run: _Run, attestation: Attestation, secret: bytes, lookup: bytes, entry: bytes | None
) -> Bundle:
    epoch = attestation.epoch_id
    if entry is None:
        raise run.fail(
            "proof-found",
            "there is no proof for this account id and code in this epoch: check both for typos; "
            "if they are right, you were left out of the published proof",
        )
    run.ok("proof-found", "a proof for your code is published")
    keys = epoch_keys(secret, epoch)
    try:
        plaintext = _crypto.aes_gcm_decrypt(keys.key, entry, bundle_aad(epoch, lookup))
    except _crypto.InvalidTag as exc:
        raise run.fail(
            "decrypt", "your proof does not decrypt with your code: it was altered"
        ) from exc
    run.ok("decrypt", "your proof decrypts with your code (AES-256-GCM)")
    try:
        bundle = decode_bundle(plaintext)
    except FormatError as exc:
        raise run.fail("bundle-format", f"your proof is malformed: {exc}") from exc
    run.ok("bundle-format", "your proof is well formed")
    return bundle


def _check_bundle(
    run: _Run, attestation: Attestation, secret: bytes, account_id: str, bundle: Bundle
) -> None:
    epoch = attestation.epoch_id
    if bundle.epoch != epoch:
        raise run.fail(
            "bundle-epoch",
            f"your proof is for epoch {bundle.epoch!r}, the attestation for {epoch!r}: "
            "a replayed proof",
        )
    run.ok("bundle-epoch", f"your proof is for epoch {epoch}")
    if bundle.account_id != account_id:
        raise run.fail("bundle-account", "your proof is for a different account id")
    run.ok("bundle-account", "your proof is for your account id")
    commitment = account_commitment(epoch, epoch_keys(secret, epoch).nonce, account_id)
    balances = []
    for asset_proof in bundle.assets:
        code = asset_proof.asset
        signed = attestation.asset(code)
        if signed is None:
            raise run.fail("asset-known", f"{code} is not in the signed attestation", code)
        run.ok("asset-known", f"{code} is in the signed attestation", code)
        seen: set[int] = set()
        root_ok = total_ok = True
        for leaf in asset_proof.leaves:
            if leaf.index in seen:
                raise run.fail(
                    "index-range", f"two of your {code} leaves claim index {leaf.index}", code
                )
            seen.add(leaf.index)
            rebuilt = leaf_hash(epoch, code, commitment, leaf.part, leaf.amount)
            try:
                root, total = fold_path(
                    rebuilt, leaf.amount, leaf.index, list(leaf.siblings), signed.padded_height
                )
            except PathError as exc:
                raise run.fail(exc.check, f"{code}: {exc}", code) from exc
            root_ok = root_ok and _crypto.constant_time_equal(root, signed.root)
            total_ok = total_ok and total == signed.total
        run.ok(
            "path-height", f"every {code} path has the signed height {signed.padded_height}", code
        )
        run.ok("index-range", f"every {code} leaf index is inside the tree", code)
        run.ok("sum-range", f"every {code} sum is within [0, 2^128-1]", code)
        if not root_ok:
            raise run.fail(
                "root-hash",
                f"the path does not lead to the signed root of {code}: "
                "the proof was altered or you are not included",
                code,
            )
        run.ok("root-hash", f"your {code} balance is included under the signed root", code)
        if not total_ok:
            raise run.fail(
                "root-total",
                f"the path's sums do not add up to the signed {code} total: "
                "the total was understated",
                code,
            )
        run.ok("root-total", f"the sums along your {code} path add up to the signed total", code)
        balances.append(Balance(code, signed.decimals, asset_proof.balance))
    run.report.balances = balances


def verify_proof(
    proof: ProofFile, account_id: str, code: str, expect_key: str | None = None
) -> Report:
    """Verify a downloaded proof file offline."""
    run = _Run()
    try:
        secret = _parse_code(run, code)
        attestation, _ = _check_attestation(
            run, proof.attestation, proof.attestation_sig, proof.public_key_pem, expect_key
        )
        _check_reserves(run, attestation)
        keys = epoch_keys(secret, attestation.epoch_id)
        entry = proof.entry if _crypto.constant_time_equal(keys.lookup, proof.lookup) else None
        bundle = _open_bundle(run, attestation, secret, keys.lookup, entry)
        _check_bundle(run, attestation, secret, account_id, bundle)
        _client_coverage(run, attestation, secret, account_id)
    except _Failed:
        pass
    run.report.proof = proof
    return run.report


def _check_manifest(
    run: _Run,
    key: _crypto.Ed25519PublicKey,
    manifest_data: bytes,
    manifest_sig: bytes,
    attestation_data: bytes,
) -> Manifest:
    if not _crypto.ed25519_verify(key, manifest_sig, manifest_data):
        raise run.fail("manifest-signature", "manifest.json is not signed by the custodian key")
    run.ok("manifest-signature", "the file manifest is signed by the custodian key")
    try:
        manifest = parse_manifest(manifest_data)
    except FormatError as exc:
        raise run.fail("manifest-signature", f"manifest.json is malformed: {exc}") from exc
    if manifest.attestation_sha256 != _crypto.sha256_hex(attestation_data):
        raise run.fail("manifest-attestation", "the manifest is for a different attestation")
    run.ok("manifest-attestation", "the manifest is for this attestation")
    return manifest


def check_signed_site(
    site: SiteReader, expect_key: str | None = None
) -> tuple[bytes, Attestation, str, Manifest]:
    """The custodian's signatures on a site, without a client: (attestation bytes, attestation,
    key fingerprint, manifest). The same checks as `verify_site`; VerificationError names the
    first that fails."""
    attestation_data = site.need("attestation.json")
    run = _Run()
    try:
        attestation, key = _check_attestation(
            run,
            attestation_data,
            site.need("attestation.json.sig"),
            site.need("custodian.pub.pem"),
            expect_key,
        )
        manifest = _check_manifest(
            run, key, site.need("manifest.json"), site.need("manifest.json.sig"), attestation_data
        )
    except _Failed:
        failed = run.report.failed
        assert failed is not None
        raise VerificationError(failed.id, failed.detail) from None
    return attestation_data, attestation, run.report.key_fingerprint or "", manifest


def _check_freshness(run: _Run, attestation: Attestation, now: datetime | None) -> None:
    """A freeze attack shows an old attestation forever: say so once the next is overdue (T9)."""
    run.report.next_due = attestation.next_due
    if attestation.next_due is None:
        return
    due = datetime.strptime(attestation.next_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if (now or datetime.now(UTC)) > due:
        run.report.overdue = True
        run.report.warnings.append(
            f"overdue: the custodian said the next attestation would be published by "
            f"{attestation.next_due}, and this is still the latest one it shows; it may have "
            "stopped publishing, or this site may be showing you an old copy"
        )


def _manifest_file(
    run: _Run, site: SiteReader, manifest: Manifest, relative: str, check: str
) -> bytes:
    """A file of the site, checked against the signed manifest before it is read."""
    expected = manifest.files.get(relative)
    data = site.read(relative)
    if expected is None or data is None:
        raise run.fail(check, f"{relative} is missing from the site or from its signed manifest")
    if _crypto.sha256_hex(data) != expected:
        raise run.fail(check, f"{relative} does not match the signed manifest: it was altered")
    return data


def _check_log(
    run: _Run,
    site: SiteReader,
    manifest: Manifest,
    key: _crypto.Ed25519PublicKey,
    attestation_data: bytes,
    state: ClientState | None,
) -> Checkpoint:
    """The attestation is the newest entry of the signed log, and the log only grew (T8)."""
    data = _manifest_file(run, site, manifest, "log/checkpoint.json", "log-checkpoint")
    sig = _manifest_file(run, site, manifest, "log/checkpoint.json.sig", "log-checkpoint")
    if not _crypto.ed25519_verify(key, sig, data):
        raise run.fail("log-checkpoint", "the log checkpoint is not signed by the custodian key")
    try:
        checkpoint = parse_checkpoint(data)
    except FormatError as exc:
        raise run.fail("log-checkpoint", f"the log checkpoint is malformed: {exc}") from exc
    if checkpoint.log != run.report.key_fingerprint:
        raise run.fail("log-checkpoint", "the checkpoint names another log (another key)")
    run.report.checkpoint = checkpoint
    run.ok(
        "log-checkpoint",
        f"the log checkpoint (size {checkpoint.size}, {checkpoint.time}) is signed by the "
        "custodian",
    )
    digest = _crypto.sha256(attestation_data)
    relative = f"log/inclusion/{checkpoint.size - 1}.json"
    try:
        proof = parse_inclusion(_manifest_file(run, site, manifest, relative, "log-inclusion"))
    except FormatError as exc:
        raise run.fail("log-inclusion", f"{relative} is malformed: {exc}") from exc
    if (
        proof.index != checkpoint.size - 1
        or proof.tree_size != checkpoint.size
        or proof.attestation_sha256 != digest.hex()
        or not verify_inclusion(
            log_leaf_hash(digest), proof.index, proof.tree_size, proof.path, checkpoint.root
        )
    ):
        raise run.fail(
            "log-inclusion",
            "this attestation is not the newest entry of the signed log: it was rewritten, "
            "or the log was",
        )
    run.ok("log-inclusion", f"this attestation is entry {proof.index} of the signed log")
    if state is not None and _is_epoch_home(site.location):
        run.ok(
            "log-consistency",
            "an earlier epoch's own copy (epochs/<id>/): its log ends there, so it is not "
            "compared with the checkpoint you remember",
        )
    elif state is not None:
        _check_against_state(run, site, manifest, checkpoint, state)
    return checkpoint


def _is_epoch_home(location: str) -> bool:
    """An earlier epoch's permanent home, where a shorter log is expected, not a rollback."""
    path = urllib.parse.urlparse(location).path if "://" in location else location
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return len(parts) >= 2 and parts[-2] == "epochs"


def _check_against_state(
    run: _Run, site: SiteReader, manifest: Manifest, checkpoint: Checkpoint, state: ClientState
) -> None:
    seen = state.seen(checkpoint.log)
    if seen is None:
        run.ok(
            "log-consistency",
            "first visit: this checkpoint will be remembered if everything verifies",
        )
        return
    if seen.size > checkpoint.size:
        raise run.fail(
            "log-consistency",
            f"you saw this log at size {seen.size} before; now it has {checkpoint.size} entries: "
            "history was rewritten, or you are shown an old or forked copy",
        )
    if seen.size == checkpoint.size:
        if seen.root != checkpoint.root:
            raise run.fail(
                "log-consistency",
                f"you saw a different log of the same size ({seen.size}) before: the custodian "
                "shows different histories to different people (a fork)",
            )
        run.ok("log-consistency", f"the log is the one you saw before (size {seen.size})")
        return
    relative = f"log/consistency/{seen.size}.json"
    try:
        proof = parse_consistency(_manifest_file(run, site, manifest, relative, "log-consistency"))
    except FormatError as exc:
        raise run.fail("log-consistency", f"{relative} is malformed: {exc}") from exc
    if (proof.first, proof.second) != (seen.size, checkpoint.size) or not verify_consistency(
        seen.size, checkpoint.size, seen.root, checkpoint.root, proof.path
    ):
        raise run.fail(
            "log-consistency",
            f"the log is not an extension of the one you saw before (size {seen.size}): "
            "history was rewritten (or forked) since your last check",
        )
    run.ok(
        "log-consistency",
        f"the log only grew since your last check (size {seen.size} to {checkpoint.size})",
    )


def verify_site(
    location: str,
    account_id: str,
    code: str,
    expect_key: str | None = None,
    state: ClientState | None = None,
    now: datetime | None = None,
) -> Report:
    """Verify a client's inclusion against a published site (folder or URL).

    With `state`, the log checkpoint is checked against the one remembered from
    the last visit, and remembered for the next one when everything verifies.
    """
    site = SiteReader(location)
    attestation_data = site.need("attestation.json")
    signature = site.need("attestation.json.sig")
    public_pem = site.need("custodian.pub.pem")
    manifest_data = site.need("manifest.json")
    manifest_sig = site.need("manifest.json.sig")
    run = _Run()
    try:
        secret = _parse_code(run, code)
        attestation, key = _check_attestation(
            run, attestation_data, signature, public_pem, expect_key
        )
        check_auditors(run, site, attestation_data)
        manifest = _check_manifest(run, key, manifest_data, manifest_sig, attestation_data)
        checkpoint = _check_log(run, site, manifest, key, attestation_data, state)
        _check_freshness(run, attestation, now)
        _check_reserves(run, attestation)
        keys = epoch_keys(secret, attestation.epoch_id)
        shard_path = shard_name(keys.lookup.hex()[: manifest.shard_prefix_chars])
        expected = manifest.files.get(shard_path)
        entry = None
        if expected is not None:
            shard = site.need(shard_path)
            if _crypto.sha256_hex(shard) != expected:
                raise run.fail(
                    "shard-hash", f"{shard_path} does not match the signed manifest: it was altered"
                )
            run.ok("shard-hash", f"{shard_path} matches the signed manifest")
            try:
                entry = decode_shard(shard).get(keys.lookup)
            except FormatError as exc:
                raise run.fail("shard-hash", f"{shard_path} is malformed: {exc}") from exc
        bundle = _open_bundle(run, attestation, secret, keys.lookup, entry)
        run.report.proof = ProofFile(
            attestation_data, signature, public_pem, keys.lookup, entry or b""
        )
        _check_bundle(run, attestation, secret, account_id, bundle)
        _client_coverage(run, attestation, secret, account_id)
        if state is not None and not _is_epoch_home(location):
            state.remember(checkpoint)
    except _Failed:
        pass
    return run.report


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
) -> HistoryReport:
    """Verify the client in every published epoch, and that the epochs form one history.

    The newest epoch is checked as by `verify_site` (with the remembered
    checkpoint); then every epoch listed in the signed log: its site is present
    under `epochs/<id>/`, its attestation is the log entry, included under the
    newest checkpoint, chained to the epoch before it, and the client's proof
    in it verifies (or it holds none for them: they may not have been a client).
    """
    latest = verify_site(location, account_id, code, expect_key, state, now)
    result = HistoryReport(latest)
    checkpoint = latest.checkpoint
    if not latest.checks or (latest.failed is not None and checkpoint is None):
        return result
    assert checkpoint is not None
    root = SiteReader(location)
    run = _Run()
    try:
        # The manifest verify_site checked, read again: check its signature again too.
        manifest_data = root.need("manifest.json")
        key = _crypto.load_public_key_pem(root.need("custodian.pub.pem"))
        if _crypto.fingerprint(key) != latest.key_fingerprint or not _crypto.ed25519_verify(
            key, root.need("manifest.json.sig"), manifest_data
        ):
            raise run.fail("history-log", "the site changed while it was being checked")
        manifest = parse_manifest(manifest_data)
        data = _manifest_file(run, root, manifest, "log/entries.json", "history-log")
        try:
            entries = parse_entries(data)
        except FormatError as exc:
            raise run.fail("history-log", f"log/entries.json is malformed: {exc}") from exc
        if len(entries) != checkpoint.size:
            raise run.fail(
                "history-log",
                f"the log lists {len(entries)} entries but its checkpoint says {checkpoint.size}",
            )
        run.ok("history-log", f"the signed log lists {len(entries)} attestations")
        finals: dict[str, LogEntry] = {}
        for entry in entries:
            finals.pop(entry.epoch, None)
            finals[entry.epoch] = entry
        previous: str | None = None
        for entry in finals.values():
            newest = entry.index == checkpoint.size - 1
            where = (
                root.location
                if newest
                else urllib.parse.urljoin(
                    root.location if root.location.endswith("/") else root.location + "/",
                    f"epochs/{entry.epoch}/",
                )
            )
            relative = f"log/inclusion/{entry.index}.json"
            try:
                proof = parse_inclusion(
                    _manifest_file(run, root, manifest, relative, "history-inclusion")
                )
            except FormatError as exc:
                raise run.fail("history-inclusion", f"{relative} is malformed: {exc}") from exc
            if proof.attestation_sha256 != entry.attestation_sha256 or not verify_inclusion(
                log_leaf_hash(bytes.fromhex(entry.attestation_sha256)),
                entry.index,
                checkpoint.size,
                proof.path,
                checkpoint.root,
            ):
                raise run.fail(
                    "history-inclusion",
                    f"epoch {entry.epoch}'s log entry is not under the signed checkpoint",
                )
            prefix = "" if newest else f"epochs/{entry.epoch}/"
            published = root.read(prefix + "attestation.json")
            if published is None:
                raise run.fail(
                    "history-epoch",
                    f"epoch {entry.epoch} is in the signed log but its site ({prefix or './'}) "
                    "was removed",
                )
            if _crypto.sha256_hex(published) != entry.attestation_sha256:
                raise run.fail(
                    "history-epoch",
                    f"the published attestation of epoch {entry.epoch} is not the one in the "
                    "signed log: it was rewritten",
                )
            try:
                attestation = parse_attestation(published)
            except FormatError as exc:
                raise run.fail(
                    "history-epoch", f"epoch {entry.epoch}'s attestation is malformed: {exc}"
                ) from exc
            if attestation.previous_attestation_sha256 != previous:
                raise run.fail(
                    "history-chain",
                    f"epoch {entry.epoch} does not chain to the epoch published before it",
                )
            previous = entry.attestation_sha256
            report = (
                latest if newest else verify_site(where, account_id, code, expect_key, None, now)
            )
            result.epochs.append(EpochResult(entry.epoch, where, report))
        run.ok("history-inclusion", "every epoch's attestation is in the signed log")
        run.ok("history-epoch", "every epoch in the log is published and unchanged")
        run.ok("history-chain", "every epoch chains to the one before it")
    except _Failed:
        pass
    except InputError as exc:
        run.fail("history-epoch", str(exc))
    result.checks = run.report.checks
    return result


def check_auditors(run: _Run, site: SiteReader, attestation_data: bytes) -> None:
    """Auditors' co-signatures of this attestation (section 14): every listed one must verify.

    No `auditors/index.json` means no auditor co-signed, and no check. A name is the
    auditor's own claim; the key fingerprint is what to compare with the auditor's.
    """
    checks = verify_cosignatures(site, attestation_data)
    run.report.auditors = [c.to_json() for c in checks]
    for c in checks:
        if not c.ok:
            raise run.fail("auditor-signature", c.detail)
    if checks:
        run.ok(
            "auditor-signature",
            f"co-signed by {len(checks)} auditor key(s): "
            + "; ".join(f"{c.name!r} {c.fingerprint}" for c in checks)
            + " (names are the auditors' own claims: compare the fingerprints with theirs)",
        )
