"""A custodian's workspace: config, encrypted signing key and master secret, data, outputs."""

from __future__ import annotations

from pathlib import Path

from .._fs import atomic_write
from ..errors import ConfigError
from ..protocol.models import Witnesses
from ..protocol.witness import vkey
from .config import CONFIG_NAME, Config, load_config
from .keys import check_passphrase, create_master_secret, create_signing_key

CONFIG_TEMPLATE = """\
# porsegregate workspace. Paths are relative to this file.

[custodian]
name = {name}
legal_entity = {legal_entity}

[segregation]
# Shown on every published page: how client assets are kept apart from the custodian's own.
arrangement = {arrangement}

# One entry per asset: the code used in the liabilities CSV and its decimals
# (amounts are integers in units of 10^-decimals).
{assets}
[files]
signing_key = "keys/custodian.key.pem"
public_key = "keys/custodian.pub.pem"
master_secret = "secrets/master-secret.json"
# Your ledger export: a CSV or Parquet file, or a directory of .csv or of .parquet files
# (README: "File formats"). {{epoch}} in a path of liabilities, reserves or codes is replaced
# by the epoch id given to the command (e.g. "data/liabilities-{{epoch}}.csv" keeps every
# month's).
liabilities = "data/liabilities.csv"
# Wallets holding the reserves: one file per epoch, signed anew each epoch (README: "Month
# two"); for --epoch 2026-11 this is data/reserves-2026-11.toml.
reserves = "data/reserves-{{epoch}}.toml"
site = "site"
codes = "private/client-codes.csv"
# The append-only transparency log of every published attestation: back it up, never edit it.
log = "log"

[schedule]
# Every attestation says when the next one is due (snapshot time + this); verifiers warn
# clients when it is overdue.
interval_days = 31

[site]
# The language of the published pages and of the browser verifier: en or de (README:
# "Languages"). Check details stay in English: they are the verifiers' technical evidence.
language = "en"

[privacy]
# What anyone reading the site can learn (README: "Privacy: what each party learns"). Every
# sum tree has one height: "auto" is ceil(log2(entries x split)), which tells nothing the
# public entry count does not; or a fixed number (1 to 62).
height = "auto"
# How many entries the proof shards hold, dummies filling the rest: "auto" (the next power of
# two at or above the client count, at least 4096) or a fixed public bound at or above it.
entries = "auto"
# Split each balance into this many random parts (1 to 16), each its own leaf, so that no
# client's path shows a neighbour's whole balance.
split = 1

# Witnesses co-sign every log checkpoint after checking it extends the one they co-signed
# before, so the site cannot show different clients different histories (README:
# "Witnesses"). Each key is the witness's C2SP verifier key, as `porsegregate witness-key`
# prints it; verifiers require `threshold` of their co-signatures. None named: threshold 0.
# [witnesses]
# threshold = 2
# keys = ["witness.example/w1+1a2b3c4d+BASE64...", "auditor.example/w+5e6f7a8b+BASE64..."]

# Who holds client assets (README: "Legal entities and documents"). Once any entity is
# declared, every wallet's holder in the reserves file must be one of these names, and a
# client_segregated or client_dedicated wallet is never held by the operating_company.
# role: custodian, trustee, bankruptcy_remote_vehicle, sub_custodian, operating_company,
# nominee or other; jurisdiction: ISO 3166-1 alpha-2 (GB, US-DE); an LEI (ISO 17442, its
# check digits are checked) or a registration number, or both.
# [[entities]]
# name = "Example Client Trustees Ltd"
# role = "trustee"
# jurisdiction = "GB"
# lei = "5493001KJTIIGC8Y1R12"
#
# [[entities]]
# name = "Example Custody Ltd"
# role = "operating_company"
# jurisdiction = "GB"
# registration = "00000000"
#
# The arrangement's documents: the SHA-256 of each file is signed in every attestation;
# publish = true puts the file itself on the site, false only its hash (show the file to
# auditors, who check it with `porsegregate audit SITE --documents DIR`).
# kind: trust_deed, custody_agreement, legal_opinion, sub_custody_agreement or other.
# [[documents]]
# title = "Declaration of trust over client assets"
# kind = "trust_deed"
# date = 2026-01-15
# binds = ["Example Client Trustees Ltd", "Example Custody Ltd"]
# file = "documents/trust-deed.pdf"
# publish = true
"""

SAMPLE_ASSETS = (("BTC", 8), ("ETH", 18), ("USDT", 6))
SAMPLE_LIABILITIES = """\
account_id,asset,amount
alice@example.com,BTC,1.25
alice@example.com,USDT,1500.50
bob-7731,ETH,12.000000000000000001
bob-7731,BTC,0.0004
carol.ltd,USDT,250000
carol.ltd,USDT,125.25
dave,BTC,0
"""

GITIGNORE = "# Never commit or publish these.\nsecrets/\nprivate/\nkeys/*.key.pem\n"


def toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_config(
    path: Path,
    name: str,
    legal_entity: str,
    arrangement: str,
    assets: tuple[tuple[str, int], ...] = SAMPLE_ASSETS,
    witnesses: Witnesses | None = None,
    extra: str = "",
) -> None:
    """The config file; `extra` is TOML appended after it (the demo's [[entities]])."""
    blocks = "".join(f'[[assets]]\ncode = "{c}"\ndecimals = {d}\n\n' for c, d in assets)
    text = CONFIG_TEMPLATE.format(
        name=toml_string(name),
        legal_entity=toml_string(legal_entity),
        arrangement=toml_string(arrangement),
        assets=blocks,
    )
    if witnesses is not None and witnesses.keys:
        keys = ", ".join(toml_string(vkey(w)) for w in witnesses.keys)
        text += f"\n[witnesses]\nthreshold = {witnesses.threshold}\nkeys = [{keys}]\n"
    text += extra
    atomic_write(path, text.encode())


def init_workspace(
    directory: Path, passphrase: bytes, force: bool = False, sample_data: bool = True
) -> Config:
    """Create config, keys, master secret and sample data; never replaces a key unless forced."""
    check_passphrase(passphrase)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise ConfigError(
            f"{config_path} already exists; refusing to overwrite a workspace (use --force)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for existing in ("keys/custodian.key.pem", "secrets/master-secret.json"):
        if (directory / existing).exists() and not force:
            raise ConfigError(f"{directory / existing} already exists; refusing to overwrite it")
    write_config(
        config_path,
        "Example Custody Ltd",
        "Example Custody Ltd, company no. 00000000, registered in England and Wales",
        "Client assets are held on trust for clients in wallets and accounts kept separate from "
        "the custodian's own assets, as required by the custody agreement.",
    )
    config = load_config(config_path)
    create_signing_key(config.signing_key, config.public_key, passphrase, overwrite=force)
    create_master_secret(config.master_secret, passphrase, overwrite=force)
    if sample_data and not config.liabilities.exists():
        atomic_write(config.liabilities, SAMPLE_LIABILITIES.encode())
    atomic_write(directory / ".gitignore", GITIGNORE.encode())
    return config
