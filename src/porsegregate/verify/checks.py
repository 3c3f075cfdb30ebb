"""Every check of docs/protocol.md sections 9 and 13, written once, as pure functions.

A check function takes what it checks (bytes already read, documents already
parsed) and returns what it established, or raises VerificationError naming
the check (its id, the asset where there is one, and a detail a person can
act on). A function that establishes several things tells `record` of each
check that passed, in order. Nothing here reads a file or the network: the
client's driver (client.py) stops at the first failure, the auditor's
(audit/) runs every check it can and collects each failure.

The root and total of an asset only ever come from the signed attestation
(T8); the client's leaf is always rebuilt from their own account id, code and
balance (T4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from .. import _crypto
from ..chains import ChainReading, verify_control, wallet_identity
from ..errors import (
    AddressError,
    CodeError,
    FormatError,
    PathError,
    SignatureError,
    VerificationError,
)
from ..protocol import layout
from ..protocol.amounts import MAX_AMOUNT, format_decimal
from ..protocol.bundle import (
    Bundle,
    ShardV2,
    asset_order_problem,
    bundle_aad,
    decode_bundle,
    decode_shard,
    decode_shard_v2,
)
from ..protocol.codes import parse_code
from ..protocol.control import (
    EpochContext,
    address_key,
    commingling_problems,
    counted_twice_problems,
    key_id,
    shared_network_problems,
)
from ..protocol.coverage import coverage_problems, percent
from ..protocol.hashing import (
    EpochKeys,
    account_commitment,
    dedicated_tag,
    epoch_keys,
    leaf_hash,
)
from ..protocol.layout import TIME_FORMAT, parse_time, witness_cosignature_name
from ..protocol.legal import legal_changes, wallet_holder_problems
from ..protocol.models import (
    CLIENT_CATEGORIES,
    Attestation,
    Checkpoint,
    ConsistencyProof,
    Document,
    InclusionProof,
    LogEntry,
    Manifest,
    Reserves,
    Witness,
)
from ..protocol.serialization import (
    liabilities_sha256,
    parse_attestation,
    parse_checkpoint,
    parse_entries,
    parse_manifest,
)
from ..protocol.transparency import leaf_hash as log_leaf_hash
from ..protocol.transparency import verify_consistency, verify_inclusion
from ..protocol.tree import fold_path
from ..protocol.witness import (
    COSIGNATURE_V1,
    ED25519,
    MAX_TIMESTAMP,
    checkpoint_body,
    cosigned_message,
    origin,
    parse_note,
)
from ..protocol.witness import key_id as note_key_id


@dataclass(frozen=True)
class Check:
    """One check's result: what the CLI prints, `--json` lists and the vectors name."""

    id: str
    ok: bool
    detail: str
    asset: str | None = None


Record = Callable[[Check], None]
T = TypeVar("T")


def ignore(check: Check) -> None:
    """A `record` for a caller that wants only the failures (the auditor's)."""


def _passed(record: Record, check: str, detail: str, asset: str | None = None) -> None:
    record(Check(check, True, detail, asset))


@dataclass(frozen=True)
class Balance:
    asset: str
    decimals: int
    amount: int
    parts: int = 1  # porsegregate/2 with [privacy] split: leaves the amount was proven in

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


# -- the client's code ---------------------------------------------------------------------------


def client_secret(code: str, record: Record) -> bytes:
    try:
        secret = parse_code(code)
    except CodeError as exc:
        raise VerificationError("code", str(exc)) from exc
    _passed(record, "code", "the code is well formed and its checksum matches")
    return secret


# -- signatures, the attestation and the manifest ----------------------------------------------


def custodian_key(
    public_pem: bytes, check: str = "attestation-signature"
) -> _crypto.Ed25519PublicKey:
    try:
        return _crypto.load_public_key_pem(public_pem)
    except (TypeError, ValueError) as exc:
        raise VerificationError(check, "custodian.pub.pem is not an Ed25519 public key") from exc


def check_attestation(
    key: _crypto.Ed25519PublicKey,
    data: bytes,
    signature: bytes,
    expect_key: str | None,
    record: Record,
) -> Attestation:
    """The custodian signed these attestation bytes, with the pinned key, in the protocol's form."""
    if not _crypto.ed25519_verify(key, signature, data):
        raise VerificationError(
            "attestation-signature",
            "the attestation's signature does not verify under the custodian's key: "
            "the attestation or signature was altered",
        )
    _passed(record, "attestation-signature", "the attestation is signed by the custodian key")
    if expect_key is not None:
        check_key_pin(_crypto.fingerprint(key), expect_key, record)
    attestation = parse_signed(data, parse_attestation, "format", "attestation.json")
    _passed(
        record, "format", f"attestation format {attestation.format}, epoch {attestation.epoch_id}"
    )
    return attestation


def check_key_pin(fingerprint: str, expect_key: str, record: Record) -> None:
    wanted = expect_key.replace(" ", "").replace(":", "").replace("-", "").lower()
    if not _crypto.constant_time_equal(wanted.encode(), fingerprint.encode()):
        raise VerificationError(
            "key-pin",
            f"the custodian key {fingerprint} is not the one you expected ({wanted}): "
            "do not trust this site",
        )
    _passed(record, "key-pin", "the custodian key matches the fingerprint you pinned")


def parse_signed(data: bytes, parse: Callable[[bytes], T], check: str, name: str) -> T:
    """A signed document parsed; a malformed one fails `check`, naming the file."""
    try:
        return parse(data)
    except FormatError as exc:
        raise VerificationError(check, f"{name} is malformed: {exc}") from exc


def check_manifest(
    key: _crypto.Ed25519PublicKey,
    data: bytes,
    signature: bytes,
    attestation_data: bytes,
    attestation: Attestation,
    record: Record,
) -> Manifest:
    """The custodian signed the file manifest, and it is the manifest of this attestation."""
    if not _crypto.ed25519_verify(key, signature, data):
        raise VerificationError(
            "manifest-signature", "manifest.json is not signed by the custodian key"
        )
    _passed(record, "manifest-signature", "the file manifest is signed by the custodian key")
    manifest = parse_signed(data, parse_manifest, "manifest-signature", "manifest.json")
    check_manifest_names(manifest, attestation_data, attestation, "the manifest")
    _passed(record, "manifest-attestation", "the manifest is for this attestation")
    return manifest


def check_manifest_names(
    manifest: Manifest, attestation_data: bytes, attestation: Attestation | None, name: str
) -> None:
    """The manifest names this attestation: its SHA-256 (as `attestation_sha256` and, when it
    lists the file, as `files["attestation.json"]`), its format and its epoch
    (manifest-attestation)."""
    digest = _crypto.sha256_hex(attestation_data)
    if manifest.attestation_sha256 != digest:
        raise VerificationError("manifest-attestation", f"{name} is for a different attestation")
    if manifest.files.get(layout.ATTESTATION) != digest:
        raise VerificationError(
            "manifest-attestation", f"{name} lists another attestation.json than it names"
        )
    if attestation is not None and manifest.format != attestation.format:
        raise VerificationError(
            "manifest-attestation",
            f"{name} is of format {manifest.format}, its attestation of {attestation.format}",
        )
    if attestation is not None and manifest.epoch_id != attestation.epoch_id:
        raise VerificationError(
            "manifest-attestation",
            f"{name} is for epoch {manifest.epoch_id!r}, its attestation for "
            f"{attestation.epoch_id!r}",
        )


def listed_file(manifest: Manifest, relative: str, data: bytes | None, check: str) -> bytes:
    """A file of the site that the signed manifest lists, with the bytes it lists (T12)."""
    expected = manifest.files.get(relative)
    if expected is None or data is None:
        raise VerificationError(
            check, f"{relative} is missing from the site or from its signed manifest"
        )
    if _crypto.sha256_hex(data) != expected:
        raise VerificationError(
            check, f"{relative} does not match the signed manifest: it was altered"
        )
    return data


# -- the transparency log (section 13) ----------------------------------------------------------


def check_checkpoint(
    key: _crypto.Ed25519PublicKey,
    fingerprint: str,
    data: bytes,
    signature: bytes,
    name: str = "the log checkpoint",
    check: str = "log-checkpoint",
) -> Checkpoint:
    """A checkpoint the custodian signed, of the custodian's own log."""
    if not _crypto.ed25519_verify(key, signature, data):
        raise VerificationError(check, f"{name} is not signed by the custodian key")
    checkpoint = parse_signed(data, parse_checkpoint, check, name)
    if checkpoint.log != fingerprint:
        raise VerificationError(check, f"{name} names another log (another key)")
    return checkpoint


def check_checkpoint_epoch(checkpoint: Checkpoint, epoch: str) -> None:
    """The checkpoint is of the log whose newest entry is this attestation: its epoch is the
    attestation's (log-checkpoint; log-inclusion then checks the entry itself)."""
    if checkpoint.epoch != epoch:
        raise VerificationError(
            "log-checkpoint",
            f"the log checkpoint is of epoch {checkpoint.epoch!r}, the attestation of {epoch!r}",
        )


def check_entries(data: bytes, checkpoint: Checkpoint, name: str, check: str) -> list[LogEntry]:
    """The log's entries, as many as its signed checkpoint says."""
    entries = parse_signed(data, parse_entries, check, name)
    check_entry_count(entries, checkpoint, name, check)
    return entries


def check_entry_count(
    entries: Sequence[LogEntry], checkpoint: Checkpoint, name: str, check: str
) -> None:
    if len(entries) != checkpoint.size:
        raise VerificationError(
            check,
            f"{name} lists {len(entries)} entries but the checkpoint says {checkpoint.size}",
        )


def included(
    attestation_sha256: str, index: int, checkpoint: Checkpoint, proof: InclusionProof
) -> bool:
    """The attestation is entry `index` of the log the checkpoint signs (RFC 9162 2.1.3.2)."""
    return (
        proof.index == index
        and proof.tree_size == checkpoint.size
        and proof.attestation_sha256 == attestation_sha256
        and verify_inclusion(
            log_leaf_hash(bytes.fromhex(attestation_sha256)),
            index,
            checkpoint.size,
            proof.path,
            checkpoint.root,
        )
    )


def check_newest_entry(
    attestation_data: bytes, checkpoint: Checkpoint, proof: InclusionProof, record: Record
) -> None:
    if not included(_crypto.sha256_hex(attestation_data), checkpoint.size - 1, checkpoint, proof):
        raise VerificationError(
            "log-inclusion",
            "this attestation is not the newest entry of the signed log: it was rewritten, "
            "or the log was",
        )
    _passed(record, "log-inclusion", f"this attestation is entry {proof.index} of the signed log")


def extends(
    first_size: int, first_root: bytes, second: Checkpoint, proof: ConsistencyProof
) -> bool:
    """The signed log is an append-only extension of an earlier one (RFC 9162 2.1.4.2)."""
    return (proof.first, proof.second) == (first_size, second.size) and verify_consistency(
        first_size, second.size, first_root, second.root, proof.path
    )


def remembered_log(seen_size: int, seen_root: bytes, checkpoint: Checkpoint, check: str) -> bool:
    """What a remembered checkpoint says of this one: raises on a rollback or a fork; True
    when the log grew, so that a consistency proof from the remembered size must verify."""
    if seen_size > checkpoint.size:
        raise VerificationError(
            check,
            f"you saw this log at size {seen_size} before; now it has {checkpoint.size} "
            "entries: history was rewritten, or you are shown an old or forked copy",
        )
    if seen_size == checkpoint.size and seen_root != checkpoint.root:
        raise VerificationError(
            check,
            f"you saw a different log of the same size ({seen_size}) before: the custodian "
            "shows different histories to different people (a fork)",
        )
    return seen_size < checkpoint.size


def not_extended(seen_size: int, check: str) -> VerificationError:
    return VerificationError(
        check,
        f"the log is not an extension of the one you saw before (size {seen_size}): "
        "history was rewritten (or forked) since your last check",
    )


@dataclass(frozen=True)
class WitnessCosignature:
    """One named witness's co-signature of a checkpoint, checked: counted only if `ok`."""

    name: str
    fingerprint: str  # SHA-256 of the witness's raw Ed25519 key
    ok: bool
    detail: str  # why it is not counted, or when it was made
    timestamp: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "ok": self.ok,
            "detail": self.detail,
            "timestamp": self.timestamp,
        }


def check_checkpoint_note(
    key: _crypto.Ed25519PublicKey, checkpoint: Checkpoint, data: bytes | None
) -> bytes:
    """log/checkpoint.note is the signed checkpoint as a C2SP note signed by the custodian
    key (key name: the origin); returns its body, which the witnesses co-sign."""
    check, name = "log-witnesses", "log/checkpoint.note"
    if data is None:
        raise VerificationError(check, f"{name} is missing")
    try:
        note = parse_note(data)
    except FormatError as exc:
        raise VerificationError(check, f"{name} is not a signed note: {exc}") from None
    body = checkpoint_body(checkpoint)
    if note.body != body:
        raise VerificationError(check, f"{name} is not the signed checkpoint (size, root, log)")
    log_name = origin(checkpoint.log)
    kid = note_key_id(log_name, ED25519, _crypto.raw_public_key(key))
    mine = [sig for signer, sig in note.signatures if signer == log_name and sig[:4] == kid]
    if not mine or not all(_crypto.ed25519_verify(key, sig[4:], body) for sig in mine):
        raise VerificationError(check, f"{name} is not signed by the custodian key")
    return body


def witness_cosignature(witness: Witness, body: bytes, data: bytes | None) -> WitnessCosignature:
    """A witness's co-signed note (C2SP tlog-cosignature, cosignature/v1) over `body`."""
    fp = _crypto.sha256_hex(witness.key)

    def bad(detail: str) -> WitnessCosignature:
        return WitnessCosignature(witness.name, fp, False, detail)

    if data is None:
        return bad("no co-signature published")
    try:
        note = parse_note(data)
    except FormatError as exc:
        return bad(f"not a signed note: {exc}")
    if note.body != body:
        return bad("its co-signature is of another checkpoint")
    kid = note_key_id(witness.name, COSIGNATURE_V1, witness.key)
    lines = [sig for signer, sig in note.signatures if signer == witness.name and sig[:4] == kid]
    if not lines:
        return bad("no signature line by this witness's key")
    key = _crypto.ed25519_public_key(witness.key)
    for payload in lines:
        timestamp = int.from_bytes(payload[4:12], "big")
        if (
            len(payload) != 4 + 8 + 64
            or timestamp > MAX_TIMESTAMP
            or not _crypto.ed25519_verify(key, payload[12:], cosigned_message(body, timestamp))
        ):
            return bad("its cosignature does not verify")
    timestamp = int.from_bytes(lines[0][4:12], "big")
    when = datetime.fromtimestamp(min(timestamp, 253402300799), UTC).strftime(TIME_FORMAT)
    return WitnessCosignature(witness.name, fp, True, f"co-signed at {when}", timestamp)


def witness_cosignatures(
    attestation: Attestation,
    checkpoint: Checkpoint,
    body: bytes,
    read: Callable[[str], bytes | None],
) -> list[WitnessCosignature]:
    """Every witness the attestation names, and whether its co-signature of this checkpoint
    counts. `read` gives a witness's file (layout.witness_cosignature_name) or None."""
    return [
        witness_cosignature(
            w, body, read(witness_cosignature_name(checkpoint.size, _crypto.sha256_hex(w.key)))
        )
        for w in attestation.witnesses.keys
    ]


def check_witnesses(
    attestation: Attestation, checkpoint: Checkpoint, results: Sequence[WitnessCosignature]
) -> None:
    """`log-witnesses`: at least the attestation's threshold of its witnesses co-signed."""
    policy = attestation.witnesses
    signed = [r for r in results if r.ok]
    if len(signed) < policy.threshold:
        raise VerificationError(
            "log-witnesses",
            f"the log checkpoint (size {checkpoint.size}) is co-signed by {len(signed)} of the "
            f"{policy.threshold} witnesses the attestation requires; "
            + "; ".join(f"{r.name}: {r.detail}" for r in results)
            + ". A checkpoint the witnesses did not co-sign may be a history shown only to you "
            "(a split view)",
        )


def witnesses_summary(attestation: Attestation, results: Sequence[WitnessCosignature]) -> str:
    if not attestation.witnesses.keys:
        return (
            "the attestation names no witnesses: nothing shows that everyone is shown this "
            "same log (only a client who remembers an earlier checkpoint notices a fork)"
        )
    signed = [r for r in results if r.ok]
    return (
        f"co-signed by {len(signed)} of {len(results)} witnesses (at least "
        f"{attestation.witnesses.threshold} required): "
        + ", ".join(f"{r.name} ({r.detail})" for r in signed)
    )


def check_logged_attestation(entry: LogEntry, data: bytes | None, where: str) -> Attestation:
    """An epoch's published attestation is the one in the signed log (history-epoch)."""
    if data is None:
        raise VerificationError(
            "history-epoch",
            f"epoch {entry.epoch} is in the signed log but its site ({where}) is missing: "
            "it was removed",
        )
    if _crypto.sha256_hex(data) != entry.attestation_sha256:
        raise VerificationError(
            "history-epoch",
            f"the published attestation of epoch {entry.epoch} is not the one in the "
            "signed log: it was rewritten",
        )
    return parse_signed(
        data, parse_attestation, "history-epoch", f"epoch {entry.epoch}'s attestation"
    )


def check_chain(attestation: Attestation, previous: str | None) -> None:
    """Each epoch names the attestation published before it (T9)."""
    if attestation.previous_attestation_sha256 != previous:
        raise VerificationError(
            "history-chain",
            f"epoch {attestation.epoch_id}'s previous_attestation_sha256 is "
            f"{attestation.previous_attestation_sha256}, the epoch before it is {previous}: "
            "the chain is broken",
        )


def overdue(attestation: Attestation, now: datetime) -> bool:
    """A freeze attack shows an old attestation forever: it is overdue once next_due passed."""
    return attestation.next_due is not None and now > parse_time(attestation.next_due)


# -- reserves (sections 11, 12) -------------------------------------------------------------------


def check_reserves(attestation: Attestation, fingerprint: str, record: Record) -> None:
    """Everything about the reserves a verifier can check from the signed attestation (T11)."""
    reserves = attestation.reserves
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
                raise VerificationError(
                    "reserves-control", f"{where} counts for clients but has no proof of control"
                )
        else:
            assert wallet.proof.signature is not None
            message = context.message(wallet, wallet.category, wallet.client_tag)
            try:
                public_key = verify_control(
                    chain, wallet.address, wallet.proof.type, wallet.proof.signature, message
                )
            except (SignatureError, AddressError) as exc:
                raise VerificationError(
                    "reserves-control",
                    f"{where}: the proof of control does not verify for this custodian, epoch, "
                    f"liabilities, address and category: {exc}",
                ) from exc
            if public_key is not None and public_key.hex() != wallet.proof.public_key:
                raise VerificationError(
                    "reserves-control",
                    f"{where}: the published public key is not the key that signed",
                )
            proven += 1
        identities.append(
            (where, wallet.category, address_key(chain, wallet.address), key_id(chain, public_key))
        )
    _passed(
        record, "reserves-control", f"all {proven} wallet signatures prove control for this epoch"
    )
    check_distinct(reserves, record)
    mixed = commingling_problems(identities)
    if mixed:
        raise VerificationError("reserves-commingling", "; ".join(mixed))
    _passed(record, "reserves-commingling", "no address or key is in two categories")
    for row in reserves.coverage:
        problems = coverage_problems(row, reserves.wallets)
        if problems:
            raise VerificationError("reserves-coverage", "; ".join(problems), row.asset)
    _passed(
        record,
        "reserves-coverage",
        "the signed coverage figures add up from the listed wallets",
    )


# -- legal segregation (section 12) --------------------------------------------------------------

NO_LEGAL = "the attestation declares no legal entities"


def check_legal_holders(attestation: Attestation, record: Record) -> None:
    """Every wallet's holder is a declared entity, and no client_segregated or
    client_dedicated wallet is held by the custodian's operating company (legal-holders)."""
    legal = attestation.legal
    if legal is None:
        _passed(record, "legal-holders", NO_LEGAL)
        return
    problems = wallet_holder_problems(legal, attestation.reserves.wallets)
    if problems:
        raise VerificationError("legal-holders", "; ".join(problems))
    _passed(
        record,
        "legal-holders",
        f"every wallet's holder is one of the {len(legal.entities)} declared entities, and no "
        "client wallet is held by the operating company",
    )


def legal_document_files(attestation: Attestation) -> list[str]:
    """The published documents' names, which the driver reads for check_legal_documents."""
    legal = attestation.legal
    return [d.file for d in legal.documents if d.file is not None] if legal else []


def check_legal_documents(
    attestation: Attestation,
    manifest: Manifest,
    files: Mapping[str, bytes | None],
    record: Record,
) -> None:
    """Each published document's bytes (`files`: by name, None when missing) have the SHA-256
    the attestation signs, and the signed manifest lists it with that hash (legal-documents)."""
    legal = attestation.legal
    if legal is None:
        _passed(record, "legal-documents", NO_LEGAL)
        return
    published = 0
    for d in legal.documents:
        if d.file is None:
            continue
        data = files.get(d.file)
        if data is None:
            raise VerificationError(
                "legal-documents", f"{d.file} ({d.title}) is missing from the site"
            )
        if _crypto.sha256_hex(data) != d.sha256:
            raise VerificationError(
                "legal-documents",
                f"{d.file} ({d.title}): its bytes do not match the sha256 the attestation signs",
            )
        if manifest.files.get(d.file) != d.sha256:
            raise VerificationError(
                "legal-documents",
                f"{d.file} ({d.title}) is not listed in the signed manifest with its sha256",
            )
        published += 1
    _passed(
        record,
        "legal-documents",
        f"{published} published document(s) match their signed sha256; "
        f"{len(legal.documents) - published} more are published by hash only",
    )


def legal_warnings(
    attestation: Attestation, previous: Attestation | None, assets: Sequence[str]
) -> list[str]:
    """The changes in the legal arrangement since the previous epoch's attestation, for the
    client's `assets` (warnings, not failed checks)."""
    if previous is None or (previous.legal is None and attestation.legal is None):
        return []
    return legal_changes(
        previous.legal,
        previous.reserves.wallets,
        attestation.legal,
        attestation.reserves.wallets,
        assets,
    )


@dataclass(frozen=True)
class PrivateDocuments:
    """The hash-only documents against the files an auditor was shown (audit --documents)."""

    matched: tuple[tuple[str, Document], ...]  # (file, the document it is)
    missing: tuple[Document, ...]  # hash-only documents no file matches
    extra: tuple[str, ...]  # files that are no document of the attestation


def match_private_documents(
    attestation: Attestation, hashes: Mapping[str, str]
) -> PrivateDocuments:
    """`hashes`: {file name: its SHA-256 hex}. Every file whose SHA-256 is a document's
    matches it; a hash-only document no file matches is missing; other files are extra."""
    documents = attestation.legal.documents if attestation.legal else ()
    by_hash = {d.sha256: d for d in documents}
    matched = tuple(
        (name, by_hash[digest]) for name, digest in sorted(hashes.items()) if digest in by_hash
    )
    seen = set(hashes.values())
    missing = tuple(d for d in documents if d.file is None and d.sha256 not in seen)
    extra = tuple(name for name, digest in sorted(hashes.items()) if digest not in by_hash)
    return PrivateDocuments(matched, missing, extra)


def check_distinct(reserves: Reserves, record: Record) -> None:
    """Each network is listed once and each wallet once, as the chain sees it (T14): else one
    wallet's balance could be counted twice, under two chain entries or twice in a category."""
    problems = shared_network_problems(reserves.chains)
    entries = []
    for wallet in reserves.wallets:
        chain = reserves.chain(wallet.chain)
        assert chain is not None  # parse_reserves guarantees it
        where = f"{wallet.chain} {wallet.address} ({wallet.category})"
        try:
            entries.append((where, wallet_identity(chain, wallet.address)))
        except AddressError as exc:
            raise VerificationError("reserves-distinct", f"{where}: {exc}") from exc
    problems.extend(counted_twice_problems(entries))
    if problems:
        raise VerificationError("reserves-distinct", "; ".join(problems))
    _passed(
        record,
        "reserves-distinct",
        f"{len(reserves.chains)} distinct networks, {len(entries)} distinct wallets: "
        "none is counted twice",
    )


def _amount(attestation: Attestation, code: str, units: int) -> str:
    """An amount in the asset's units where the attestation gives its decimals."""
    signed = attestation.asset(code)
    coverage = attestation.reserves.asset_coverage(code)
    decimals = signed.decimals if signed else coverage.decimals if coverage else None
    if decimals is None:
        return f"{units} base units of {code}"
    return f"{format_decimal(units, decimals)} {code}"


def reread_problems(attestation: Attestation, reading: ChainReading) -> list[str]:
    """What differs between the signed chain and the same chain read from another node.

    One problem for a node serving another network or holding another block at the
    signed height (then no balance was read), else one per holding read from the
    chain whose signed amount is not the node's (section 12, check reserves-reread).
    Holdings published as declared are never compared.
    """
    chain = attestation.reserves.chain(reading.chain)
    if chain is None:
        return [f"{reading.chain}: the attestation lists no such chain"]
    node = f"the node at {reading.node}" if reading.node else "the node"
    if reading.network is not None and reading.network != chain.network:
        what = "chain id" if chain.kind == "evm" else "network"
        return [
            f"{chain.id}: {node} serves {what} {reading.network}, but the attestation signs "
            f"{what} {chain.network}: the balances were read from another chain, or the node "
            "is not one of this chain"
        ]
    if reading.block_hash is not None and reading.block_hash != chain.block_hash.lower():
        return [
            f"{chain.id}: block {chain.block_height} is {reading.block_hash} on {node}, but the "
            f"attestation signs {chain.block_hash}: the balances were read on another fork, or "
            "the signed block hash was altered"
        ]
    if reading.balances is None:
        return []
    problems = []
    for wallet in attestation.reserves.wallets:
        if wallet.chain != chain.id:
            continue
        for holding in wallet.holdings:
            if holding.source != "chain":
                continue
            where = f"{chain.id} {wallet.address} {holding.asset}"
            read = reading.balances.get((wallet.address, holding.asset))
            if read is None:
                problems.append(f"{where}: {node} returned no balance")
            elif read != holding.amount:
                problems.append(
                    f"{where}: the attestation signs "
                    f"{_amount(attestation, holding.asset, holding.amount)} at block "
                    f"{chain.block_height}, {node} reads "
                    f"{_amount(attestation, holding.asset, read)}"
                )
    return problems


def check_reread(
    attestation: Attestation, readings: Sequence[ChainReading], record: Record
) -> None:
    """Every signed chain balance equals the one read from the verifier's own node."""
    for reading in readings:
        problems = reread_problems(attestation, reading)
        if problems:
            raise VerificationError("reserves-reread", "; ".join(problems))
    _passed(record, "reserves-reread", reread_summary(readings))


def reread_summary(readings: Sequence[ChainReading]) -> str:
    """What a passing re-read established, chain by chain."""
    parts = []
    for r in readings:
        declared = f"; {r.declared} declared, not checked" if r.declared else ""
        if r.balances is None:
            parts.append(f"{r.chain}: nothing to re-read, every holding is declared, not checked")
        else:
            parts.append(
                f"{r.chain}: {len(r.balances)} balances at block {r.block_height} ({r.block_hash}) "
                f"read again from {r.node} match the signed ones{declared}"
            )
    return "; ".join(parts)


def client_coverage(
    attestation: Attestation, secret: bytes, account_id: str, balances: Sequence[Balance]
) -> list[ClientCoverage]:
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
    out = []
    for balance in balances:
        row = attestation.reserves.asset_coverage(balance.asset)
        if row is None:
            continue
        dedicated = tuple(
            (w.chain, w.address, w.amount(balance.asset))
            for w in mine
            if any(h.asset == balance.asset for h in w.holdings)
        )
        held = sum(amount for _, _, amount in dedicated)
        out.append(
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
    return out


# -- the client's proof (sections 5, 6, 9) ------------------------------------------------------


def shard_entry(
    shard_path: str, data: bytes, expected: str, lookup: bytes, record: Record, prefix: str
) -> bytes | None:
    """The client's encrypted entry in the shard the manifest lists, if the shard holds one.

    A shard that matches the signed manifest but is malformed (unsorted, an entry under
    another prefix, trailing bytes) is the custodian's fault: `shard-hash`, never the
    typing-mistake outcome `proof-found`."""
    if _crypto.sha256_hex(data) != expected:
        raise VerificationError(
            "shard-hash", f"{shard_path} does not match the signed manifest: it was altered"
        )
    try:
        entry = decode_shard(data, prefix).get(lookup)
    except FormatError as exc:
        raise VerificationError("shard-hash", f"{shard_path} is malformed: {exc}") from exc
    _passed(record, "shard-hash", f"{shard_path} matches the signed manifest")
    return entry


def shard_v2_problem(
    name: str, data: bytes, manifest: Manifest, epoch: str
) -> tuple[ShardV2 | None, str | None]:
    """porsegregate/2: (the shard, None) when `name` is a shard the signed manifest covers:
    it parses (PSS2, sorted, each entry under its index), its bits are the manifest's
    shard_bits, `name` is its index's file name, and its leaf folded with its path is the
    manifest's shards_root; else (the shard or None, why not)."""
    try:
        shard = decode_shard_v2(data)
    except FormatError as exc:
        return None, f"{name} is malformed: {exc}"
    if shard.bits != manifest.shard_bits:
        return shard, (
            f"{name} is a shard of {shard.bits} bits; the signed manifest has {manifest.shard_bits}"
        )
    if layout.shard_file(shard.index, shard.bits) != name:
        return shard, (
            f"{name} holds shard {shard.index} ({layout.shard_file(shard.index, shard.bits)}): "
            "it is served under another shard's name"
        )
    if shard.root(epoch) != manifest.shards_root:
        return shard, (
            f"{name} with its path does not fold to the signed manifest's shards_root: "
            "it was altered"
        )
    return shard, None


def shard_entry_v2(
    shard_path: str,
    data: bytes | None,
    manifest: Manifest,
    epoch: str,
    lookup: bytes,
    record: Record,
) -> bytes | None:
    """porsegregate/2: the client's encrypted entry in its shard (`shard_path`, the file its
    lookup id's first b bits name), which the signed manifest's shards_root covers."""
    if data is None:
        raise VerificationError(
            "shard-hash", f"{shard_path} is missing: every one of the 2^b shards is published"
        )
    shard, problem = shard_v2_problem(shard_path, data, manifest, epoch)
    if problem is not None or shard is None:
        raise VerificationError("shard-hash", problem or f"{shard_path} is malformed")
    _passed(
        record,
        "shard-hash",
        f"{shard_path} and its path fold to the signed manifest's shards_root",
    )
    return shard.entries.get(lookup)


def open_bundle(
    attestation: Attestation, keys: EpochKeys, entry: bytes | None, record: Record
) -> Bundle:
    """The client's entry decrypted with their keys for the attestation's epoch (derived from
    their code by a client, read from the data room by an auditor) and decoded."""
    epoch = attestation.epoch_id
    if entry is None:
        raise VerificationError(
            "proof-found",
            "there is no proof for this account id and code in this epoch: check both for typos; "
            "if they are right, you were left out of the published proof",
        )
    _passed(record, "proof-found", "a proof for your code is published")
    fmt = attestation.format
    try:
        plaintext = _crypto.aes_gcm_decrypt(keys.key, entry, bundle_aad(epoch, keys.lookup, fmt))
    except _crypto.InvalidTag as exc:
        raise VerificationError(
            "decrypt", "your proof does not decrypt with your code: it was altered"
        ) from exc
    _passed(record, "decrypt", "your proof decrypts with your code (AES-256-GCM)")
    codes = [a.code for a in attestation.assets]
    try:
        bundle = decode_bundle(plaintext, fmt, attestation.bundle_layout, codes)
    except FormatError as exc:
        raise VerificationError("bundle-format", f"your proof is malformed: {exc}") from exc
    problem = asset_order_problem(bundle, [a.code for a in attestation.assets])
    if problem is not None:
        raise VerificationError(
            "bundle-format",
            f"your proof is malformed: {problem} (a balance shown twice, or out of place)",
        )
    _passed(
        record,
        "bundle-format",
        "your proof is well formed, each asset once, in the attestation's order",
    )
    return bundle


def check_bundle(
    attestation: Attestation, keys: EpochKeys, account_id: str, bundle: Bundle, record: Record
) -> list[Balance]:
    """Every leaf of the client's proof folds to the signed root and total of its asset."""
    epoch = attestation.epoch_id
    if bundle.epoch != epoch:
        raise VerificationError(
            "bundle-epoch",
            f"your proof is for epoch {bundle.epoch!r}, the attestation for {epoch!r}: "
            "a replayed proof",
        )
    _passed(record, "bundle-epoch", f"your proof is for epoch {epoch}")
    if bundle.account_id != account_id:
        raise VerificationError("bundle-account", "your proof is for a different account id")
    _passed(record, "bundle-account", "your proof is for your account id")
    commitment = account_commitment(epoch, keys.nonce, account_id)
    balances = []
    for asset_proof in bundle.assets:
        code = asset_proof.asset
        signed = attestation.asset(code)
        if signed is None:
            raise VerificationError("asset-known", f"{code} is not in the signed attestation", code)
        _passed(record, "asset-known", f"{code} is in the signed attestation", code)
        seen: set[int] = set()
        root_ok = total_ok = True
        balance = 0
        for leaf in asset_proof.leaves:
            if leaf.index in seen:
                raise VerificationError(
                    "index-range", f"two of your {code} leaves claim index {leaf.index}", code
                )
            seen.add(leaf.index)
            rebuilt = leaf_hash(epoch, code, commitment, leaf.part, leaf.amount)
            try:
                root, total = fold_path(
                    rebuilt, leaf.amount, leaf.index, list(leaf.siblings), signed.padded_height
                )
            except PathError as exc:
                raise VerificationError(exc.check, f"{code}: {exc.detail}", code) from exc
            root_ok = root_ok and _crypto.constant_time_equal(root, signed.root)
            total_ok = total_ok and total == signed.total
            balance += leaf.amount
        if balance > MAX_AMOUNT:
            raise VerificationError(
                "sum-range", f"your {code} parts add up to more than 2^128-1", code
            )
        _passed(
            record,
            "path-height",
            f"every {code} path has the signed height {signed.padded_height}",
            code,
        )
        _passed(record, "index-range", f"every {code} leaf index is inside the tree", code)
        _passed(record, "sum-range", f"every {code} sum is within [0, 2^128-1]", code)
        if not root_ok:
            raise VerificationError(
                "root-hash",
                f"the path does not lead to the signed root of {code}: "
                "the proof was altered or you are not included",
                code,
            )
        _passed(record, "root-hash", f"your {code} balance is included under the signed root", code)
        if not total_ok:
            raise VerificationError(
                "root-total",
                f"the path's sums do not add up to the signed {code} total: "
                "the total was understated",
                code,
            )
        _passed(
            record,
            "root-total",
            f"the sums along your {code} path add up to the signed total",
            code,
        )
        balances.append(Balance(code, signed.decimals, balance, len(asset_proof.leaves)))
    return balances


def check_proof(
    attestation: Attestation,
    keys: EpochKeys,
    account_id: str,
    entry: bytes | None,
    record: Record,
) -> list[Balance]:
    """A client's encrypted entry opened and checked: their balances under the signed roots."""
    bundle = open_bundle(attestation, keys, entry, record)
    return check_bundle(attestation, keys, account_id, bundle, record)


# -- the proof shards as an observer sees them (audit; section 6) --------------------------------


HEX = "0123456789abcdef"


def allowed_entry_lengths(attestation: Attestation | None) -> set[int]:
    """porsegregate/2: every length an entry may have (one per bucket); empty for /1."""
    bundle_layout = attestation.bundle_layout if attestation is not None else None
    if bundle_layout is None or attestation is None:
        return set()
    return {bundle_layout.entry_bytes(attestation.epoch_id, s) for s in bundle_layout.slot_counts()}


def shard_problems(
    name: str, data: bytes, q: int, allowed: set[int]
) -> tuple[int | None, list[str]]:
    """(entries, problems) of one proof shard as an observer sees it (audit `proof-shards`;
    entries None when the shard cannot be read):
    named for a prefix of `q` hex digits, well formed, and in porsegregate/2 every entry of a
    length the signed layout allows (`allowed`), so that an entry tells an observer nothing
    beyond the bucket of its holder (T17)."""
    prefix = layout.shard_prefix(name)
    if layout.shard_name(prefix) != name or len(prefix) != q or any(c not in HEX for c in prefix):
        return None, [f"{name} is not the name of a shard for {q} hex digits"]
    try:
        entries = decode_shard(data, prefix)
    except FormatError as exc:
        return None, [f"{name} is malformed: {exc}"]
    for lookup, blob in entries.items():
        if allowed and len(blob) not in allowed:
            lengths = ", ".join(map(str, sorted(allowed)))
            return len(entries), [
                f"{name}: the entry under {lookup.hex()} is {len(blob)} bytes, not one of the "
                f"lengths the signed layout allows ({lengths})"
            ]
    return len(entries), []


def shard_v2_problems(
    name: str, data: bytes, manifest: Manifest, epoch: str, allowed: set[int]
) -> tuple[int | None, list[str]]:
    """porsegregate/2: (entries, problems) of one proof shard as an observer sees it (audit
    `proof-shards`): as the client's shard-hash sees it, and every entry of a length the
    signed layout allows."""
    shard, problem = shard_v2_problem(name, data, manifest, epoch)
    if shard is None:
        return None, [problem or f"{name} is malformed"]
    problems = [] if problem is None else [problem]
    for lookup, blob in shard.entries.items():
        if allowed and len(blob) not in allowed:
            lengths = ", ".join(map(str, sorted(allowed)))
            problems.append(
                f"{name}: the entry under {lookup.hex()} is {len(blob)} bytes, not one of the "
                f"lengths the signed layout allows ({lengths})"
            )
            break
    return len(shard.entries), problems


def entry_count_problem(manifest: Manifest, count: int) -> str | None:
    """porsegregate/2: the 2^b shards hold exactly the signed number of entries, dummies
    included."""
    if manifest.entries is None:
        return None
    if count != manifest.entries:
        return f"the shards hold {count} entries, the signed manifest says {manifest.entries}"
    return None
