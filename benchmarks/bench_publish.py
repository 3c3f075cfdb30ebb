"""Time `porsegregate publish` for large custodians; report wall time and peak memory.

    python benchmarks/bench_publish.py                   # 100,000 and 1,000,000 clients
    python benchmarks/bench_publish.py --clients 100000 --runs 5

Each publish runs as a real subprocess (`python -m porsegregate.cli publish`)
so its peak resident memory is measured alone (wait4 rusage). The inputs come
from the demo generator (5 assets, about 3 per client, heavy-tailed
balances). Machines are shared and noisy, so the report gives medians of
several runs and a ratio to a baseline measured in the same run: one plain
Python pass over the same CSV that hashes every row once.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from porsegregate.publish.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
from porsegregate.publish.workspace import init_workspace, write_config

ASSETS = (("BTC", 8), ("ETH", 18), ("SOL", 9), ("USDC", 6), ("USDT", 6))


def baseline(csv_path: Path) -> float:
    start = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            hashlib.sha256(",".join(row).encode()).digest()
    return time.perf_counter() - start


def publish_once(ws: Path, epoch: str) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, site bytes)."""
    env = {**os.environ, "PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()}
    cmd = [
        sys.executable,
        "-m",
        "porsegregate.cli",
        "publish",
        "-w",
        str(ws),
        "--epoch",
        epoch,
        "--json",
        "--replace",
        "--snapshot-time",
        "2026-11-30T23:59:59Z",
        "--allow-shortfall",  # liabilities only: no reserves are declared here
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"publish failed: {err.decode()}")
    return wall, usage.ru_maxrss / 1024, json.loads(out)["bytes"]


def bench(clients: int, runs: int, root: Path) -> dict[str, object]:
    ws = root / f"ws-{clients}"
    init_workspace(ws, DEMO_PASSPHRASE, sample_data=False)
    write_config(
        ws / "porsegregate.toml",
        "Bench Custody",
        "Bench Custody Ltd",
        "Benchmark data only.",
        ASSETS,
    )
    rows = write_synthetic_liabilities(ws / "data" / "liabilities.csv", clients, seed=7)
    base = [baseline(ws / "data" / "liabilities.csv") for _ in range(max(3, runs))]
    results = [publish_once(ws, "bench") for _ in range(runs)]
    walls = [r[0] for r in results]
    return {
        "clients": clients,
        "rows": rows,
        "runs": runs,
        "wall_seconds_median": round(statistics.median(walls), 2),
        "wall_seconds_min": round(min(walls), 2),
        "wall_seconds_max": round(max(walls), 2),
        "peak_rss_mib_max": round(max(r[1] for r in results), 1),
        "site_mib": round(results[-1][2] / 2**20, 1),
        "baseline_seconds_median": round(statistics.median(base), 3),
        "ratio_to_baseline": round(statistics.median(walls) / statistics.median(base), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    report = []
    with tempfile.TemporaryDirectory(prefix="porsegregate-bench-") as tmp:
        for clients in args.clients:
            result = bench(clients, args.runs, Path(tmp))
            report.append(result)
            print(json.dumps(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "publish.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
