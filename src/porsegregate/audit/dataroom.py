"""The data room: what only the custodian's private inputs can show about the newest epoch.

The data room is the custodian's export of one epoch (publish/dataroom_export.py,
`porsegregate dataroom export`): the liabilities CSV, the reserves declaration,
the public key and that epoch's derived keys, under a passphrase of its own.
It holds neither the signing key nor the master secret: an auditor can rebuild
and open this epoch, and sign nothing. With it the totals are re-added, every
sum tree is rebuilt and its root compared, client proofs are opened with the
epoch's keys and compared with the CSV, and the coverage figures and the signed
wallets are derived again, including what no public check can see
(client_dedicated_counted and dedicated_shortfalls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from random import SystemRandom

import numpy as np

from .. import _crypto
from ..errors import FormatError, InputError, VerificationError
from ..progress import NO_PROGRESS, Progress
from ..protocol import layout
from ..protocol.bundle import bundle_aad, decode_shard, shard_index
from ..protocol.control import EpochContext
from ..protocol.hashing import FORMAT_V1, published_height
from ..protocol.models import AssetLiabilities, Attestation, Manifest, Reserves, Wallet
from ..protocol.serialization import liabilities_sha256
from ..publish.assess import assess
from ..publish.dataroom_export import EpochSecrets, OpenedDataRoom, open_dataroom, rebuild_epoch
from ..publish.engine import fork_map, worker_count
from ..publish.engine import shared_state as engine_shared
from ..publish.epoch import EpochProofs, Privacy
from ..publish.liabilities import Liabilities, read_liabilities
from ..publish.reserves import read_reserves
from ..verify import checks
from .report import DATAROOM_CHECKS, Findings

DEFAULT_SAMPLE = 100


@dataclass(frozen=True)
class DataRoom:
    """One epoch's data room export, opened with its passphrase, and how many proofs to open."""

    export: OpenedDataRoom
    sample: int | None = DEFAULT_SAMPLE  # clients whose proofs are opened; None: every client

    @classmethod
    def open(cls, folder: Path, passphrase: bytes, sample: int | None = DEFAULT_SAMPLE) -> DataRoom:
        """InputError for a folder that is not an intact export, or a wrong passphrase."""
        return cls(open_dataroom(folder, passphrase), sample)


@dataclass
class _Room:
    """One data-room check of the newest epoch, recording into the audit's findings."""

    findings: Findings
    room: DataRoom
    attestation: Attestation
    manifest: Manifest
    fingerprint: str
    read: Callable[[str], bytes | None]
    progress: Progress = NO_PROGRESS
    clients_checked: int = 0
    # Shards read and let go (their entry counts), and those found malformed (said once).
    _counts: dict[str, int] = dataclasses.field(default_factory=dict)
    _malformed: set[str] = dataclasses.field(default_factory=set)

    def run(self) -> None:
        export, attestation = self.room.export, self.attestation
        if export.epoch != attestation.epoch_id:
            raise InputError(
                f"{export.folder}: the data room is epoch {export.epoch}'s, the site's newest "
                f"epoch is {attestation.epoch_id}: ask the custodian for `porsegregate dataroom "
                f"export --epoch {attestation.epoch_id}`"
            )
        liabilities = read_liabilities(export.liabilities, export.assets, self.progress)
        self.totals(liabilities)
        proofs = rebuild_epoch(
            liabilities,
            export.secrets,
            attestation.format,
            _signed_privacy(attestation),
            self.progress,
        )
        rebuilt = self.roots(proofs.assets, export.fingerprint)
        self.bundles(
            liabilities,
            export.secrets,
            self.room.sample,
            proofs if rebuilt and attestation.format != FORMAT_V1 else None,
        )

        if export.reserves is None:
            for check in ("dataroom-coverage", "dataroom-wallets"):
                self.findings.na(check, "the data room has no reserves declaration")
            return
        declaration = read_reserves(export.reserves, export.assets)
        context = EpochContext(
            custodian=export.custodian,
            fingerprint=export.fingerprint,
            epoch=attestation.epoch_id,
            liabilities_sha256=liabilities_sha256(proofs.assets),
            assets=proofs.assets,
        )
        assessment = assess(declaration, context, liabilities, export.secrets.nonce_of)
        for error in assessment.errors:
            self.findings.fail("dataroom-wallets", f"the declaration does not check out: {error}")
        self.coverage(attestation.reserves, assessment.reserves)
        self.wallets(attestation.reserves, assessment.reserves)

    def totals(self, liabilities: Liabilities) -> None:
        signed = {a.code: a for a in self.attestation.assets}
        mine = [a.code for a in liabilities.assets]
        if sorted(signed) != sorted(mine):
            self.findings.fail(
                "dataroom-totals",
                f"the attestation lists assets {sorted(signed)}, the data room {sorted(mine)}",
            )
        custodian = self.room.export.custodian
        if custodian != self.attestation.custodian.name:
            self.findings.fail(
                "dataroom-totals",
                f"the data room is {custodian!r}'s, the attestation "
                f"{self.attestation.custodian.name!r}'s",
            )
        totals = liabilities.totals()
        for index, asset in enumerate(liabilities.assets):
            a = signed.get(asset.code)
            if a is None:
                continue
            holders = len(liabilities.holders[index])
            if a.total != totals[index]:
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: the liabilities CSV adds up to {totals[index]}, the signed "
                    f"total is {a.total}",
                )
            if a.decimals != asset.decimals:
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: {asset.decimals} decimals in the data room, "
                    f"{a.decimals} signed",
                )
            if a.parts is None and a.padded_height != published_height(holders):
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: {holders} holders need a tree of height "
                    f"{published_height(holders)}, the signed height is {a.padded_height}",
                )
            leaves = holders * (a.parts or 1)
            if a.parts is not None and leaves > 1 << a.padded_height:
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: {holders} holders in {a.parts} parts are {leaves} leaves, "
                    f"more than a tree of the signed height {a.padded_height} holds",
                )
        self.findings.ok(
            "dataroom-totals",
            f"the liabilities CSV ({len(liabilities.accounts)} clients) adds up to every signed "
            "total, with the signed tree heights",
        )

    def roots(self, rebuilt: Iterable[AssetLiabilities], fingerprint: str) -> bool:
        """dataroom-roots; whether every rebuilt tree is the signed one (same root, height and
        parts, every signed asset rebuilt)."""
        same = fingerprint == self.fingerprint
        if fingerprint != self.fingerprint:
            self.findings.fail(
                "dataroom-roots",
                f"the data room's public key ({fingerprint}) is not this site's key "
                f"({self.fingerprint}): the export of another key or custodian",
            )
        count = 0
        codes = set()
        for asset in rebuilt:
            count += 1
            codes.add(asset.code)
            signed = self.attestation.asset(asset.code)
            if signed is None:
                same = False
                continue  # dataroom-totals says so
            if asset.parts != signed.parts:
                same = False
            if asset.root != signed.root or asset.padded_height != signed.padded_height:
                same = False
                self.findings.fail(
                    "dataroom-roots",
                    f"{asset.code}: the tree rebuilt from the data room has root "
                    f"{asset.root.hex()}, the signed root is {signed.root.hex()}",
                )
        self.findings.ok(
            "dataroom-roots",
            f"all {count} sum trees rebuilt from the data room have the signed roots",
        )
        return same and codes == {a.code for a in self.attestation.assets}

    def bundles(
        self,
        liabilities: Liabilities,
        secrets: EpochSecrets,
        sample: int | None,
        rebuilt: EpochProofs | None = None,
    ) -> None:
        """Clients' proofs opened with the epoch's keys and checked as the client verifier does.

        With `rebuilt` (porsegregate/2, every tree rebuilt with the signed root), an entry
        that decrypts to exactly the bundle rebuilt for the client passes every check of the
        client verifier (its paths fold to the signed roots, its amounts are the ledger's), so
        it is compared, not re-verified; any other entry goes through the client's checks,
        which say what is wrong."""
        accounts = liabilities.accounts
        if sample is None or sample >= len(accounts):
            chosen = accounts
        else:
            chosen = SystemRandom().sample(accounts, sample)
        shards: dict[str, dict[bytes, bytes]] = {}
        progress = self.progress
        progress.begin("opening client proofs", len(chosen))
        others = chosen if rebuilt is None else self._compare(rebuilt, liabilities, chosen, shards)
        for done, account in enumerate(others, 1):
            if done % 1024 == 0 and rebuilt is None:
                progress.advance(1024)
            self._check_client(account, liabilities, secrets, shards)
        if rebuilt is None:
            progress.advance(len(chosen) % 1024)
        progress.end()
        self.clients_checked = len(chosen)
        extra = ""
        if len(chosen) == len(accounts):
            published = 0
            for name in self.shard_names():
                if name not in self._counts:
                    self.shard(shards, name)
                    self._let_go(shards, name)
                published += self._counts.get(name, 0)
            # porsegregate/2 adds dummy entries up to the signed count (audit proof-shards
            # checks that count); the clients' own are all found above.
            expected = self.manifest.entries or len(accounts)
            if published != expected:
                self.findings.fail(
                    "dataroom-bundles",
                    f"the site publishes {published} entries for {len(accounts)} clients "
                    f"(expected {expected})",
                )
            extra = (
                f"; the site publishes exactly {len(accounts)} proofs"
                if self.manifest.entries is None
                else f"; the site publishes {published} entries, {published - len(accounts)} "
                "of them dummies"
            )
        how = "every client" if len(chosen) == len(accounts) else "a random sample of clients"
        self.findings.ok(
            "dataroom-bundles",
            f"{len(chosen)} client proofs ({how}) open with the epoch's keys, verify "
            f"under the signed roots and show the balances of the liabilities CSV{extra}",
        )

    def _check_client(
        self,
        account: str,
        liabilities: Liabilities,
        secrets: EpochSecrets,
        shards: dict[str, dict[bytes, bytes]],
    ) -> None:
        """One client's proof through the client verifier's checks, and its balances."""
        keys = secrets.clients.get(account)
        if keys is None:
            self.findings.fail("dataroom-bundles", f"{account}: no keys in the data room")
            return
        try:
            name = self.shard_name(keys.lookup)
            entry = self.shard(shards, name).get(keys.lookup)
            # The client verifier's own checks, with this epoch's keys from the data room.
            proved = checks.check_proof(self.attestation, keys, account, entry, checks.ignore)
            shown = {b.asset: b.amount for b in proved}
        except VerificationError as exc:
            where = f" [{exc.asset}]" if exc.asset else ""
            # The checks speak to the client; a missing proof is said as an auditor sees it.
            detail = (
                "no proof is published under this client's lookup id in this epoch"
                if exc.check == "proof-found"
                else exc.detail
            )
            self.findings.fail(
                "dataroom-bundles", f"{account}: {exc.check}{where} failed: {detail}"
            )
            return
        row = liabilities.index_of(account)
        owed = {
            a.code: amount
            for i, a in enumerate(liabilities.assets)
            if row is not None and (amount := liabilities.amount(row, i)) is not None
        }
        if shown != owed:
            self.findings.fail(
                "dataroom-bundles",
                f"{account}: the published proof shows {_amounts(shown)}, the liabilities "
                f"CSV {_amounts(owed)}",
            )

    def _compare(
        self,
        rebuilt: EpochProofs,
        liabilities: Liabilities,
        chosen: list[str],
        shards: dict[str, dict[bytes, bytes]],
    ) -> list[str]:
        """The chosen clients whose published entry is not exactly their rebuilt bundle; the
        rest are done. In lookup order, over forked workers by ranges of shards, each shard
        read once and let go (its entry count kept)."""
        rows = np.asarray([liabilities.index_of(a) for a in chosen], dtype=np.int64)
        ordered = rebuilt.by_lookup(rows)
        names = [self.shard_name(rebuilt.lookup_of(r)) for r in ordered.tolist()]
        workers = worker_count(len(ordered))
        pieces = max(1, workers * 8)
        cuts = [0]
        for k in range(1, pieces):
            at = len(ordered) * k // pieces
            while 0 < at < len(ordered) and names[at] == names[at - 1]:
                at += 1  # a shard is one worker's
            cuts.append(max(at, cuts[-1]))
        cuts.append(len(ordered))
        tasks = [(cuts[k], cuts[k + 1]) for k in range(pieces) if cuts[k] < cuts[k + 1]]
        shared = {"room": self, "rebuilt": rebuilt, "ordered": ordered, "names": names}
        differ: list[str] = []

        def advance(task: tuple[int, int]) -> None:
            self.progress.advance(task[1] - task[0])

        for rows_differ, counts in fork_map(_compare_piece, tasks, workers, shared, advance):
            differ.extend(liabilities.accounts[r] for r in rows_differ)
            self._counts.update(counts)
        return differ

    def _let_go(self, shards: dict[str, dict[bytes, bytes]], name: str) -> None:
        """Forget a shard's entries (read again if needed), keeping its count for the
        published-entries total: at most one shard of millions of entries is held."""
        if name in shards:
            self._counts[name] = len(shards.pop(name))

    def shard_name(self, lookup: bytes) -> str:
        bits = self.manifest.shard_bits
        if bits is not None:
            return layout.shard_file(shard_index(lookup, bits), bits)
        return layout.shard_name(lookup.hex()[: self.manifest.shard_prefix_chars])

    def shard_names(self) -> list[str]:
        """Every shard of the epoch: porsegregate/1 those its manifest lists, porsegregate/2
        all 2^b."""
        bits = self.manifest.shard_bits
        if bits is not None:
            return [layout.shard_file(index, bits) for index in range(1 << bits)]
        return [name for name in self.manifest.files if name.startswith(layout.PROOFS + "/")]

    def shard(self, shards: dict[str, dict[bytes, bytes]], name: str) -> dict[bytes, bytes]:
        """A proof shard's entries, read once; one that does not match the manifest has none."""
        if name not in shards and self.manifest.shard_bits is not None:
            shards[name] = {}
            data = self.read(name)
            if data is None:
                return shards[name]
            shard, problem = checks.shard_v2_problem(
                name, data, self.manifest, self.attestation.epoch_id
            )
            if problem is not None or shard is None:
                if name not in self._malformed:
                    self._malformed.add(name)
                    self.findings.fail("dataroom-bundles", f"{problem}: none of its proofs count")
            else:
                shards[name] = shard.entries
        if name not in shards:
            shards[name] = {}
            expected = self.manifest.files.get(name)
            data = self.read(name) if expected is not None else None
            if data is None or expected is None:
                return shards[name]
            if _crypto.sha256_hex(data) != expected:
                self.findings.fail(
                    "dataroom-bundles",
                    f"{name} does not match the signed manifest: none of its proofs count",
                )
                return shards[name]
            try:
                shards[name] = decode_shard(data, layout.shard_prefix(name))
            except FormatError as exc:
                self.findings.fail("dataroom-bundles", f"{name} is malformed: {exc}")
        return shards[name]

    def coverage(self, signed: Reserves, derived: Reserves) -> None:
        signed_rows = {c.asset: c for c in signed.coverage}
        derived_rows = {c.asset: c for c in derived.coverage}
        if sorted(signed_rows) != sorted(derived_rows):
            self.findings.fail(
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
                    self.findings.fail(
                        "dataroom-coverage",
                        f"{asset}: {name} is {theirs} in the signed coverage, {mine} from the "
                        "data room",
                    )
        self.findings.ok(
            "dataroom-coverage",
            f"the signed coverage of all {len(signed_rows)} assets (client_dedicated_counted "
            "and dedicated_shortfalls included) is what the data room gives",
        )

    def wallets(self, signed: Reserves, derived: Reserves) -> None:
        def comparable(w: Wallet) -> Wallet:
            # Without --rpc a re-derived holding is "declared"; the signed one may say "chain".
            return dataclasses.replace(
                w, holdings=tuple(dataclasses.replace(h, source="") for h in w.holdings)
            )

        mine = {(w.chain, w.address): comparable(w) for w in derived.wallets}
        theirs = {(w.chain, w.address): comparable(w) for w in signed.wallets}
        for key in sorted(set(mine) | set(theirs)):
            a, b = mine.get(key), theirs.get(key)
            if a is None:
                self.findings.fail(
                    "dataroom-wallets", f"{key[0]} {key[1]} is signed but not declared"
                )
            elif b is None:
                self.findings.fail(
                    "dataroom-wallets", f"{key[0]} {key[1]} is declared but not signed"
                )
            elif a != b:
                fields = [
                    f.name
                    for f in dataclasses.fields(a)
                    if getattr(a, f.name) != getattr(b, f.name)
                ]
                self.findings.fail(
                    "dataroom-wallets",
                    f"{key[0]} {key[1]}: the signed wallet differs from the declaration in "
                    f"{', '.join(fields)}",
                )
        self.findings.ok(
            "dataroom-wallets",
            f"the {len(signed.wallets)} signed wallets are exactly the declared ones, client "
            "tags included",
        )


def _signed_privacy(attestation: Attestation) -> Privacy | None:
    """The height and parts the attestation signs (porsegregate/2), to rebuild its trees."""
    layout_ = attestation.bundle_layout
    if layout_ is None or not layout_.assets:
        return None
    return Privacy(height=layout_.height, split=layout_.parts)


COMPARE_CHUNK = 4096


def _compare_piece(bounds: tuple[int, int]) -> tuple[list[int], dict[str, int]]:
    """In a worker: the clients lo .. hi (in lookup order) whose entry is not exactly their
    rebuilt bundle, and the entry count of every shard read."""
    shared = engine_shared()
    room: _Room = shared["room"]
    rebuilt: EpochProofs = shared["rebuilt"]
    ordered: np.ndarray = shared["ordered"]
    names: list[str] = shared["names"]
    epoch, fmt = room.attestation.epoch_id, room.attestation.format
    lo, hi = bounds
    shards: dict[str, dict[bytes, bytes]] = {}
    differ: list[int] = []
    current = ""
    for start in range(lo, hi, COMPARE_CHUNK):
        chunk = ordered[start : min(start + COMPARE_CHUNK, hi)]
        for at, (row, plaintext) in enumerate(
            zip(chunk.tolist(), rebuilt.plaintexts(chunk), strict=True), start
        ):
            name = names[at]
            if name != current:
                room._let_go(shards, current)
                current = name
            lookup = rebuilt.lookup_of(row)
            entry = room.shard(shards, name).get(lookup)
            if entry is None or not _opens_to(
                rebuilt.key_of(row), entry, bundle_aad(epoch, lookup, fmt), plaintext
            ):
                differ.append(row)
    room._let_go(shards, current)
    return differ, room._counts


def _opens_to(key: bytes, entry: bytes, aad: bytes, plaintext: bytes) -> bool:
    """Whether the entry decrypts (with its aad) to exactly this plaintext."""
    try:
        opened = _crypto.aes_gcm_decrypt(key, entry, aad)
    except (_crypto.InvalidTag, ValueError):
        return False
    return opened == plaintext


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{code} {amount}" for code, amount in sorted(amounts.items())) or "nothing"


def check_dataroom(
    findings: Findings,
    room: DataRoom | None,
    attestation: Attestation | None,
    manifest: Manifest | None,
    fingerprint: str,
    read: Callable[[str], bytes | None],
    progress: Progress | None = None,
) -> int:
    """Every data-room check of the newest epoch; the number of client proofs opened."""
    if room is None:
        for check in DATAROOM_CHECKS:
            findings.na(check, "no data room given (--dataroom)")
        return 0
    if attestation is None or manifest is None:
        for check in DATAROOM_CHECKS:
            findings.na(check, "the newest attestation or manifest is unreadable")
        return 0
    run = _Room(findings, room, attestation, manifest, fingerprint, read, progress or NO_PROGRESS)
    run.run()
    return run.clients_checked
