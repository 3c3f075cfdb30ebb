"""Publish cost of issue 10's privacy settings (porsegregate/2) against the tree before it.

    python benchmarks/bench_privacy.py                          # 100,000 and 1,000,000 clients
    python benchmarks/bench_privacy.py --clients 10000 --runs 1  # a quick check

One run measures several source trees side by side on the same inputs:

* before: the code of commit 0cad1a8 (the last porsegregate/1 publisher), extracted
  with `git archive` into --before-tree (default WORK/tree-0cad1a8) if that
  directory is missing; an existing checkout of it (a `git worktree`) works too;
* after: the tree this script lives in (--after-tree), once with the default
  privacy settings (no [privacy] table) and once with `[privacy] split = 2`.

Every publish runs as a subprocess, `PYTHONPATH=TREE/src python -m
porsegregate.cli publish`, one at a time, into a fresh workspace site (the
site, log and codes of the previous run are removed first, outside the
timing), so each run is a first publish of one epoch. Reported per tree,
setting and client count (medians of --runs runs): wall time, CPU time of the
child (user + system), peak resident memory (wait4), the site's bytes (every
file once, hard links counted once; `disk` is allocated blocks, as du shows),
bytes per client, the number of encrypted entries in the epoch's shards (the
u32 counts after each shard's b"PSS1", or after a b"PSS2" shard's header and
path), and ratios to the before row of the same client count.

The inputs are the demo generator's (5 assets, about 3 per client,
heavy-tailed balances, seed 7), produced by the before tree's generator (its
code never changes, so the inputs stay the same for every later tree), once
per client count into WORK/inputs and reused; generation is not timed.

A setting the after tree does not know (a tree without [privacy] silently
ignores the table) is found by a small probe publish whose attestation must
show the setting (split = k: every asset's `parts` is k); such a row is
reported as "setting unsupported" and skipped.

Results: a table on stdout and --out (default benchmarks/results/privacy.json,
which git ignores like the other benchmarks' results).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BEFORE_COMMIT = "0cad1a8"
ASSETS = (("BTC", 8), ("ETH", 18), ("SOL", 9), ("USDC", 6), ("USDT", 6))
PASSPHRASE = "porsegregate-benchmark-only"  # given to the children in the environment
EPOCH = "bench"
SEED = 7
PROBE_CLIENTS = 200
SHARD_MAGIC = b"PSS1"
SHARD_MAGIC_V2 = b"PSS2"

# Run inside a tree (PYTHONPATH=TREE/src): a workspace with the benchmark's assets.
SETUP = """
import json, os, sys
from pathlib import Path
import porsegregate
from porsegregate.publish.workspace import init_workspace, write_config
ws = Path(sys.argv[1])
init_workspace(ws, os.environb[b"PORSEGREGATE_PASSPHRASE"], force=True, sample_data=False)
assets = tuple((code, decimals) for code, decimals in json.loads(sys.argv[2]))
write_config(ws / "porsegregate.toml", "Bench Custody", "Bench Custody Ltd",
             "Benchmark data only.", assets)
print(porsegregate.__file__)
"""

# Run inside the before tree: the demo's synthetic ledger.
GENERATE = """
import sys
from pathlib import Path
from porsegregate.publish.demo import write_synthetic_liabilities
print(write_synthetic_liabilities(Path(sys.argv[1]), int(sys.argv[2]), seed=int(sys.argv[3])))
"""


@dataclass(frozen=True)
class Variant:
    name: str
    tree: Path
    privacy: dict[str, int] = field(default_factory=dict)  # the [privacy] table, empty: none


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_mib: float
    site_bytes: int
    site_disk_bytes: int
    shard_bytes: int
    entries: int
    shards: int


class Unsupported(Exception):
    """The tree does not implement a setting asked for."""


def env_for(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src"), "PORSEGREGATE_PASSPHRASE": PASSPHRASE}


def in_tree(tree: Path, code: str, *args: str) -> str:
    """Runs a snippet with the tree's package; its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env_for(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"in {tree}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def ensure_before_tree(repo: Path, path: Path, commit: str) -> str:
    """The before tree at `path`, extracted from the repository if missing; its full commit."""
    full = git(repo, "rev-parse", "--verify", f"{commit}^{{commit}}")
    if (path / "src" / "porsegregate").is_dir():
        held = tree_commit(path)
        if held["commit"] != full or held["dirty"]:
            state = " with changes to src" if held["dirty"] else ""
            raise SystemExit(f"{path} holds commit {held['commit']}{state}, not {full}")
        return full
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path} exists but holds no src/porsegregate: not a source tree")
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", full],
        capture_output=True,
        check=True,
    ).stdout
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(partial, filter="data")
    (partial / ".porbench-commit").write_text(full + "\n")
    if path.exists():
        path.rmdir()
    partial.rename(path)
    return full


def tree_commit(tree: Path) -> dict[str, Any]:
    """The tree's commit (ours from `git archive`, else git's) and whether its src/ is edited."""
    marker = tree / ".porbench-commit"
    if marker.exists():
        return {"commit": marker.read_text().strip(), "dirty": False}
    try:
        head = git(tree, "rev-parse", "HEAD")
        dirty = bool(git(tree, "status", "--porcelain", "--untracked-files=no", "--", "src"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"commit": None, "dirty": False}
    return {"commit": head, "dirty": dirty}


def inputs(work: Path, before: Path, clients: int) -> tuple[Path, int]:
    """The cached ledger for this client count, generated once; (path, rows)."""
    folder = work / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"liabilities-{clients}-seed{SEED}.csv"
    if not csv_path.exists():
        partial = csv_path.with_suffix(".partial")
        print(f"generating {clients:,} clients into {csv_path}", file=sys.stderr, flush=True)
        in_tree(before, GENERATE, str(partial), str(clients), str(SEED))
        partial.rename(csv_path)
    with csv_path.open("rb") as f:
        rows = sum(1 for _ in f) - 1
    return csv_path, rows


def make_workspace(variant: Variant, ws: Path, ledger: Path) -> None:
    shutil.rmtree(ws, ignore_errors=True)
    loaded = in_tree(variant.tree, SETUP, str(ws), json.dumps(ASSETS))
    src = (variant.tree / "src").resolve()
    if not Path(loaded).resolve().is_relative_to(src):
        raise SystemExit(f"PYTHONPATH={src} imported porsegregate from {loaded}, not the tree")
    if variant.privacy:
        # The setting replaces its line of the [privacy] table `init` writes (or starts the
        # table, for a tree whose config has none).
        config = ws / "porsegregate.toml"
        lines = config.read_text(encoding="utf-8").splitlines()
        lines = [ln for ln in lines if ln.split(" =")[0] not in variant.privacy]
        table = [f"{key} = {value}" for key, value in variant.privacy.items()]
        if "[privacy]" in lines:
            at = lines.index("[privacy]") + 1
            lines[at:at] = table
        else:
            lines += ["", "[privacy]", *table]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = ws / "data" / "liabilities.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(ledger, data)
    except OSError:
        shutil.copyfile(ledger, data)


def clear_outputs(ws: Path) -> None:
    for name in ("site", "log", "private"):
        shutil.rmtree(ws / name, ignore_errors=True)


class PublishFailed(Exception):
    def __init__(self, code: int, stderr: str) -> None:
        super().__init__(f"publish exited {code}: {stderr}")
        self.code = code
        self.stderr = stderr


def publish(tree: Path, ws: Path) -> tuple[float, float, float, list[str]]:
    """One publish subprocess: (wall s, CPU s, peak RSS MiB, its warnings). Raises PublishFailed."""
    cmd = [
        sys.executable,
        "-m",
        "porsegregate.cli",
        "publish",
        "-w",
        str(ws),
        "--epoch",
        EPOCH,
        "--json",
        "--replace",
        "--snapshot-time",
        "2026-11-30T23:59:59Z",
        "--allow-shortfall",  # liabilities only: no reserves are declared here
    ]
    out_path, err_path = ws / "publish.out", ws / "publish.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env_for(tree), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage
        wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise PublishFailed(code, err_path.read_text(errors="replace").strip())
    summary = json.loads(out_path.read_text())  # no summary: the publish did not finish
    warnings = [str(w) for w in summary.get("warnings", [])]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, warnings


def site_size(site: Path) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of every file under `site`, each inode once."""
    seen: set[tuple[int, int]] = set()
    size = disk = 0
    for folder, dirs, files in os.walk(site):
        for name, is_file in [*((f, True) for f in files), *((d, False) for d in dirs)]:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if is_file:  # not `name in files`: a list of 500,000 names is searched quadratically
                size += st.st_size
            disk += st.st_blocks * 512
    return size, disk


def shard_entries(site: Path) -> tuple[int, int, int]:
    """(entries, shards, bytes) of the benchmark epoch's proof shards."""
    folder = site / "epochs" / EPOCH / "proofs"
    if not folder.is_dir():
        folder = site / "proofs"
    entries = shards = size = 0
    for shard in sorted(folder.glob("*.bin")):
        with shard.open("rb") as f:
            head = f.read(9)
            if head[:4] == SHARD_MAGIC_V2 and len(head) == 9:
                # PSS2: u8 b || u32 index || b x 32-byte path, then the u32 count.
                f.seek(9 + 32 * head[4])
                head = SHARD_MAGIC + f.read(4)
        if len(head) < 8 or head[:4] != SHARD_MAGIC:
            raise SystemExit(f"{shard}: does not start with b'PSS1' or b'PSS2' and a u32 count")
        entries += struct.unpack(">I", head[4:8])[0]
        shards += 1
        size += shard.stat().st_size
    if not shards:
        raise SystemExit(f"{folder}: no proof shards")
    return entries, shards, size


def attestation(site: Path) -> dict[str, Any]:
    path = site / "epochs" / EPOCH / "attestation.json"
    if not path.exists():
        path = site / "attestation.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def published_setting(doc: dict[str, Any], key: str) -> object:
    """What the attestation says about one [privacy] setting (None: it says nothing)."""
    assets = doc.get("liabilities", {}).get("assets", [])
    member = {"split": "parts", "height": "padded_height"}.get(key)
    if member is None:
        return None
    values = {a.get(member) for a in assets}
    return values.pop() if len(values) == 1 else sorted(map(str, values))


def check_settings(variant: Variant, site: Path) -> dict[str, Any]:
    """The published parameters; raises Unsupported when a [privacy] setting did not take."""
    doc = attestation(site)
    for key, value in variant.privacy.items():
        seen = published_setting(doc, key)
        if seen != value:
            raise Unsupported(
                f"[privacy] {key} = {value} asked for, the attestation shows "
                f"{seen!r} (format {doc.get('format')}): the tree ignores the setting"
            )
    assets = doc.get("liabilities", {}).get("assets", [])
    return {
        "format": doc.get("format"),
        "padded_heights": sorted({a.get("padded_height") for a in assets}),
        "parts": sorted({a.get("parts", 1) for a in assets}),
    }


def probe(variant: Variant, work: Path, before: Path) -> dict[str, Any]:
    """A small publish that shows whether the tree honours the variant's settings."""
    ledger, _ = inputs(work, before, PROBE_CLIENTS)
    ws = work / "ws" / f"probe-{slug(variant.name)}"
    make_workspace(variant, ws, ledger)
    try:
        publish(variant.tree, ws)
    except PublishFailed as exc:
        if variant.privacy and exc.code == 3 and "privacy" in exc.stderr:
            raise Unsupported(exc.stderr.splitlines()[-1]) from exc
        raise SystemExit(f"{variant.name}: probe {exc}") from exc
    try:
        return check_settings(variant, ws / "site")
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def measure(
    variant: Variant, work: Path, before: Path, clients: int, runs: int, keep: bool
) -> dict[str, Any]:
    ledger, rows = inputs(work, before, clients)
    ws = work / "ws" / f"{slug(variant.name)}-{clients}"
    make_workspace(variant, ws, ledger)
    results: list[Run] = []
    published: dict[str, Any] = {}
    warnings: list[str] = []
    for i in range(runs):
        clear_outputs(ws)
        try:
            wall, cpu, rss, warnings = publish(variant.tree, ws)
        except PublishFailed as exc:
            raise SystemExit(f"{variant.name}, {clients:,} clients: {exc}") from exc
        site = ws / "site"
        published = check_settings(variant, site)
        size, disk = site_size(site)
        entries, shards, shard_bytes = shard_entries(site)
        results.append(Run(wall, cpu, rss, size, disk, shard_bytes, entries, shards))
        print(
            f"  {variant.name}, {clients:,} clients, run {i + 1}/{runs}: "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    if not keep:
        shutil.rmtree(ws, ignore_errors=True)

    def med(attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in results))

    site_bytes = int(med("site_bytes"))
    return {
        "variant": variant.name,
        "privacy": dict(variant.privacy),
        "clients": clients,
        "rows": rows,
        "runs": runs,
        **published,
        "warnings": warnings,
        "wall_seconds": round(med("wall"), 2),
        "wall_seconds_all": [round(r.wall, 2) for r in results],
        "cpu_seconds": round(med("cpu"), 2),
        "peak_rss_mib": round(med("rss_mib"), 1),
        "site_bytes": site_bytes,
        "site_disk_bytes": int(med("site_disk_bytes")),
        "site_bytes_per_client": round(site_bytes / clients),
        "shard_bytes": int(med("shard_bytes")),
        "entries": int(med("entries")),
        "shards": int(med("shards")),
    }


RATIOS = {
    "wall": "wall_seconds",
    "cpu": "cpu_seconds",
    "rss": "peak_rss_mib",
    "bytes_per_client": "site_bytes_per_client",
}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    before = {r["clients"]: r for r in rows if r["variant"] == "before" and "wall_seconds" in r}
    for row in rows:
        base = before.get(row["clients"])
        if base is None or "wall_seconds" not in row:
            continue
        row["ratio_to_before"] = {
            name: round(row[key] / base[key], 2) if base[key] else None
            for name, key in RATIOS.items()
        }


def heights(row: dict[str, Any]) -> str:
    """The trees' padded heights, like 17-18 (one per asset in v1, one for all in v2)."""
    low, high = min(row["padded_heights"]), max(row["padded_heights"])
    return str(low) if low == high else f"{low}-{high}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'setting':<16}{'clients':>10} {'format':<15}{'height':<7}"
        f"{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}"
        f"{'site MiB':>10}{'B/client':>9}{'entries':>10}"
        f"{'wall/b':>7}{'CPU/b':>6}{'RSS/b':>6}{'B/c/b':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        start = f"{r['variant']:<16}{r['clients']:>10,} "
        if "wall_seconds" not in r:
            lines.append(start + f"setting unsupported: {r['unsupported']}")
            continue
        ratio = r.get("ratio_to_before", {})
        lines.append(
            start + f"{r['format']:<15}{heights(r):<7}"
            f"{r['wall_seconds']:>8.2f}{r['cpu_seconds']:>8.2f}"
            f"{r['peak_rss_mib']:>9.0f}{r['site_bytes'] / 2**20:>10.1f}"
            f"{r['site_bytes_per_client']:>9,}{r['entries']:>10,}"
            + "".join(
                f"{ratio.get(k, 0):>{w}.2f}"
                for k, w in (("wall", 7), ("cpu", 6), ("rss", 6), ("bytes_per_client", 7))
            )
        )
    lines.append("height: the trees' padded heights; x/b: the ratio to the before row")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="runs per row; medians (default 3)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/porbench"))
    parser.add_argument("--before-commit", default=BEFORE_COMMIT)
    parser.add_argument("--before-tree", type=Path, help="default WORK/tree-<commit>")
    parser.add_argument("--after-tree", type=Path, default=HERE.parent)
    parser.add_argument("--split", type=int, default=2, help="the split row's k (default 2)")
    parser.add_argument("--keep-sites", action="store_true", help="keep each row's workspace")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "privacy.json")
    args = parser.parse_args()
    if args.runs < 1 or min(args.clients) < 1:
        parser.error("--runs and --clients must be positive")

    work: Path = args.work.resolve()
    after = args.after_tree.resolve()
    before = (args.before_tree or work / f"tree-{args.before_commit}").resolve()
    before_commit = ensure_before_tree(after, before, args.before_commit)
    variants = [
        Variant("before", before),
        Variant("after", after),
        Variant(f"after split={args.split}", after, {"split": args.split}),
    ]
    unsupported: dict[str, str] = {}
    for variant in variants:
        try:
            probe(variant, work, before)
        except Unsupported as exc:
            unsupported[variant.name] = str(exc)
            print(f"{variant.name}: setting unsupported: {exc}", file=sys.stderr, flush=True)

    rows: list[dict[str, Any]] = []
    for clients in args.clients:
        inputs(work, before, clients)  # generated before any timing
        for variant in variants:
            if variant.name in unsupported:
                rows.append(
                    {
                        "variant": variant.name,
                        "privacy": dict(variant.privacy),
                        "clients": clients,
                        "unsupported": unsupported[variant.name],
                    }
                )
                continue
            rows.append(measure(variant, work, before, clients, args.runs, args.keep_sites))
    add_ratios(rows)
    report = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "trees": {
            "before": {"path": str(before), "commit": before_commit},
            "after": {"path": str(after), **tree_commit(after)},
        },
        "inputs": {"generator": "porsegregate.publish.demo (before tree)", "seed": SEED},
        "rows": rows,
    }
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
