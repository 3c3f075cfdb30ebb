"""Time the reserves checks with many wallets: the custodian's check and a client's verify.

    python benchmarks/bench_reserves.py                  # 1,000 and 10,000 EVM wallets
    python benchmarks/bench_reserves.py --wallets 2000 --runs 5

Wallets are declared in a CSV (the format meant for thousands), each signed
for real by its own key. Timed, in process: `assess_reserves` (what `reserves
check` and `publish` run: parse, recover and compare every signature,
commingling, coverage) and `verify_site` for one client of a site that lists
every wallet (the client CLI re-verifies every signature). Baseline, measured
in the same run: eth-account recovering the signer of every message, the floor
any EIP-191 check pays. Medians of several runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct

from porsegregate import _crypto
from porsegregate.chains import evm
from porsegregate.publish.assess import challenges
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import DEMO_PASSPHRASE
from porsegregate.publish.pipeline import PublishOptions, assess_reserves, prepare_epoch, publish
from porsegregate.publish.reserves import CSV_HEADER, read_reserves
from porsegregate.publish.workspace import init_workspace
from porsegregate.verify.client import verify_site

EPOCH = "bench"
CHAIN = '[chains.ethereum]\nkind = "evm"\nchain_id = 1\nblock = 1\nblock_hash = "0x{h}"\n'
CHAIN += 'assets = {{ ETH = "native" }}\n'


def write_declaration(root: Path, count: int, prepared: object) -> tuple[Path, list[str]]:
    keys = [_crypto.sha256(b"porsegregate bench wallet %d" % i) for i in range(count)]
    addresses = [evm.address_of(k) for k in keys]
    toml = root / "reserves.toml"
    toml.write_text('wallets_csv = "wallets.csv"\n' + CHAIN.format(h="ab" * 32))

    def write_csv(signatures: list[str]) -> None:
        with (root / "wallets.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_HEADER)
            for i, address in enumerate(addresses):
                sig = signatures[i] if signatures else ""
                w.writerow(["ethereum", address, "client_segregated", "Bench Trust", "",
                            "", "ETH", "0.01", "eip191", sig, ""])  # fmt: skip

    write_csv([])
    config = prepared.config  # type: ignore[attr-defined]
    declaration = read_reserves(toml, config.assets, signed=False)
    items = challenges(declaration, prepared.context, prepared.nonce_of)  # type: ignore[attr-defined]
    by_address = {item.address: item.message for item in items}
    messages = [by_address[a] for a in addresses]
    write_csv([evm.sign_personal(m, k) for m, k in zip(messages, keys, strict=True)])
    return toml, messages


def bench(count: int, runs: int, root: Path) -> dict[str, object]:
    ws = root / f"ws-{count}"
    init_workspace(ws, DEMO_PASSPHRASE)
    config = load_config(ws / "porsegregate.toml")
    prepared = prepare_epoch(config, DEMO_PASSPHRASE, EPOCH)
    toml, messages = write_declaration(ws, count, prepared)
    signatures = {}
    with (ws / "wallets.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            signatures[row["address"]] = row["signature"]
    pairs = list(zip(messages, signatures.values(), strict=True))

    def baseline() -> float:
        start = time.perf_counter()
        for message, signature in pairs:
            Account.recover_message(encode_defunct(text=message), signature=signature)
        return time.perf_counter() - start

    def check() -> float:
        start = time.perf_counter()
        result = assess_reserves(prepared, read_reserves(toml, config.assets))
        elapsed = time.perf_counter() - start
        assert not result.errors, result.errors[:3]
        return elapsed

    site = ws / "site"
    options = PublishOptions(
        EPOCH, snapshot_time="2026-11-30T23:59:59Z", reserves_path=toml, allow_shortfall=True
    )
    publish(config, DEMO_PASSPHRASE, options, prepared=prepared)
    account, code = next(iter(read_client_codes(ws / "private" / "client-codes.csv").items()))

    def client() -> float:
        start = time.perf_counter()
        report = verify_site(str(site), account, code)
        elapsed = time.perf_counter() - start
        assert report.verified, report.failed
        return elapsed

    base = [baseline() for _ in range(runs)]
    checks = [check() for _ in range(runs)]
    clients = [client() for _ in range(runs)]
    return {
        "wallets": count,
        "runs": runs,
        "check_seconds_median": round(statistics.median(checks), 3),
        "client_verify_seconds_median": round(statistics.median(clients), 3),
        "baseline_recover_seconds_median": round(statistics.median(base), 3),
        "check_ratio_to_baseline": round(statistics.median(checks) / statistics.median(base), 2),
        "client_ratio_to_baseline": round(statistics.median(clients) / statistics.median(base), 2),
        "attestation_kib": round((site / "attestation.json").stat().st_size / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    report = []
    with tempfile.TemporaryDirectory(prefix="porsegregate-bench-") as tmp:
        for count in args.wallets:
            result = bench(count, args.runs, Path(tmp))
            report.append(result)
            print(json.dumps(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reserves.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
