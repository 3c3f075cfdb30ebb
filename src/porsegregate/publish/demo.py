"""`porsegregate demo`: a realistic synthetic custodian, published end to end.

Also the generator of the benchmarks' inputs, so both exercise the same data
shape: several assets, each client holding some of them, heavy-tailed
balances.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .. import _crypto
from .._fs import atomic_write, write_secret
from ..progress import Progress
from ..protocol import layout
from ..protocol.amounts import format_decimal
from ..protocol.hashing import PROTOCOL_VERSION
from ..protocol.models import Witness, Witnesses
from ..protocol.witness import cosignature_line, parse_note
from .client_codes import read_client_codes
from .config import CONFIG_NAME, Config, load_config
from .demo_reserves import BANK, OPCO, SPV, TRUST, write_demo_reserves
from .i18n import DEFAULT_LANGUAGE, check_language
from .keys import create_master_secret, create_signing_key, load_signing_key
from .pipeline import PublishOptions, PublishResult, prepare_epoch, publish
from .workspace import toml_string, write_config

DEMO_PASSPHRASE = b"porsegregate-demo-only"
# (code, decimals, share of clients holding it, median balance in asset units)
DEMO_ASSETS = (
    ("BTC", 8, 0.85, 0.05),
    ("ETH", 18, 0.70, 0.8),
    ("USDT", 6, 0.60, 900.0),
    ("USDC", 6, 0.45, 600.0),
    ("SOL", 9, 0.40, 12.0),
)


def write_synthetic_liabilities(path: Path, clients: int, seed: int) -> int:
    """Writes the CSV; returns the number of rows. About 3 assets per client on average."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    rows = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("account_id,asset,amount\n")
        for i in range(clients):
            account = f"C{i + 1:08d}"
            held = [a for a in DEMO_ASSETS if rng.random() < a[2]] or [DEMO_ASSETS[0]]
            for code, decimals, _, median in held:
                # Heavy tail: lognormal body with a Pareto tail for the whales.
                value = rng.lognormvariate(0, 1.6) * median
                if rng.random() < 0.01:
                    value *= rng.paretovariate(1.2) * 50
                units = int(value * 10 ** min(decimals, 8)) * 10 ** (decimals - min(decimals, 8))
                f.write(f"{account},{code},{format_decimal(units, decimals)}\n")
                rows += 1
    return rows


@dataclass(frozen=True)
class DemoResult:
    workspace: Path
    publish: PublishResult  # the newest epoch's
    sample_account: str
    sample_code: str
    clients: int  # as asked for


def demo_epochs(count: int, now: datetime | None = None) -> list[tuple[str, str]]:
    """(epoch id, snapshot time) of the last `count` month-ends before now, oldest first.

    Relative to today, so the demo's newest attestation is never overdue.
    """
    first = (now or datetime.now(UTC)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    for _ in range(count):
        end = first - timedelta(seconds=1)
        out.append((end.strftime("%Y-%m"), layout.format_time(end)))
        first = end.replace(day=1, hour=0, minute=0, second=0)
    return list(reversed(out))


DEMO_WITNESSES = ("witness-1.demo.example", "witness-2.demo.example")


def demo_witness_keys(workspace: Path) -> list[tuple[str, _crypto.Ed25519PrivateKey]]:
    """The demo's two witnesses (name, key), made once; a real custodian's witnesses are
    independent parties who keep their own keys (README: "Quickstart for a witness")."""
    out = []
    for number, name in enumerate(DEMO_WITNESSES, 1):
        path = workspace / "keys" / f"witness-{number}.key.pem"
        if not path.exists():
            key = _crypto.generate_signing_key()
            write_secret(path, _crypto.private_key_pem(key, DEMO_PASSPHRASE))
        out.append((name, load_signing_key(path, DEMO_PASSPHRASE)))
    return out


def demo_witnesses(keys: list[tuple[str, _crypto.Ed25519PrivateKey]]) -> Witnesses:
    return Witnesses(
        len(keys),
        tuple(Witness(name, _crypto.raw_public_key(k.public_key())) for name, k in keys),
    )


def demo_cosign(site: Path, epoch: str, keys: list[tuple[str, _crypto.Ed25519PrivateKey]]) -> None:
    """The demo's witnesses co-sign the checkpoint it just published (section 13's files).

    The demo holds its witnesses' keys, so this shows the files and lets the demo site
    verify; it proves nothing. `porsegregate witness` is what a real witness runs: it also
    checks the site and that the log only grew since the checkpoint it co-signed last.
    """
    note = (site / layout.CHECKPOINT_NOTE).read_bytes()
    body = parse_note(note).body
    size = int(body.split(b"\n")[1])
    timestamp = int(datetime.now(UTC).timestamp())
    for name, key in keys:
        data = note + cosignature_line(key, name, body, timestamp)
        fingerprint = _crypto.fingerprint(key.public_key())
        relative = layout.witness_cosignature_name(size, fingerprint)
        for folder in (site, site / layout.epoch_home(epoch)):
            atomic_write(folder / relative, data)


# The demo's legal entities: (name, role, jurisdiction, LEI, registration). The LEIs have
# valid ISO 7064 check digits, but belong to no real company.
DEMO_ENTITIES = (
    (TRUST, "trustee", "GB", "549300DEMOTRUST00008", None),
    (SPV, "bankruptcy_remote_vehicle", "JE", None, "JE-123456"),
    (OPCO, "operating_company", "GB", "549300DEMOOPCO000130", "00000001"),
    (BANK, "sub_custodian", "GB", "213800EXAMPLEBANK159", None),
)
# (file name, title, kind, date, binds, published): one published, two by hash only.
DEMO_DOCUMENTS = (
    (
        "trust-deed.txt",
        "Declaration of trust over client assets",
        "trust_deed",
        "2026-01-15",
        (OPCO, TRUST),
        True,
    ),
    (
        "sub-custody-agreement.txt",
        "Sub-custody agreement with Example Bank plc",
        "sub_custody_agreement",
        "2026-02-01",
        (OPCO, BANK),
        False,
    ),
    (
        "legal-opinion.txt",
        "Legal opinion on the bankruptcy-remoteness of Demo Client Assets SPV Ltd",
        "legal_opinion",
        "2026-03-10",
        (SPV, OPCO),
        False,
    ),
)
DEMO_DOCUMENTS_DIR = "documents"


def _demo_documents(workspace: Path) -> None:
    """The demo's documents: small text files standing in for the signed originals."""
    for name, title, kind, day, binds, _ in DEMO_DOCUMENTS:
        text = (
            f"{title}\n\nA fictional {kind.replace('_', ' ')} of the porsegregate demo, dated "
            f"{day}, between {' and '.join(binds)}.\nIt binds no one; it shows how a "
            "document's SHA-256 is signed in every attestation.\n"
        )
        path = workspace / DEMO_DOCUMENTS_DIR / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text.encode())


def demo_legal_toml() -> str:
    """The demo's [[entities]] and [[documents]] tables."""
    out = []
    for name, role, jurisdiction, lei, registration in DEMO_ENTITIES:
        out.append(
            f"\n[[entities]]\nname = {toml_string(name)}\nrole = {toml_string(role)}\n"
            f"jurisdiction = {toml_string(jurisdiction)}\n"
            + (f"lei = {toml_string(lei)}\n" if lei else "")
            + (f"registration = {toml_string(registration)}\n" if registration else "")
        )
    for file, title, kind, day, binds, published in DEMO_DOCUMENTS:
        out.append(
            f"\n[[documents]]\ntitle = {toml_string(title)}\nkind = {toml_string(kind)}\n"
            f"date = {day}\nbinds = [{', '.join(toml_string(b) for b in binds)}]\n"
            f"file = {toml_string(DEMO_DOCUMENTS_DIR + '/' + file)}\n"
            f"publish = {'true' if published else 'false'}\n"
        )
    return "".join(out)


def _demo_config(config_path: Path, witnesses: Witnesses) -> Config:
    _demo_documents(config_path.parent)
    config = load_config(config_path) if config_path.exists() else None
    if config is None or config.witnesses != witnesses or config.legal is None:
        write_config(
            config_path,
            "Demo Custody Ltd",
            "Demo Custody Ltd (a fictional company for this demonstration)",
            "Client assets are held on trust by Demo Custody Trustees Ltd and by Demo Client "
            "Assets SPV Ltd, a bankruptcy-remote vehicle, in wallets that hold only client "
            "assets; the custodian's own assets are "
            "held in separate wallets.",
            tuple((c, d) for c, d, _, _ in DEMO_ASSETS),
            witnesses,
            demo_legal_toml(),
        )
        config = load_config(config_path)
    return config


def run_demo(
    out: Path,
    clients: int = 10_000,
    seed: int = 1,
    epochs: int = 3,
    shortfall: bool = False,
    language: str = DEFAULT_LANGUAGE,
    first_format: str | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """A full custodian over several monthly epochs: liabilities, signed reserves, the log.

    Each epoch's balances move on (a different seed for the same clients), its
    reserves are declared and signed anew, and it is appended to the log, so
    the site has a history. With `shortfall`, one asset's segregated wallets
    hold too little in the newest epoch, published with --allow-shortfall.
    Running the demo again starts its history over (its keys are kept).
    `first_format` (porsegregate/1) publishes every epoch but the newest in that format: a
    history begun before porsegregate/2, as the tests of both verifiers need.
    """
    workspace = out / "workspace"
    config_path = workspace / CONFIG_NAME
    witness_keys = demo_witness_keys(workspace)
    config = _demo_config(config_path, demo_witnesses(witness_keys))
    # The demo's own choice, like `[site] language` in a custodian's config.
    config = replace(config, language=check_language(language, "demo --language"))
    if not config.signing_key.exists():
        create_signing_key(config.signing_key, config.public_key, DEMO_PASSPHRASE)
    if not config.master_secret.exists():
        create_master_secret(config.master_secret, DEMO_PASSPHRASE)
    site = out / "site"
    for owned in (site, config.log):  # the demo's own history: start it over
        if owned.exists():
            shutil.rmtree(owned)
    result: PublishResult | None = None
    dedicated_client = ""
    schedule = demo_epochs(epochs)
    for number, (epoch, snapshot) in enumerate(schedule, 1):
        write_synthetic_liabilities(config.liabilities, clients, seed + number - 1)
        last = number == len(schedule)
        fmt = first_format if first_format is not None and not last else PROTOCOL_VERSION
        prepared = prepare_epoch(config, DEMO_PASSPHRASE, epoch, fmt=fmt, progress=progress)
        reserves = workspace / "data" / f"reserves-{epoch}.toml"
        dedicated_client = write_demo_reserves(reserves, prepared, shortfall and last)
        options = PublishOptions(
            epoch,
            snapshot_time=snapshot,
            site=site,
            codes_path=out / "client-codes.csv",
            reserves_path=reserves,
            allow_shortfall=shortfall and last,
            fmt=fmt,
        )
        result = publish(config, DEMO_PASSPHRASE, options, prepared=prepared, progress=progress)
        demo_cosign(site, epoch, witness_keys)
    assert result is not None
    # The sample client is the one with a dedicated wallet, so a first try shows everything.
    code = read_client_codes(result.codes)[dedicated_client]
    return DemoResult(workspace, result, dedicated_client, code, clients)
