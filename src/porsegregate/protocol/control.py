"""Proof of control: the message each wallet key signs, and checking that it did.

The message binds everything a signature must not be reusable across: the
custodian (name and signing-key fingerprint), the epoch, the SHA-256 of the
epoch's liabilities section, the chain, the address, the category, the
holder and, for a client_dedicated wallet, the client's tag (T11). Checking a
signature is the chain modules' job (chains/), and so is what the chain sees of
an address (chains.wallet_identity); when two wallets are one (T14), or share a
key across categories (commingling, T11), is the protocol's, and lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .hashing import LABEL
from .models import AssetLiabilities, ChainSnapshot

MESSAGE_TITLE = "porsegregate proof of control"


def control_message(
    *,
    custodian: str,
    fingerprint: str,
    epoch: str,
    liabilities_sha256: str,
    chain: str,
    address: str,
    category: str,
    holder: str,
    client_tag: bytes | None,
) -> str:
    """The exact text to sign: ten lines joined by "\\n", no trailing newline."""
    return "\n".join(
        [
            f"{MESSAGE_TITLE} ({LABEL})",
            f"custodian: {custodian}",
            f"custodian key: {fingerprint}",
            f"epoch: {epoch}",
            f"liabilities: {liabilities_sha256}",
            f"chain: {chain}",
            f"address: {address}",
            f"category: {category}",
            f"holder: {holder}",
            f"client: {client_tag.hex() if client_tag is not None else 'none'}",
        ]
    )


class _Declared(Protocol):
    """What a message needs of a wallet, declared (publisher) or signed (verifier)."""

    @property
    def chain(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def holder(self) -> str: ...


@dataclass(frozen=True)
class EpochContext:
    """What every proof-of-control message of an epoch binds."""

    custodian: str
    fingerprint: str
    epoch: str
    liabilities_sha256: str
    assets: tuple[AssetLiabilities, ...]

    def message(self, wallet: _Declared, category: str, tag: bytes | None) -> str:
        return control_message(
            custodian=self.custodian,
            fingerprint=self.fingerprint,
            epoch=self.epoch,
            liabilities_sha256=self.liabilities_sha256,
            chain=wallet.chain,
            address=wallet.address,
            category=category,
            holder=wallet.holder,
            client_tag=tag,
        )


def shared_network_problems(chains: Iterable[ChainSnapshot]) -> list[str]:
    """One problem per chain entry naming a network an earlier entry of its kind names (T14).

    Two entries for one network would let the same wallets be listed, and counted, twice.
    """
    first: dict[tuple[str, str], str] = {}
    problems = []
    for chain in chains:
        seen = first.setdefault((chain.kind, chain.network), chain.id)
        if seen != chain.id:
            problems.append(
                f"chains {seen} and {chain.id} are the same {chain.kind} network "
                f"({chain.network}): a network is listed once, so that no wallet is counted twice"
            )
    return problems


def counted_twice_problems(entries: Iterable[tuple[str, str]]) -> list[str]:
    """One problem per wallet whose identity (chains.wallet_identity) an earlier one has (T14).

    Each entry is (where, identity); this holds within a category as much as across them.
    """
    first: dict[str, str] = {}
    problems = []
    for where, identity in entries:
        if identity in first:
            problems.append(
                f"{where} is the same wallet as {first[identity]} (what the chain sees is the "
                "same): a wallet is declared, and counted, once"
            )
        else:
            first[identity] = where
    return problems


def address_key(chain: ChainSnapshot, address: str) -> str:
    """Who controls an address, for commingling across categories (T11): an EVM address is
    the same key on every EVM chain. (Which balance it is, for T14, is chains.wallet_identity.)"""
    return f"evm:{address.lower()}" if chain.kind == "evm" else f"{chain.id}:{address}"


def key_id(chain: ChainSnapshot, public_key: bytes | None) -> str | None:
    if public_key is None:
        return None
    curve = "ed25519" if chain.kind == "ed25519" else "secp256k1"
    return f"{curve}:{public_key.hex()}"


def commingling_problems(entries: list[tuple[str, str, str, str | None]]) -> list[str]:
    """One problem per address or public key found in two categories (T11).

    Each entry is (where, category, address identity, public key identity or None).
    """
    problems = []
    for position, what in ((2, "address"), (3, "public key")):
        first: dict[str, tuple[str, str]] = {}
        for entry in entries:
            key = entry[position]
            if key is None:
                continue
            seen = first.setdefault(key, (entry[0], entry[1]))
            if seen[1] != entry[1]:
                problems.append(
                    f"commingling: the same {what} is in {seen[1]} ({seen[0]}) and in "
                    f"{entry[1]} ({entry[0]})"
                )
    return problems
