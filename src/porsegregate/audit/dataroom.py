"""The data room: what only the custodian's private inputs can show about the newest epoch.

With the liabilities CSV and the config the totals are re-added; with the
passphrase (the master secret) every sum tree is rebuilt and its root compared;
with the client codes (or the master secret) client proofs are opened with the
client verifier's own checks and compared with the CSV; with the reserves
declaration the coverage figures and the signed wallets are derived again,
including what no public check can see (client_dedicated_counted and
dedicated_shortfalls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from random import SystemRandom

from .. import _crypto
from ..errors import FormatError, VerificationError
from ..protocol import layout
from ..protocol.bundle import decode_shard
from ..protocol.control import EpochContext
from ..protocol.hashing import epoch_keys, published_height
from ..protocol.models import AssetLiabilities, Attestation, Manifest, Reserves, Wallet
from ..protocol.serialization import liabilities_sha256
from ..publish.assess import assess
from ..publish.client_codes import read_client_codes
from ..publish.config import Config
from ..publish.liabilities import Liabilities, read_liabilities
from ..publish.pipeline import PreparedEpoch, assess_reserves, prepare_epoch
from ..publish.reserves import read_reserves
from ..verify import checks
from .report import DATAROOM_CHECKS, Findings

DEFAULT_SAMPLE = 100


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
class _Room:
    """One data-room check of the newest epoch, recording into the audit's findings."""

    findings: Findings
    room: DataRoom
    attestation: Attestation
    manifest: Manifest
    fingerprint: str
    read: Callable[[str], bytes | None]
    clients_checked: int = 0

    def run(self) -> None:
        room, attestation = self.room, self.attestation
        prepared: PreparedEpoch | None = None
        if room.passphrase is not None:
            prepared = prepare_epoch(
                room.config, room.passphrase, attestation.epoch_id, room.liabilities
            )
            liabilities = prepared.liabilities
        else:
            liabilities = read_liabilities(room.liabilities, room.config.assets)
        self.totals(liabilities)
        if prepared is None:
            self.findings.na(
                "dataroom-roots",
                "roots were not rebuilt: that needs the master secret (give the passphrase "
                "with --passphrase-file or $PORSEGREGATE_PASSPHRASE); totals were checked from "
                "the liabilities CSV",
            )
        else:
            self.roots(prepared.proofs.assets, prepared.signing_key)

        codes: dict[str, str] | None = None
        if room.codes is not None:
            codes = read_client_codes(room.codes)
        elif prepared is not None:
            codes = dict(zip(prepared.proofs.accounts, prepared.proofs.codes, strict=True))
        if codes is None:
            self.findings.na(
                "dataroom-bundles",
                "no client codes: give --codes (or the passphrase, to derive them)",
            )
        else:
            self.bundles(liabilities, codes, room.sample)

        if room.reserves is None:
            for check in ("dataroom-coverage", "dataroom-wallets"):
                self.findings.na(check, "no reserves declaration given (--reserves)")
            return
        declaration = read_reserves(room.reserves, room.config.assets)
        if prepared is not None:
            assessment = assess_reserves(prepared, declaration)
            for error in assessment.errors:
                self.findings.fail(
                    "dataroom-wallets", f"the declaration does not check out: {error}"
                )
            derived = assessment.reserves
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
        self.coverage(attestation.reserves, derived)
        self.wallets(attestation.reserves, derived, keys=prepared is not None)

    def totals(self, liabilities: Liabilities) -> None:
        signed = {a.code: a for a in self.attestation.assets}
        mine = [a.code for a in liabilities.assets]
        if sorted(signed) != sorted(mine):
            self.findings.fail(
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
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: the liabilities CSV adds up to {totals[index]}, the signed "
                    f"total is {a.total}",
                )
            if a.decimals != asset.decimals:
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: {asset.decimals} decimals in the config, {a.decimals} signed",
                )
            if a.padded_height != published_height(holders):
                self.findings.fail(
                    "dataroom-totals",
                    f"{asset.code}: {holders} holders need a tree of height "
                    f"{published_height(holders)}, the signed height is {a.padded_height}",
                )
        self.findings.ok(
            "dataroom-totals",
            f"the liabilities CSV ({len(liabilities.balances)} clients) adds up to every signed "
            "total, with the signed tree heights",
        )

    def roots(
        self, rebuilt: Iterable[AssetLiabilities], signing_key: _crypto.Ed25519PrivateKey
    ) -> None:
        if _crypto.fingerprint(signing_key.public_key()) != self.fingerprint:
            self.findings.fail(
                "dataroom-roots",
                "the config's signing key is not the key of this site: wrong workspace",
            )
        count = 0
        for asset in rebuilt:
            count += 1
            signed = self.attestation.asset(asset.code)
            if signed is None:
                continue  # dataroom-totals says so
            if asset.root != signed.root or asset.padded_height != signed.padded_height:
                self.findings.fail(
                    "dataroom-roots",
                    f"{asset.code}: the tree rebuilt from the data room has root "
                    f"{asset.root.hex()}, the signed root is {signed.root.hex()}",
                )
        self.findings.ok(
            "dataroom-roots",
            f"all {count} sum trees rebuilt from the data room have the signed roots",
        )

    def bundles(self, liabilities: Liabilities, codes: dict[str, str], sample: int | None) -> None:
        """Clients' proofs opened with their codes, by the client verifier's own checks."""
        accounts = list(liabilities.balances)
        if sample is None or sample >= len(accounts):
            chosen = accounts
        else:
            chosen = SystemRandom().sample(accounts, sample)
        shards: dict[str, dict[bytes, bytes]] = {}
        for account in chosen:
            code = codes.get(account)
            if code is None:
                self.findings.fail(
                    "dataroom-bundles", f"{account}: no code in the client codes file"
                )
                continue
            try:
                secret = checks.client_secret(code, checks.ignore)
                keys = epoch_keys(secret, self.attestation.epoch_id)
                name = layout.shard_name(keys.lookup.hex()[: self.manifest.shard_prefix_chars])
                entry = self.shard(shards, name).get(keys.lookup)
                balances = checks.check_proof(
                    self.attestation, secret, account, keys.lookup, entry, checks.ignore
                )
            except VerificationError as exc:
                where = f" [{exc.asset}]" if exc.asset else ""
                self.findings.fail(
                    "dataroom-bundles", f"{account}: {exc.check}{where} failed: {exc.detail}"
                )
                continue
            owed = {
                a.code: amount
                for a, amount in zip(liabilities.assets, liabilities.balances[account], strict=True)
                if amount is not None
            }
            shown = {b.asset: b.amount for b in balances}
            if shown != owed:
                self.findings.fail(
                    "dataroom-bundles",
                    f"{account}: the published proof shows {_amounts(shown)}, the liabilities "
                    f"CSV {_amounts(owed)}",
                )
        self.clients_checked = len(chosen)
        extra = ""
        if len(chosen) == len(accounts):
            published = sum(
                len(self.shard(shards, name))
                for name in self.manifest.files
                if name.startswith(layout.PROOFS + "/")
            )
            if published != len(accounts):
                self.findings.fail(
                    "dataroom-bundles",
                    f"the site publishes {published} proofs for {len(accounts)} clients",
                )
            extra = f"; the site publishes exactly {len(accounts)} proofs"
        how = "every client" if len(chosen) == len(accounts) else "a random sample of clients"
        self.findings.ok(
            "dataroom-bundles",
            f"{len(chosen)} client proofs ({how}) open with the clients' codes, verify "
            f"under the signed roots and show the balances of the liabilities CSV{extra}",
        )

    def shard(self, shards: dict[str, dict[bytes, bytes]], name: str) -> dict[bytes, bytes]:
        """A proof shard's entries, read once; one that does not match the manifest has none."""
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
                shards[name] = decode_shard(data)
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

    def wallets(self, signed: Reserves, derived: Reserves, keys: bool) -> None:
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
        note = "" if keys else " (client tags not rebuilt: no passphrase)"
        self.findings.ok(
            "dataroom-wallets",
            f"the {len(signed.wallets)} signed wallets are exactly the declared ones{note}",
        )


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{code} {amount}" for code, amount in sorted(amounts.items())) or "nothing"


def check_dataroom(
    findings: Findings,
    room: DataRoom | None,
    attestation: Attestation | None,
    manifest: Manifest | None,
    fingerprint: str,
    read: Callable[[str], bytes | None],
) -> int:
    """Every data-room check of the newest epoch; the number of client proofs opened."""
    if room is None:
        for check in DATAROOM_CHECKS:
            findings.na(check, "no data room given (--liabilities and --config)")
        return 0
    if attestation is None or manifest is None:
        for check in DATAROOM_CHECKS:
            findings.na(check, "the newest attestation or manifest is unreadable")
        return 0
    run = _Room(findings, room, attestation, manifest, fingerprint, read)
    run.run()
    return run.clients_checked
