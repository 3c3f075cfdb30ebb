"""What every chain family provides, as typed Protocols: the registry (chains/__init__)
hands out a ChainFamily per kind, and a family hands out BalanceReaders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import ChainError, InputError, SignatureError
from ..protocol.models import ChainAsset, ChainSnapshot


class BalanceReader(Protocol):
    """Reads balances of one chain at its snapshot block from a node or API."""

    @property
    def node(self) -> str:
        """The node's URL as it may be shown: without credentials, path or query."""

    def network(self, chain: ChainSnapshot) -> str:
        """The network the node serves, spelled as a chain's `network` in the attestation
        (an EVM chain id in decimal, a Bitcoin network name), whatever `chain` declares."""

    def block(self, chain: ChainSnapshot) -> tuple[str, int]:
        """(hash, unix time) of the chain's snapshot block, as the node knows it."""

    def balances(
        self, chain: ChainSnapshot, holdings: list[tuple[str, ChainAsset]]
    ) -> dict[tuple[str, str], int]:
        """{(address, asset code): smallest units} at the snapshot block."""

    def token_decimals(self, chain: ChainSnapshot, asset: ChainAsset) -> int | None:
        """A token's decimals on the chain (None for a native coin or where unknown)."""

    def block_at_or_before(self, chain: ChainSnapshot, time: int) -> tuple[int, str, int]:
        """(height, hash, unix time) of the node's last block with a time at or before
        `time` (unix seconds), for `reserves snapshot`; ChainError when the node serves
        another network, its first block is later, or its newest is not yet later."""


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_block_at_or_before(
    tip: int, block: Callable[[int], tuple[str, int]], time: int, node: str
) -> tuple[int, str, int]:
    """Binary search over heights 0..tip for the last block whose time is at or before
    `time`; `block(height)` is (hash, unix time). Block times are taken as ordered by
    height: true of EVM chains; on Bitcoin a block's time may be up to about two hours
    before its predecessor's, so the block found is the last one before the first
    block time after `time` that the search met, within those hours of the exact one.
    """
    first_hash, first_time = block(0)
    if first_time > time:
        raise ChainError(
            f"{node}: the chain's first block has time {_iso(first_time)}, after the snapshot "
            f"time {_iso(time)}"
        )
    _, tip_time = block(tip)
    if tip_time <= time:
        raise ChainError(
            f"{node}: the newest block {tip} has time {_iso(tip_time)}, not after the snapshot "
            f"time {_iso(time)}: a block "
            "still to come may be at or before the snapshot time; wait until the chain has "
            "passed it"
        )
    low, low_hash, low_time = 0, first_hash, first_time  # time(low) <= time < time(high)
    high = tip
    while high - low > 1:
        middle = (low + high) // 2
        middle_hash, middle_time = block(middle)
        if middle_time <= time:
            low, low_hash, low_time = middle, middle_hash, middle_time
        else:
            high = middle
    return low, low_hash, low_time


@dataclass(frozen=True)
class ChainReading:
    """One chain of a signed attestation read again from someone else's node (section 12).

    `network` and `block_hash` are what the node says; `balances` ({(address, asset
    code): smallest units}) is None when nothing was read: the node serves another
    network or has another block at the height (so its balances would say nothing
    about the signed ones), or the chain has no holding read from a chain at all.
    `declared` counts the chain's holdings published as declared: never re-read.
    """

    chain: str
    node: str
    network: str | None
    block_height: int
    block_hash: str | None
    balances: Mapping[tuple[str, str], int] | None = field(default=None)
    declared: int = 0


class ChainFamily(Protocol):
    """Everything that differs between kinds of chain, for one kind of the protocol's table.

    Each module of chains/ is named after its kind and defines ``FAMILY``, an
    object with these members. Demo keys are 32 bytes; their ``address_type`` is
    one of the family's address forms (a Bitcoin address type such as "p2wpkh"),
    or the kind itself where the family has only one.
    """

    @property
    def kind(self) -> str:
        """The kind, as in the protocol's CHAIN_KINDS ("evm", "bitcoin", ...)."""

    @property
    def proof_types(self) -> tuple[str, ...]:
        """The proof-of-control formats of this kind: its row of the protocol's PROOF_TYPES."""

    @property
    def tokens(self) -> bool:
        """Whether a chain of this kind may carry tokens besides its native coin."""

    def network(self, table: Mapping[str, Any]) -> str:
        """The network a chain's table in a reserves declaration names; ValueError saying
        what is wrong (the reader adds where)."""

    def block_hash(self, text: str) -> str:
        """A declared block hash in its one spelling; ValueError("block_hash must be ...")."""

    def normalize_address(self, address: str, network: str) -> str:
        """The address in its one canonical spelling; AddressError saying what is wrong."""

    def identity(self, address: str, network: str) -> str:
        """What the chain itself sees of `address` on `network`, in one spelling (lower-case
        hex): the output script a Bitcoin address pays, an EVM address's 20 bytes, an Ed25519
        key. Two addresses with one identity are one wallet (T14). AddressError if invalid."""

    def verify_control(
        self, *, network: str, address: str, proof_type: str, signature: str, message: str
    ) -> bytes | None:
        """The public key that signed `message` for `address`, or None where the proof hides
        it. SignatureError when it does not verify (or `proof_type` is not one of ours),
        AddressError for an invalid address."""

    def balance_reader(self, chain: ChainSnapshot, url: str) -> BalanceReader:
        """A reader of the chain's balances from the node or API at `url`; InputError when
        this kind's balances cannot be read, ValueError for a malformed URL."""

    def demo_address(self, key: bytes, address_type: str, network: str) -> str:
        """The address of a demo key."""

    def demo_proof_type(self, address_type: str) -> str:
        """The proof type a demo key of this address type signs with."""

    def demo_sign(self, key: bytes, address_type: str, network: str, message: str) -> str:
        """The demo key's signature of `message`, as its wallet would make it."""


def unsupported_proof(kind: str, proof_type: str) -> SignatureError:
    """The error for a proof type that cannot prove control on chains of `kind`."""
    return SignatureError(f"a {proof_type} signature cannot prove control on a {kind} chain")


def refuse_tokens(chain: ChainSnapshot) -> None:
    """Token balances are read on evm chains only: InputError for another chain with tokens."""
    if any(asset.contract is not None for asset in chain.assets):
        raise InputError("token balances can only be read on evm chains")
