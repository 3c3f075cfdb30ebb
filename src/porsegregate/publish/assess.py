"""Checking declared reserves against the epoch: control, commingling, chain balances, coverage.

This is where T11 is enforced on the publisher's side. Errors (a signature
that fails, a category the key did not sign, an address or key in two
categories, a chain balance that differs) can never be published; a
shortfall (segregated reserves below client liabilities, or a dedicated
wallet below its client's liability) is published only when the custodian
says so, and then on every page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..chains import BalanceReader, verify_control
from ..errors import ChainError, SignatureError
from ..protocol import layout
from ..protocol.amounts import format_decimal
from ..protocol.control import EpochContext, address_key, commingling_problems, key_id
from ..protocol.coverage import compute_coverage, percent
from ..protocol.hashing import dedicated_tag
from ..protocol.models import (
    CATEGORIES,
    PROOF_TYPES,
    UNPROVEN,
    AssetCoverage,
    ChainSnapshot,
    ControlProof,
    Holding,
    Reserves,
    Wallet,
)
from ..protocol.serialization import reserves_to_dict, wallet_sort_key
from .liabilities import Liabilities
from .reserves import DeclaredWallet, ReservesDeclaration

DEFAULT_MAX_BLOCK_SKEW = 2 * 3600


@dataclass(frozen=True)
class Challenge:
    where: str
    chain: str
    address: str
    category: str
    proof_types: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "chain": self.chain,
            "address": self.address,
            "category": self.category,
            "proof_types": list(self.proof_types),
            "message": self.message,
        }


@dataclass(frozen=True)
class EpochChallenges:
    """Every declared wallet's message to sign for one epoch (`reserves challenge`)."""

    epoch: str
    liabilities_sha256: str
    wallets: tuple[Challenge, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "liabilities_sha256": self.liabilities_sha256,
            "wallets": [c.to_json() for c in self.wallets],
        }


@dataclass
class Assessment:
    """A reserves declaration checked against one epoch (`reserves check`, and publish)."""

    reserves: Reserves
    errors: list[str] = field(default_factory=list)
    shortfalls: list[str] = field(default_factory=list)
    checked_chains: list[str] = field(default_factory=list)
    unchecked_chains: list[str] = field(default_factory=list)
    # Worth a look but publishable: no chain read from a node, a dedicated wallet of a
    # client owed nothing in its asset.
    warnings: list[str] = field(default_factory=list)
    epoch: str = field(kw_only=True)
    declaration: ReservesDeclaration = field(kw_only=True)  # what was checked

    @property
    def ok(self) -> bool:
        """Nothing failed and client liabilities are covered: publishable as it is."""
        return not self.errors and not self.shortfalls

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "epoch": self.epoch,
            "errors": self.errors,
            "shortfalls": self.shortfalls,
            "checked_chains": self.checked_chains,
            "unchecked_chains": self.unchecked_chains,
            "warnings": self.warnings,
            "reserves": reserves_to_dict(self.reserves),
        }


NonceOf = Callable[[str], bytes]


def _tag(ctx: EpochContext, wallet: DeclaredWallet, nonce_of: NonceOf) -> bytes | None:
    if wallet.client is None:
        return None
    return dedicated_tag(
        ctx.epoch, nonce_of(wallet.client), wallet.client, wallet.chain, wallet.address
    )


def challenges(
    declaration: ReservesDeclaration, ctx: EpochContext, nonce_of: NonceOf
) -> list[Challenge]:
    """The exact message each declared wallet's key must sign this epoch."""
    out = []
    for w in declaration.wallets:
        if w.proof == UNPROVEN:
            continue
        kind = declaration.chain(w.chain).kind
        out.append(
            Challenge(
                where=w.where,
                chain=w.chain,
                address=w.address,
                category=w.category,
                proof_types=PROOF_TYPES[kind],
                message=ctx.message(w, w.category, _tag(ctx, w, nonce_of)),
            )
        )
    return out


def _check_control(
    ctx: EpochContext, chain: ChainSnapshot, w: DeclaredWallet, tag: bytes | None
) -> tuple[bytes | None, str | None]:
    """(public key, None) when the signature proves control, else (None, the error)."""
    assert w.signature is not None
    try:
        return verify_control(
            chain, w.address, w.proof, w.signature, ctx.message(w, w.category, tag)
        ), None
    except SignatureError as exc:
        reason = str(exc)
    # Say precisely what went wrong when the key signed this epoch's challenge for another
    # category: that is a relabelled wallet, not a typo.
    for other in CATEGORIES:
        if other == w.category:
            continue
        try:
            verify_control(chain, w.address, w.proof, w.signature, ctx.message(w, other, tag))
        except SignatureError:
            continue
        return None, (
            f"{w.where} ({w.chain} {w.address}): the wallet key signed the challenge for "
            f"category {other}, but the wallet is declared as {w.category}"
        )
    return None, (
        f"{w.where} ({w.chain} {w.address}): proof of control fails: {reason} "
        "(was the message of `porsegregate reserves challenge` for this epoch signed?)"
    )


def _check_block_time(
    chain: ChainSnapshot, block_time: int, snapshot_time: str, max_skew: int
) -> str | None:
    snapshot = int(layout.parse_time(snapshot_time).timestamp())
    skew = abs(block_time - snapshot)
    if skew <= max_skew:
        return None
    mined = layout.format_time(datetime.fromtimestamp(block_time, UTC))
    return (
        f"{chain.id}: block {chain.block_height} was mined at {mined}, {skew // 60} minutes from "
        f"the liabilities snapshot time {snapshot_time} (allowed: {max_skew // 60} minutes); "
        "reserves must be taken at the same time as liabilities"
    )


def assess(
    declaration: ReservesDeclaration,
    ctx: EpochContext,
    liabilities: Liabilities,
    nonce_of: NonceOf,
    readers: Mapping[str, BalanceReader] | None = None,
    snapshot_time: str | None = None,
    max_block_skew: int = DEFAULT_MAX_BLOCK_SKEW,
) -> Assessment:
    readers = readers or {}
    errors: list[str] = []
    chains = {c.id: c for c in declaration.chains}
    for name in readers:
        if name not in chains:
            errors.append(f"--rpc {name}: no chain {name!r} is declared in {declaration.path}")

    # Chain balances, one chain at a time.
    on_chain: dict[tuple[str, str, str], int] = {}
    checked, unchecked = [], []
    for chain in declaration.chains:
        reader = readers.get(chain.id)
        if reader is None:
            unchecked.append(chain.id)
            continue
        wanted = [
            (w.address, a)
            for w in declaration.wallets
            if w.chain == chain.id
            for a in chain.assets
            if a.code in w.balances
        ]
        try:
            block_hash, block_time = reader.block(chain)
            if block_hash.lower() != chain.block_hash.lower():
                raise ChainError(
                    f"block {chain.block_height} has hash {block_hash} on the node, "
                    f"but the declaration says {chain.block_hash}"
                )
            if snapshot_time is not None:
                skew = _check_block_time(chain, block_time, snapshot_time, max_block_skew)
                if skew:
                    errors.append(skew)
            for token in chain.assets:
                on_node = reader.token_decimals(chain, token)
                expected = next(a.decimals for a in liabilities.assets if a.code == token.code)
                if on_node is not None and on_node != expected:
                    raise ChainError(
                        f"the {token.code} token {token.contract} has {on_node} decimals, but "
                        f"{token.code} has {expected} in porsegregate.toml; amounts would be "
                        "misread (use a separate asset code for this token)"
                    )
            for (address, code), amount in reader.balances(chain, wanted).items():
                on_chain[(chain.id, address, code)] = amount
            checked.append(chain.id)
        except ChainError as exc:
            errors.append(f"{chain.id}: cannot check balances: {exc}")

    wallets: list[Wallet] = []
    identities: list[tuple[str, str, str, str | None]] = []
    for w in declaration.wallets:
        chain = chains[w.chain]
        if w.client is not None and liabilities.index_of(w.client) is None:
            errors.append(
                f"{w.where}: client {w.client!r} of this client_dedicated wallet has no "
                "liabilities in this epoch"
            )
            continue
        tag = _tag(ctx, w, nonce_of)
        public_key: bytes | None = None
        if w.proof != UNPROVEN:
            public_key, problem = _check_control(ctx, chain, w, tag)
            if problem:
                errors.append(problem)
        holdings = []
        for code, declared in sorted(w.balances.items()):
            source = "declared"
            if chain.id in checked:
                actual = on_chain.get((chain.id, w.address, code))
                source = "chain"
                if actual is None:
                    errors.append(f"{w.where}: the node returned no {code} balance for {w.address}")
                elif actual != declared:
                    decimals = next(a.decimals for a in liabilities.assets if a.code == code)
                    errors.append(
                        f"{w.where} ({chain.id} {w.address}): {code} balance at block "
                        f"{chain.block_height} is {format_decimal(actual, decimals)} on the chain, "
                        f"but {format_decimal(declared, decimals)} is declared"
                    )
            holdings.append(Holding(code, declared, source))
        wallet = Wallet(
            chain=w.chain,
            address=w.address,
            category=w.category,
            holder=w.holder,
            label=w.label,
            client_tag=tag,
            holdings=tuple(holdings),
            proof=ControlProof(
                type=w.proof,
                signature=w.signature,
                public_key=public_key.hex() if public_key is not None else None,
                evidence=w.evidence,
            ),
        )
        wallets.append(wallet)
        identities.append(
            (
                f"{w.where}, {w.chain} {w.address}",
                w.category,
                address_key(chain, w.address),
                key_id(chain, public_key),
            )
        )
    errors.extend(commingling_problems(identities))

    coverage: list[AssetCoverage] = []
    shortfalls: list[str] = []
    warnings: list[str] = []
    for index, asset in enumerate(liabilities.assets):
        signed = next(a for a in ctx.assets if a.code == asset.code)
        dedicated: dict[str, int] = {}
        owed: dict[str, int] = {}
        for w in declaration.wallets:
            if w.client is None or asset.code not in w.balances:
                continue
            client_row = liabilities.index_of(w.client)
            if client_row is not None:
                dedicated[w.client] = dedicated.get(w.client, 0) + w.balances[asset.code]
                owed[w.client] = liabilities.amount(client_row, index) or 0
        row = compute_coverage(asset.code, asset.decimals, signed.total, wallets, dedicated, owed)
        coverage.append(row)
        d = asset.decimals
        if row.segregated < row.liabilities:
            shortfalls.append(
                f"{asset.code}: segregated reserves of {format_decimal(row.segregated, d)} "
                f"cover "
                f"{percent(row.segregated, row.liabilities)}% of client liabilities of "
                f"{format_decimal(row.liabilities, d)} "
                f"(short by {format_decimal(row.liabilities - row.segregated, d)})"
            )
        for client, held in sorted(dedicated.items()):
            if owed[client] == 0:
                wallets_of = ", ".join(
                    f"{w.where} ({w.chain} {w.address})"
                    for w in declaration.wallets
                    if w.client == client and asset.code in w.balances
                )
                warnings.append(
                    f"{asset.code}: client {client} is owed no {asset.code} in this epoch's "
                    f"liabilities, yet their client_dedicated wallet(s) {wallets_of} declare "
                    f"{format_decimal(held, d)} {asset.code}: check the wallet's client and "
                    "the ledger export"
                )
            if held < owed[client]:
                shortfalls.append(
                    f"{asset.code}: the dedicated wallet(s) of client {client} hold "
                    f"{format_decimal(held, d)} of the {format_decimal(owed[client], d)} "
                    "owed to them"
                )
    reserves = Reserves(
        chains=tuple(sorted(declaration.chains, key=lambda c: c.id)),
        wallets=tuple(sorted(wallets, key=wallet_sort_key)),
        coverage=tuple(coverage),
    )
    if declaration.chains and not checked:
        warnings.insert(
            0,
            "no chain was read from a node: every balance is declared, not checked "
            f"({', '.join(c.id for c in declaration.chains)}); give --rpc CHAIN=URL for each "
            "chain, and --snapshot-time, to check them at the snapshot block",
        )
    return Assessment(
        reserves,
        errors,
        shortfalls,
        checked,
        unchecked,
        warnings,
        epoch=ctx.epoch,
        declaration=declaration,
    )
