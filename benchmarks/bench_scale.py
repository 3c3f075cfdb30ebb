"""Issue 11's scale benchmark: publish, audit and verify, 10 k to 10 M clients, before and after.

    python benchmarks/bench_scale.py                                  # 10k, 100k, 1M, 10M
    python benchmarks/bench_scale.py --clients 10000,100000 --runs 3  # a quick check
    python benchmarks/bench_scale.py --before b898fad --out /tmp/scale.json

For every client count N (inputs: the demo generator, 5 assets, about 3 per
client, seed 7, generated once by the before tree into WORK/inputs and reused;
the generator writes row by row, so 10 M streams) and for two source trees,
run one after the other in each round so both see the same machine state:

* before: the code of --before (default b898fad), extracted with `git archive`
  into WORK/tree-<commit>/ and run with PYTHONPATH=that/src;
* after: the tree this script lives in, run with PYTHONPATH=its src/.

Each measurement is a real subprocess (`python -m porsegregate.cli ...`) whose
own rusage comes from wait4: wall time, CPU (user + system), peak resident
memory. Per tree and N:

* publish (default privacy settings: the config has a [privacy] table with no
  `height`, so a tree that derives the height does so; medians of --runs runs,
  each a first publish into an emptied site): wall, CPU, CPU per client, peak
  RSS, the site's bytes (every inode once: hard links count once), bytes per
  client, the published entries, the largest proof shard (the most a client
  downloads of proofs) and manifest.json's size;
* on the last run's site (N <= --audit-max): `audit SITE` (site only), then
  `dataroom export` and `audit SITE --dataroom ROOM --all` (every bundle opened);
* `verify --site http://127.0.0.1:PORT/` of one client (its code from the
  private codes file, given in PORSEGREGATE_CODE), served by a counting HTTP
  server in this process: wall and the bytes and files it downloaded.

Once per N, in the same run, two baselines, each in its own subprocess:

* sumtree: a minimal pure-Python hashlib Merkle sum tree of the publisher's
  shape, one tree per asset over exactly that asset's holders: leaf =
  SHA256(0x00 || id[16] || amount[16]), node = SHA256(0x01 || left || sum[16] ||
  right || sum[16]), the leaves padded to a power of two with a constant leaf
  and every node hashed, like a plain dense tree. No keys, no encryption, no
  files. The CSV is parsed first (timed apart, not in the ratio);
* readhash: read every row of the CSV (csv module) and SHA-256 it.

publish/sumtree and publish/readhash are publish's median wall over the
baseline's median. The site of each tree is deleted once measured (10 M sites
take tens of GB; free disk is checked first).

Results: one markdown table on stdout (rows N x {before, after}, then the
after/before ratios) and one JSON file, --out (default
benchmarks/results/scale.json, ignored by git).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import http.server
import itertools
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_privacy import (  # noqa: E402 - the sibling benchmark's helpers
    ASSETS,
    GENERATE,
    PASSPHRASE,
    SEED,
    Variant,
    ensure_before_tree,
    in_tree,
    make_workspace,
    site_size,
    tree_commit,
)

BEFORE_COMMIT = "b898fad"
DEFAULT_CLIENTS = (10_000, 100_000, 1_000_000, 10_000_000)
EPOCH = "bench"
ROOM_PASSPHRASE = "porsegregate-benchmark-room-only"  # the data room's, never the workspace's
GIB = 2**30
DEFAULT_BYTES_PER_CLIENT = 3600  # the disk a site may need before one is measured (b898fad: 3.5 KB)
CSV_BYTES_PER_CLIENT = 80


# -- subprocesses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    code: int
    wall: float
    cpu: float
    rss_mib: float
    stdout: str
    stderr: str


def child_env(tree: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PORSEGREGATE_PASSPHRASE": PASSPHRASE, **(extra or {})}
    if tree is not None:
        env["PYTHONPATH"] = str(tree / "src")
    return env


def run_child(cmd: list[str], env: dict[str, str], scratch: Path) -> Child:
    """One subprocess, its output in files (a pipe could fill up); its own wait4 rusage."""
    scratch.mkdir(parents=True, exist_ok=True)
    out_path, err_path = scratch / "child.out", scratch / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    return Child(
        code,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "porsegregate.cli", *args]


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


# -- inputs and disk ---------------------------------------------------------------------------


def free_bytes(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


def need_disk(path: Path, needed: int, what: str) -> None:
    free = free_bytes(path)
    if free < needed:
        raise SystemExit(
            f"{what} needs about {needed / GIB:.1f} GiB free under {path}, "
            f"{free / GIB:.1f} GiB are: free some space or lower --clients"
        )


def inputs(work: Path, before: Path, clients: int) -> tuple[Path, int]:
    """The cached ledger for this client count (the before tree's generator); (path, rows)."""
    folder = work / "inputs"
    csv_path = folder / f"liabilities-{clients}-seed{SEED}.csv"
    if not csv_path.exists():
        need_disk(folder, CSV_BYTES_PER_CLIENT * clients + GIB, f"the {clients:,}-client CSV")
        partial = csv_path.with_suffix(".partial")
        print(f"generating {clients:,} clients into {csv_path}", file=sys.stderr, flush=True)
        in_tree(before, GENERATE, str(partial), str(clients), str(SEED))
        partial.rename(csv_path)
    with csv_path.open("rb") as f:
        rows = sum(1 for _ in f) - 1
    return csv_path, rows


def workspace(tree: Path, ws: Path, ledger: Path) -> list[str]:
    """A workspace of the tree's own `init`, its [privacy] table without a height line.

    Returns the table's settings as written (the tree's defaults, minus the height)."""
    make_workspace(Variant(ws.name, tree), ws, ledger)
    config = ws / "porsegregate.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    table = ""
    kept = []
    settings = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            table = stripped
        elif table == "[privacy]" and stripped and not stripped.startswith("#"):
            if stripped.split("=")[0].strip() == "height":
                continue
            settings.append(stripped)
        kept.append(line)
    config.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return settings


def clear_outputs(ws: Path) -> None:
    for name in ("site", "log", "private", "dataroom"):
        shutil.rmtree(ws / name, ignore_errors=True)


# -- baselines (run in their own subprocess: python bench_scale.py --baseline KIND CSV) -------


def parse_ledger(csv_path: Path) -> dict[str, tuple[list[bytes], list[int]]]:
    """Per asset: (16-byte account ids, amounts in smallest units), in file order.

    The id is the account name's bytes, zero-padded (or cut) to 16: the publisher's ids come
    from keys, which this baseline leaves out. One id object is shared by a client's rows
    when they follow each other (the generator's), to keep 10 M clients in memory.
    """
    decimals = dict(ASSETS)
    per_asset: dict[str, tuple[list[bytes], list[int]]] = {code: ([], []) for code in decimals}
    last, ident = "", b""
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for account, asset, amount in reader:
            if account != last:
                last, ident = account, account.encode()[:16].ljust(16, b"\0")
            whole, _, frac = amount.partition(".")
            ids, amounts = per_asset[asset]
            ids.append(ident)
            amounts.append(int(whole + frac.ljust(decimals[asset], "0")))
    return per_asset


def sum_tree(ids: list[bytes], amounts: list[int]) -> tuple[bytes, int, int]:
    """(root hash, root sum, padded leaves) of the plain dense sum tree over these leaves."""
    sha = hashlib.sha256
    hashes = [
        sha(b"\x00" + i + a.to_bytes(16, "big")).digest() for i, a in zip(ids, amounts, strict=True)
    ]
    sums = list(amounts)
    size = 1 << max(0, len(hashes) - 1).bit_length()
    pad = sha(b"\x02").digest()
    hashes += [pad] * (size - len(hashes))
    sums += [0] * (size - len(sums))
    while len(hashes) > 1:
        next_hashes = []
        next_sums = []
        for k in range(0, len(hashes), 2):
            left, right = sums[k], sums[k + 1]
            next_hashes.append(
                sha(
                    b"\x01"
                    + hashes[k]
                    + left.to_bytes(16, "big")
                    + hashes[k + 1]
                    + right.to_bytes(16, "big")
                ).digest()
            )
            next_sums.append(left + right)
        hashes, sums = next_hashes, next_sums
    return hashes[0], sums[0], size


def read_and_hash(csv_path: Path) -> int:
    rows = 0
    with csv_path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            hashlib.sha256(",".join(row).encode()).digest()
            rows += 1
    return rows


def baseline_main(kind: str, csv_path: Path, runs: int) -> None:
    """Prints the baseline's JSON result (this runs in a child process)."""
    if kind == "readhash":
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            read_and_hash(csv_path)
            times.append(time.perf_counter() - start)
        print(json.dumps({"seconds": statistics.median(times), "all": times}))
        return
    start = time.perf_counter()
    per_asset = parse_ledger(csv_path)
    parse = time.perf_counter() - start
    times = []
    leaves = padded = 0
    for _ in range(runs):
        start = time.perf_counter()
        leaves = padded = 0
        for ids, amounts in per_asset.values():
            if ids:
                _, _, size = sum_tree(ids, amounts)
                leaves += len(ids)
                padded += size
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "seconds": statistics.median(times),
                "all": times,
                "parse_seconds": parse,
                "leaves": leaves,
                "padded_leaves": padded,
            }
        )
    )


def baseline(kind: str, csv_path: Path, runs: int, scratch: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--baseline", kind, str(csv_path)]
    child = run_child([*cmd, "--runs", str(runs)], child_env(None), scratch)
    if child.code != 0:
        raise SystemExit(f"baseline {kind} failed: {child.stderr.strip()}")
    result: dict[str, Any] = json.loads(child.stdout)
    result["peak_rss_mib"] = round(child.rss_mib, 1)
    print(f"  baseline {kind}: {result['seconds']:.2f} s", file=sys.stderr, flush=True)
    return result


# -- what a site holds ---------------------------------------------------------------------------


def site_facts(site: Path) -> dict[str, Any]:
    size, disk = site_size(site)
    manifest_path = site / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    proofs = manifest.get("proofs", {})
    shards = sorted((site / "proofs").glob("*.bin"))
    if not shards:
        raise SystemExit(f"{site / 'proofs'}: no proof shards")
    entries = proofs.get("entries")
    if entries is None:  # a manifest without the count: the shards' own counts
        entries = sum(shard_count(s) for s in shards)
    attestation = json.loads((site / "attestation.json").read_text(encoding="utf-8"))
    assets = attestation.get("liabilities", {}).get("assets", [])
    return {
        "format": manifest.get("format"),
        "site_bytes": size,
        "site_disk_bytes": disk,
        "manifest_bytes": manifest_path.stat().st_size,
        "manifest_files": len(manifest.get("files", {})),
        "entries": entries,
        "shards": len(shards),
        "largest_shard_bytes": max(s.stat().st_size for s in shards),
        "padded_heights": sorted({a.get("padded_height") for a in assets} - {None}),
    }


def shard_count(shard: Path) -> int:
    """The entry count of a PSS1 shard (u32 after the magic) or a PSS2 one (after its path)."""
    with shard.open("rb") as f:
        head = f.read(9)
        if head[:4] == b"PSS1":
            return int(struct.unpack(">I", head[4:8])[0])
        if head[:4] == b"PSS2":
            f.seek(9 + 32 * head[4])
            return int(struct.unpack(">I", f.read(4))[0])
    raise SystemExit(f"{shard}: neither a PSS1 nor a PSS2 shard")


def a_client(codes: Path, clients: int) -> tuple[str, str]:
    """The middle client of the private codes file (read as a stream): (account, code)."""
    with codes.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        account, code = next(itertools.islice(reader, clients // 2, None))
    # A cell starting with ' is escaped against spreadsheets: one ' is removed (client_codes).
    return account.removeprefix("'"), code.removeprefix("'")


# -- a counting HTTP server for the client's download --------------------------------------------


class CountingServer:
    """Serves a folder on 127.0.0.1 and counts the body bytes of every file it sends."""

    def __init__(self, folder: Path) -> None:
        self.sent: list[tuple[str, int]] = []
        owner = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def copyfile(self, source: Any, outputfile: Any) -> None:
                before = source.tell()
                shutil.copyfileobj(source, outputfile)
                owner.sent.append((self.path, source.tell() - before))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- one tree at one client count ----------------------------------------------------------------


def publish_args(ws: Path, *extra: str) -> list[str]:
    """`porsegregate publish` of the benchmark's epoch from workspace `ws`."""
    return [
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
        *extra,
    ]


def publish(tree: Path, ws: Path) -> Child:
    child = run_child(cli(*publish_args(ws)), child_env(tree), ws / "run")
    if child.code != 0:
        raise SystemExit(f"publish in {tree} exited {child.code}: {child.stderr.strip()}")
    json.loads(child.stdout)  # the summary: the publish finished
    return child


def timed(child: Child) -> dict[str, Any]:
    return {
        "exit": child.code,
        "wall_seconds": round(child.wall, 2),
        "cpu_seconds": round(child.cpu, 2),
        "peak_rss_mib": round(child.rss_mib, 1),
        **({"error": last_line(child.stderr) or last_line(child.stdout)} if child.code else {}),
    }


def audit_checks(child: Child) -> dict[str, Any]:
    """The audit's result, with the checks that did not pass (if its JSON says)."""
    result = timed(child)
    try:
        report = json.loads(child.stdout)
    except json.JSONDecodeError:
        return result
    failed = [
        f"{c.get('id')}: {c.get('detail', '')}"[:300]
        for c in report.get("checks", [])
        if isinstance(c, dict) and c.get("status") == "fail"
    ]
    if failed:
        result["failed_checks"] = failed[:10]
    return result


def repeated(cmd: list[str], env: dict[str, str], scratch: Path, runs: int) -> dict[str, Any]:
    """An audit run `runs` times (stopping at a failure): the last one's result, median wall."""
    children: list[Child] = []
    for _ in range(runs):
        children.append(run_child(cmd, env, scratch))
        if children[-1].code != 0:
            break
    result = audit_checks(children[-1])
    result["wall_seconds"] = round(statistics.median(c.wall for c in children), 2)
    result["wall_seconds_all"] = [round(c.wall, 2) for c in children]
    return result


def audits(tree: Path, ws: Path, runs: int) -> dict[str, Any]:
    site, room = str(ws / "site"), ws / "dataroom"
    env = child_env(tree, {"PORSEGREGATE_DATAROOM_PASSPHRASE": ROOM_PASSPHRASE})
    scratch = ws / "run"
    out: dict[str, Any] = {"audit": repeated(cli("audit", site, "--json"), env, scratch, runs)}
    export = run_child(
        cli("dataroom", "export", "--workspace", str(ws), "--epoch", EPOCH, "--out", str(room)),
        env,
        scratch,
    )
    out["dataroom_export"] = timed(export)
    if export.code == 0:
        cmd = cli("audit", site, "--dataroom", str(room), "--all", "--json")
        out["audit_dataroom"] = repeated(cmd, env, scratch, runs)
    shutil.rmtree(room, ignore_errors=True)
    return out


def verify(tree: Path, ws: Path, clients: int, runs: int) -> dict[str, Any]:
    account, code = a_client(ws / "private" / "client-codes.csv", clients)
    server = CountingServer(ws / "site")
    results: list[Child] = []
    downloads: list[list[tuple[str, int]]] = []
    try:
        for _ in range(runs):
            server.sent.clear()
            cmd = cli("verify", "--site", server.url, "--account", account, "--json")
            child = run_child(cmd, child_env(tree, {"PORSEGREGATE_CODE": code}), ws / "run")
            results.append(child)
            downloads.append(list(server.sent))
            if child.code != 0:
                break
    finally:
        server.close()
    last = results[-1]
    out = timed(last)
    out["wall_seconds"] = round(statistics.median(c.wall for c in results), 2)
    out["wall_seconds_all"] = [round(c.wall, 2) for c in results]
    sent = downloads[-1]
    out["downloaded_bytes"] = sum(n for _, n in sent)
    out["downloaded_files"] = len(sent)
    out["largest_download"] = max(sent, key=lambda s: s[1]) if sent else None
    return out


def measure_round(
    tree: Path, ws: Path, clients: int, audit_runs: int, verify_runs: int
) -> dict[str, Any]:
    """One publish into an emptied site; with verify_runs, also the audits and verify."""
    clear_outputs(ws)
    child = publish(tree, ws)
    facts = site_facts(ws / "site")
    run: dict[str, Any] = {
        "wall": child.wall,
        "cpu": child.cpu,
        "rss_mib": child.rss_mib,
        **facts,
    }
    if verify_runs:
        if audit_runs:
            run.update(audits(tree, ws, audit_runs))
        run["verify"] = verify(tree, ws, clients, verify_runs)
    clear_outputs(ws)  # a site is deleted once measured
    return run


def summarise(name: str, clients: int, rows: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    last = runs[-1]
    site_bytes = int(med("site_bytes"))
    row: dict[str, Any] = {
        "tree": name,
        "clients": clients,
        "rows": rows,
        "runs": len(runs),
        "format": last["format"],
        "padded_heights": last["padded_heights"],
        "wall_seconds": round(med("wall"), 2),
        "wall_seconds_all": [round(r["wall"], 2) for r in runs],
        "cpu_seconds": round(med("cpu"), 2),
        "cpu_us_per_client": round(med("cpu") / clients * 1e6, 1),
        "peak_rss_mib": round(med("rss_mib"), 1),
        "site_bytes": site_bytes,
        "site_disk_bytes": int(med("site_disk_bytes")),
        "site_bytes_per_client": round(site_bytes / clients),
        "entries": last["entries"],
        "shards": last["shards"],
        "largest_shard_bytes": last["largest_shard_bytes"],
        "manifest_bytes": last["manifest_bytes"],
        "manifest_files": last["manifest_files"],
    }
    for key in ("audit", "dataroom_export", "audit_dataroom", "verify"):
        if key in last:
            row[key] = last[key]
    return row


# -- the report ----------------------------------------------------------------------------------


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def seconds(value: dict[str, Any] | None) -> str:
    if not value:
        return "—"
    if value.get("exit"):
        return f"{value['wall_seconds']:.2f} (exit {value['exit']})"
    return f"{value['wall_seconds']:.2f}"


COLUMNS = (
    "clients",
    "tree",
    "wall s",
    "CPU s",
    "CPU µs/client",
    "peak RSS MiB",
    "site GB",
    "B/client",
    "largest shard",
    "manifest",
    "publish÷sumtree",
    "publish÷readhash",
    "audit s",
    "audit+dataroom s",
    "verify s",
    "verify download",
)


def cells(row: dict[str, Any], base: dict[str, Any]) -> list[str]:
    verify_row = row.get("verify")
    download = human_bytes(verify_row["downloaded_bytes"]) if verify_row else "—"
    return [
        f"{row['clients']:,}",
        row["tree"],
        f"{row['wall_seconds']:.2f}",
        f"{row['cpu_seconds']:.2f}",
        f"{row['cpu_us_per_client']:.1f}",
        f"{row['peak_rss_mib']:.0f}",
        f"{row['site_bytes'] / 1e9:.3f}",
        f"{row['site_bytes_per_client']:,}",
        human_bytes(row["largest_shard_bytes"]),
        human_bytes(row["manifest_bytes"]),
        f"{row['wall_seconds'] / base['sumtree']['seconds']:.1f}",
        f"{row['wall_seconds'] / base['readhash']['seconds']:.1f}",
        seconds(row.get("audit")),
        seconds(row.get("audit_dataroom")),
        seconds(verify_row),
        download,
    ]


RATIO_KEYS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("wall", lambda r: r["wall_seconds"]),
    ("CPU", lambda r: r["cpu_seconds"]),
    ("peak RSS", lambda r: r["peak_rss_mib"]),
    ("B/client", lambda r: r["site_bytes_per_client"]),
    ("largest shard", lambda r: r["largest_shard_bytes"]),
    ("manifest", lambda r: r["manifest_bytes"]),
    ("audit", lambda r: r.get("audit", {}).get("wall_seconds")),
    ("audit+dataroom", lambda r: r.get("audit_dataroom", {}).get("wall_seconds")),
    ("verify", lambda r: r.get("verify", {}).get("wall_seconds")),
    ("verify download", lambda r: r.get("verify", {}).get("downloaded_bytes")),
)


def ratios(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, get in RATIO_KEYS:
        b, a = get(before), get(after)
        out[name] = round(a / b, 3) if a is not None and b else None
    return out


def table(report: dict[str, Any]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(values) + " |"

    lines = [line(list(COLUMNS)), line(["---"] * len(COLUMNS))]
    for n in report["clients"]:
        base = report["baselines"][str(n)]
        lines += [line(cells(r, base)) for r in report["rows"] if r["clients"] == n]
    lines += ["", line(["clients", *(name for name, _ in RATIO_KEYS)])]
    lines.append(line(["---"] * (len(RATIO_KEYS) + 1)))
    for n in report["clients"]:
        got = report["ratios_after_before"].get(str(n))
        if got:
            lines.append(
                line([f"{n:,}", *("—" if v is None else f"{v:.2f}" for v in got.values())])
            )
    lines.append("")
    for n in report["clients"]:
        base = report["baselines"][str(n)]
        lines.append(
            f"{n:,} clients: sumtree {base['sumtree']['seconds']:.2f} s over "
            f"{base['sumtree']['padded_leaves']:,} padded leaves ({base['sumtree']['leaves']:,} "
            f"entries; CSV parse {base['sumtree']['parse_seconds']:.2f} s apart), "
            f"readhash {base['readhash']['seconds']:.2f} s"
        )
    lines.append(
        "Medians of the runs; the second table is after ÷ before. audit: site only; "
        "audit+dataroom: `audit --dataroom --all` (the export apart); verify: one client over "
        "local HTTP, its download = the body bytes the server sent it."
    )
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def client_counts(text: str) -> list[int]:
    try:
        counts = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated client counts") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: positive client counts")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--clients",
        type=client_counts,
        default=list(DEFAULT_CLIENTS),
        help="comma-separated client counts (default 10000,100000,1000000,10000000)",
    )
    parser.add_argument("--runs", type=int, default=3, help="publish runs per row (default 3)")
    parser.add_argument(
        "--single-run-from",
        type=int,
        default=10_000_000,
        metavar="N",
        help="client counts at or above N publish once (default 10000000)",
    )
    parser.add_argument(
        "--audit-max",
        type=int,
        default=1_000_000,
        metavar="N",
        help="run audit and audit --dataroom up to N clients (default 1000000)",
    )
    parser.add_argument(
        "--audit-runs", type=int, default=1, metavar="K", help="audit runs per row (default 1)"
    )
    parser.add_argument("--before", default=BEFORE_COMMIT, help="the before commit (b898fad)")
    parser.add_argument(
        "--before-max",
        type=int,
        default=1_000_000,
        metavar="N",
        help="run the before tree up to N clients only (default 1000000: its 10 M site, "
        "about 73 GB with the default privacy settings, does not fit a 100 GB disk)",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=HERE.parent,
        help="the git repository holding --before (default: the checkout this script is in)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/porbench"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--baseline", nargs=2, metavar=("KIND", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1 or args.audit_runs < 1:
        parser.error("--runs and --audit-runs must be positive")
    if args.baseline:
        baseline_main(args.baseline[0], Path(args.baseline[1]), args.runs)
        return

    work: Path = args.work.resolve()
    after = HERE.parent
    before = (work / f"tree-{args.before}").resolve()
    before_commit = ensure_before_tree(args.repo.resolve(), before, args.before)
    trees = (("before", before), ("after", after))
    rows: list[dict[str, Any]] = []
    baselines: dict[str, Any] = {}
    done: list[int] = []
    per_client: dict[str, float] = {}  # the most site bytes per client seen, per tree
    largest = max(args.clients)
    free = free_bytes(work)
    if free < DEFAULT_BYTES_PER_CLIENT * largest:
        print(
            f"warning: {free / GIB:.1f} GiB free under {work}; a {largest:,}-client site may "
            f"need about {DEFAULT_BYTES_PER_CLIENT * largest / GIB:.1f} GiB",
            file=sys.stderr,
            flush=True,
        )

    def write_report(complete: bool, final: bool) -> None:
        """The results so far (every finished client count) to --out; the table on stdout
        at the end (complete or stopped), on stderr after each client count."""
        by_key = {(r["clients"], r["tree"]): r for r in rows}
        report: dict[str, Any] = {
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "complete": complete,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
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
            "clients": list(done),
            "baselines": baselines,
            "rows": rows,
            "ratios_after_before": {
                str(n): ratios(by_key[(n, "before")], by_key[(n, "after")])
                for n in done
                if (n, "before") in by_key
            },
        }
        report["table"] = table(report)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        if final:
            print(report["table"], flush=True)
        else:
            print(report["table"], file=sys.stderr, flush=True)
        print(f"results: {args.out}", file=sys.stderr, flush=True)

    try:
        for clients in args.clients:
            ledger, nrows = inputs(work, before, clients)
            runs = 1 if clients >= args.single_run_from else args.runs
            print(f"{clients:,} clients ({nrows:,} rows), {runs} run(s)", file=sys.stderr)
            scratch = work / "ws" / f"baseline-{clients}"
            base = {
                "sumtree": baseline("sumtree", ledger, runs, scratch),
                "readhash": baseline("readhash", ledger, runs, scratch),
            }
            shutil.rmtree(scratch, ignore_errors=True)
            here = trees if clients <= args.before_max else trees[1:]
            spaces = {name: work / "ws" / f"scale-{name}-{clients}" for name, _ in here}
            try:
                privacy = {name: workspace(tree, spaces[name], ledger) for name, tree in here}
                measured: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in here}
                for i in range(runs):
                    for name, tree in here:  # the trees alternate: both see the same machine
                        estimate = per_client.get(name, DEFAULT_BYTES_PER_CLIENT) * clients
                        need_disk(
                            work, int(estimate * 1.15) + GIB, f"{name}'s {clients:,}-client site"
                        )
                        verify_runs = runs if i == runs - 1 else 0
                        audit_runs = args.audit_runs if clients <= args.audit_max else 0
                        run = measure_round(
                            tree,
                            spaces[name],
                            clients,
                            audit_runs if verify_runs else 0,
                            verify_runs,
                        )
                        measured[name].append(run)
                        per_client[name] = max(per_client.get(name, 0), run["site_bytes"] / clients)
                        print(
                            f"  {name}, run {i + 1}/{runs}: {run['wall']:.2f} s wall, "
                            f"{run['cpu']:.2f} s CPU, {run['rss_mib']:.0f} MiB, "
                            f"{run['site_bytes'] / 1e6:.1f} MB",
                            file=sys.stderr,
                            flush=True,
                        )
            finally:
                for space in spaces.values():
                    shutil.rmtree(space, ignore_errors=True)
            baselines[str(clients)] = base
            for name, _ in here:
                row = summarise(name, clients, nrows, measured[name])
                rows.append({**row, "privacy": privacy[name]})
            done.append(clients)
            write_report(complete=False, final=False)
    except BaseException:
        if done:
            print("stopped: the results of the finished client counts follow", file=sys.stderr)
            write_report(complete=False, final=True)
        raise
    write_report(complete=True, final=True)


if __name__ == "__main__":
    main()
