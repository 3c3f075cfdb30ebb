"""Attacks on the legal segregation of a published history (issue 14), and a trustee change.

Each edits a private copy of the demo's history (tests/support/history.py) the way a
dishonest custodian would: it holds every key, so what it publishes is consistently signed
(attestation, manifest, log); what its publisher refuses, it is patched not to refuse.
Shared by the Python verifier's tests and audit's, and by the browser's once they run them.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from porsegregate import _crypto
from porsegregate.protocol.legal import lei_check_digits
from porsegregate.protocol.serialization import canonical
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
from porsegregate.publish.demo_reserves import (
    OPCO,
    TRUST,
    demo_wallet_keys,
    write_demo_reserves,
    write_signed_reserves,
)
from porsegregate.publish.pipeline import PublishOptions, prepare_epoch, publish

from .history import CLIENTS, History, _resign, run_witnesses

OPCO_EPOCH = "opco-holds"
NEW_TRUSTEE_EPOCH = "new-trustee"
NEW_TRUSTEE = "Demo Replacement Trustees Ltd"
NEW_TRUSTEE_LEI = "549300DEMONEWTRUST" + lei_check_digits("549300DEMONEWTRUST")
SWAPPED_DOCUMENT = b"Declaration of trust over client assets\n\nA different text, same name.\n"


def publish_edited(
    h: History,
    epoch: str,
    seed: int,
    edit: Callable[[list[dict[str, Any]]], None],
    unchecked_holders: bool = False,
) -> None:
    """Publish the next epoch with the demo's reserves, `edit`ed (then signed anew), and
    have the demo's witnesses co-sign it. With `unchecked_holders`, the publisher's holder
    rule (legal-holders on its side) is cut out, as a dishonest custodian would."""
    liabilities = h.workspace / "data" / f"liabilities-{epoch}.csv"
    write_synthetic_liabilities(liabilities, CLIENTS, seed)
    prepared = prepare_epoch(h.config, DEMO_PASSPHRASE, epoch, liabilities)
    reserves = h.workspace / "data" / f"reserves-{epoch}.toml"
    write_demo_reserves(reserves, prepared)
    declared = tomllib.loads(reserves.read_text())
    wallets: list[dict[str, Any]] = declared["wallets"]
    edit(wallets)
    for wallet in wallets:
        wallet.pop("signature", None)
    write_signed_reserves(reserves, prepared, declared["chains"], wallets, demo_wallet_keys())
    options = PublishOptions(
        epoch,
        snapshot_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        site=h.site,
        codes_path=h.root / "client-codes.csv",
        liabilities_path=liabilities,
        reserves_path=reserves,
    )
    if unchecked_holders:
        with mock.patch("porsegregate.publish.pipeline.holder_problems", lambda *a: []):
            publish(h.config, DEMO_PASSPHRASE, options, prepared=prepared)
    else:
        publish(h.config, DEMO_PASSPHRASE, options, prepared=prepared)
    assert run_witnesses(h, h.root / "witness-states") == []


def opco_cold_wallet(wallets: list[dict[str, Any]]) -> None:
    """The first client_segregated wallet is held by the operating company."""
    wallet = next(w for w in wallets if w["category"] == "client_segregated")
    wallet["holder"] = OPCO


def operating_company_holds_client_wallet(h: History, epoch: str = OPCO_EPOCH) -> None:
    """The next epoch's first client_segregated wallet is held by the custodian's own
    operating company, signed and published (legal-holders)."""
    publish_edited(h, epoch, 404, opco_cold_wallet, unchecked_holders=True)


def swap_published_document(h: History) -> str:
    """The newest epoch's published document is replaced by other bytes, and the custodian
    re-signs the root manifest listing them: the attestation still signs the first document's
    sha256 (legal-documents). Returns the document's published name."""
    attestation = json.loads((h.site / "attestation.json").read_bytes())
    name: str = next(d["file"] for d in attestation["legal"]["documents"] if d["file"])
    path = h.site / name
    path.unlink()  # the epoch's home holds a hard link to the same file: leave it be
    path.write_bytes(SWAPPED_DOCUMENT)
    manifest_path = h.site / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["files"][name] = _crypto.sha256_hex(SWAPPED_DOCUMENT)
    _resign(h, manifest_path, canonical(manifest))
    return name


def change_trustee(h: History, epoch: str = NEW_TRUSTEE_EPOCH) -> History:
    """The custodian replaces its trustee (another name and LEI in porsegregate.toml, and as
    the holder of the wallets the old one held) and publishes the next epoch: honest, but a
    client's verifier must say so. Returns the history with its new config."""
    path = h.config.path
    text = path.read_text(encoding="utf-8")
    text = text.replace(TRUST, NEW_TRUSTEE).replace("549300DEMOTRUST00008", NEW_TRUSTEE_LEI)
    path.write_text(text, encoding="utf-8")
    changed = dataclasses.replace(h, config=load_config(path))

    def new_trustee(wallets: list[dict[str, Any]]) -> None:
        for wallet in wallets:
            if wallet["holder"] == TRUST:
                wallet["holder"] = NEW_TRUSTEE

    publish_edited(changed, epoch, 505, new_trustee)
    return changed
