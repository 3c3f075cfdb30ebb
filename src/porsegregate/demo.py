"""`porsegregate demo`: a realistic synthetic custodian, published end to end.

Also the generator of the benchmarks' inputs, so both exercise the same data
shape: several assets, each client holding some of them, heavy-tailed
balances.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .amounts import format_decimal
from .config import CONFIG_NAME, load_config
from .demo_reserves import write_demo_reserves
from .keys import create_master_secret, create_signing_key
from .publish import PublishResult, prepare_epoch, publish
from .workspace import write_config

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
    publish: PublishResult
    sample_account: str
    sample_code: str


def run_demo(
    out: Path,
    clients: int = 10_000,
    seed: int = 1,
    epoch: str = "2026-11",
    shortfall: bool = False,
) -> DemoResult:
    """A full custodian: liabilities, signed reserves on three chains, a published site.

    With `shortfall`, one asset's segregated wallets hold too little and the
    site is published with --allow-shortfall, to show how that looks.
    """
    workspace = out / "workspace"
    config_path = workspace / CONFIG_NAME
    if not config_path.exists():
        write_config(
            config_path,
            "Demo Custody Ltd",
            "Demo Custody Ltd (a fictional company for this demonstration)",
            "Client assets are held by Demo Custody Trustees Ltd, a bankruptcy-remote trust "
            "company, in wallets that hold only client assets; the custodian's own assets are "
            "held in separate wallets.",
            tuple((c, d) for c, d, _, _ in DEMO_ASSETS),
        )
    config = load_config(config_path)
    if not config.signing_key.exists():
        create_signing_key(config.signing_key, config.public_key, DEMO_PASSPHRASE)
    if not config.master_secret.exists():
        create_master_secret(config.master_secret, DEMO_PASSPHRASE)
    write_synthetic_liabilities(config.liabilities, clients, seed)
    prepared = prepare_epoch(config, DEMO_PASSPHRASE, epoch)
    dedicated_client = write_demo_reserves(config.reserves, prepared, shortfall)
    result = publish(
        config,
        DEMO_PASSPHRASE,
        epoch,
        snapshot_time="2026-11-30T23:59:59Z",
        site=out / "site",
        codes_path=out / "client-codes.csv",
        replace=True,
        allow_shortfall=shortfall,
        prepared=prepared,
    )
    # The sample client is the one with a dedicated wallet, so a first try shows everything.
    with result.codes.open(encoding="utf-8") as f:
        codes = dict(line.rstrip("\n").split(",", 1) for line in f)
    return DemoResult(workspace, result, dedicated_client, codes[dedicated_client])
