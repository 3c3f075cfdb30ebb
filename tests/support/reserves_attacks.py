"""Attacks on the reserves of a published history, made by a custodian who edits its publisher.

The custodian holds every key (its signing key and its wallets' keys), so each attack
publishes a complete, consistently signed epoch: attestation, manifest, log and pages. What
the publisher would refuse, it is patched not to refuse, as a dishonest custodian would do
to its own copy. Shared by the Python verifier's tests, Node's, the browser's and audit's.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from porsegregate.publish.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
from porsegregate.publish.demo_reserves import (
    demo_wallet_keys,
    write_demo_reserves,
    write_signed_reserves,
)
from porsegregate.publish.pipeline import PublishOptions, prepare_epoch, publish

from .history import CLIENTS, History, run_witnesses

COUNTED_TWICE_EPOCH = "doubled"


@contextlib.contextmanager
def _publisher_without_t14() -> Iterator[None]:
    """The publisher with its T14 rules (one entry per network, one wallet once) cut out."""
    with (
        mock.patch("porsegregate.publish.reserves.shared_network_problems", lambda chains: []),
        mock.patch("porsegregate.publish.reserves.counted_twice_problems", lambda entries: []),
    ):
        yield


def count_wallets_twice(h: History, epoch: str = COUNTED_TWICE_EPOCH) -> None:
    """The review's attack (T14): a second chain entry for Bitcoin mainnet (`bitcoin-b`) and
    for chain id 1 (`ethereum-b`) lists the client-segregated wallets again; their keys sign
    the second challenges too; the signed coverage doubles. Published as the next epoch."""
    liabilities = h.workspace / "data" / f"liabilities-{epoch}.csv"
    write_synthetic_liabilities(liabilities, CLIENTS, 303)
    prepared = prepare_epoch(h.config, DEMO_PASSPHRASE, epoch, liabilities)
    reserves = h.workspace / "data" / f"reserves-{epoch}.toml"
    write_demo_reserves(reserves, prepared)
    declared = tomllib.loads(reserves.read_text())
    chains: dict[str, dict[str, Any]] = declared["chains"]
    wallets: list[dict[str, Any]] = declared["wallets"]
    doubled = {"bitcoin": "bitcoin-b", "ethereum": "ethereum-b"}
    for name, second in doubled.items():
        chains[second] = dict(chains[name])
    again = [
        {k: v for k, v in w.items() if k not in ("proof", "signature", "chain", "label")}
        | {"chain": doubled[w["chain"]], "label": w["label"] + " (again)"}
        for w in wallets
        if w["chain"] in doubled and w["category"] == "client_segregated"
    ]
    keys = demo_wallet_keys()
    with _publisher_without_t14():
        write_signed_reserves(reserves, prepared, chains, [*wallets, *again], keys)
        publish(
            h.config,
            DEMO_PASSPHRASE,
            PublishOptions(
                epoch,
                snapshot_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                site=h.site,
                codes_path=h.root / "client-codes.csv",
                liabilities_path=liabilities,
                reserves_path=reserves,
            ),
            prepared=prepared,
        )
    # Witnesses co-sign checkpoints, not reserves: the log only grew, so they co-sign (T16).
    assert run_witnesses(h, h.root / "witness-states") == []
