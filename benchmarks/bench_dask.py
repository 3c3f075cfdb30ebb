"""Issue 12's Dask benchmark: publish with `--engine dask` against `--engine local`, same input.

    python benchmarks/bench_dask.py                                   # 1 M clients, 3 runs
    python benchmarks/bench_dask.py --clients 1000000,10000000 --workers 2
    python benchmarks/bench_dask.py --clients 10000,100000 --runs 1   # a quick check

For every client count N the cached ledger of bench_scale.py (WORK/inputs/
liabilities-N-seed7.csv: the demo generator, 5 assets, about 3 rows a client) is
split by rows into K part files (--files, default one per million rows, at least 4;
each keeps the header; row i of R goes to file floor(i * K / R), so an account whose
rows straddle a boundary is in two files), cached in WORK/inputs/parts-N-K/. One
workspace (bench_scale's: this tree's `init`, [privacy] defaults without a height)
has that folder as its [files] liabilities.

Each round publishes once with `--engine local` and once with `--engine dask
--dask-workers W` (a LocalCluster of W worker processes), alternating so both see
the same machine, each into a fresh site (`--out`), the log and the codes file
cleared first: every run is a first publish. A site is deleted once measured (unless
--keep keeps the last one of each engine); free disk is checked before each run.

Per run: wall (the parent's clock), CPU (user + system from wait4: the publish process
and every process it reaped, which includes the LocalCluster's workers, since the
cluster joins them when it closes), peak RSS (local: wait4's; dask: the driver's and
each worker's, from the engine's PORSEGREGATE_DASK_STATS file), the site's bytes and
the stats file's stages and tasks. At the smallest N (every N with --compare) the
SHA-256 of every file under epochs/<epoch>/proofs/ and of attestation.json (top and
epoch copies) of the first local and first dask sites are compared; the second run of
each engine is compared with its first too (a control: publish is deterministic).

The results JSON (--out DIR/dask.json) holds every run, the medians, the identity
checks, the per-partition costs measured and a projection to 10 M and 100 M clients
on 8, 32 and 128 workers (see `project`). A markdown table is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_privacy import tree_commit  # noqa: E402 - the sibling benchmarks' helpers
from bench_scale import (  # noqa: E402
    EPOCH,
    GIB,
    SEED,
    Child,
    child_env,
    clear_outputs,
    cli,
    client_counts,
    free_bytes,
    human_bytes,
    inputs,
    last_line,
    publish_args,
    run_child,
    site_facts,
    workspace,
)

TREE = HERE.parent  # the tree this script lives in: both engines run its code
ROWS_PER_FILE = 1_000_000
MIN_FILES = 4
DEFAULT_BYTES_PER_ENTRY = 4000  # before a size is measured (bench_scale at 10 M: 3,781)
STAGES = ("read", "group", "trees", "dummies", "shards")
# The engine's task names (the key's first word, dask_engine.py) by the stage they run in.
TASK_STAGE = {
    "read": "read",
    "rsum": "read",
    "sel": "group",
    "group": "group",
    "gsum": "group",
    "place": "trees",
    "pslice": "trees",
    "leaves": "trees",
    "bl": "trees",
    "block": "trees",
    "root": "trees",
    "dummy": "dummies",
    "dsel": "dummies",
    "dgroup": "dummies",
    "dbytes": "dummies",
    "paths": "shards",
    "pick": "shards",
    "bundle": "shards",
    "sroot": "shards",
    "sroot2": "shards",
    "hdr": "shards",
    "codes": "codes",
    "bal": "reserves",
}
TARGET_CLIENTS = (10_000_000, 100_000_000)
TARGET_WORKERS = (8, 32, 128)
ENTRY_BYTES = 48  # a tree node on a path: hash 32 + sum 16 (dask_engine: leaves x height x 48)
SCHEDULER_SECONDS_PER_TASK = 0.001  # an assumption (the Dask docs' order), not measured


# -- inputs ------------------------------------------------------------------------------------


def default_files(rows: int) -> int:
    return max(MIN_FILES, round(rows / ROWS_PER_FILE))


def split_input(ledger: Path, rows: int, files: int) -> Path:
    """WORK/inputs/parts-N-K/part-0000.csv ...: the ledger's rows split in order, each file
    with the header; made once (in a .partial folder renamed at the end) and reused."""
    clients = ledger.name.split("-")[1]
    folder = ledger.parent / f"parts-{clients}-{files}"
    if folder.is_dir():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"splitting {ledger.name} into {files} files in {folder}", file=sys.stderr, flush=True)
    with ledger.open("rb") as src:
        header = src.readline()
        for k in range(files):
            want = (k + 1) * rows // files - k * rows // files
            with (partial / f"part-{k:04d}.csv").open("wb") as out:
                out.write(header)
                for _ in range(want):
                    out.write(src.readline())
        if src.readline():
            raise SystemExit(f"{ledger}: more rows than the {rows:,} counted")
    partial.rename(folder)
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.csv"))


def use_folder(ws: Path, folder: Path) -> None:
    """The workspace's [files] liabilities becomes the parts folder (bench_scale's link to
    the single CSV goes)."""
    (ws / "data" / "liabilities.csv").unlink(missing_ok=True)
    config = ws / "porsegregate.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    at = [i for i, ln in enumerate(lines) if ln.split("=")[0].strip() == "liabilities"]
    if len(at) != 1:
        raise SystemExit(f"{config}: expected one `liabilities =` line, found {len(at)}")
    lines[at[0]] = f"liabilities = {json.dumps(str(folder))}"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- one publish ---------------------------------------------------------------------------------


def publish(engine: str, ws: Path, site: Path, workers: int, env_extra: dict[str, str]) -> Child:
    args = publish_args(ws, "--out", str(site), "--engine", engine)
    if engine == "dask":
        args += ["--dask-workers", str(workers)]
    child = run_child(cli(*args), child_env(TREE, env_extra), ws / "run")
    if child.code != 0:
        raise SystemExit(
            f"publish --engine {engine} exited {child.code}: "
            f"{last_line(child.stderr) or last_line(child.stdout)}"
        )
    json.loads(child.stdout)  # the summary: the publish finished
    return child


def hash_site(site: Path) -> dict[str, str]:
    """SHA-256 of every file under epochs/<epoch>/proofs/ and of both attestation.json."""
    names = [site / "attestation.json", site / "epochs" / EPOCH / "attestation.json"]
    names += sorted((site / "epochs" / EPOCH / "proofs").iterdir())
    out = {}
    for path in names:
        with path.open("rb") as f:
            out[str(path.relative_to(site))] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def compare(a: dict[str, str], b: dict[str, str]) -> dict[str, Any]:
    differing = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
    return {
        "identical": not differing,
        "files_compared": len(a.keys() | b.keys()),
        "differing_count": len(differing),
        "differing": differing[:10],
    }


def disk_check(work: Path, expected: float, factor: float, what: str) -> None:
    free = free_bytes(work)
    if free < factor * expected:
        raise SystemExit(
            f"refusing {what}: it needs about {expected / GIB:.1f} GiB (x {factor} = "
            f"{factor * expected / GIB:.1f} GiB) and {free / GIB:.1f} GiB are free under {work}: "
            "free some space, lower --clients, or (knowingly) lower --disk-factor"
        )


def auto_entries(clients: int) -> int:
    """[privacy] entries = "auto": the next power of two at or above the count, >= 4096."""
    return max(4096, 1 << max(0, clients - 1).bit_length())


def measure(
    engine: str,
    ws: Path,
    workers: int,
    env_extra: dict[str, str],
    keep_hashes: bool,
) -> dict[str, Any]:
    clear_outputs(ws)
    site = ws / f"site-{engine}"
    shutil.rmtree(site, ignore_errors=True)
    stats_path = ws / "run" / f"stats-{engine}.json"
    stats_path.unlink(missing_ok=True)
    env = dict(env_extra)
    if engine == "dask":
        env["PORSEGREGATE_DASK_STATS"] = str(stats_path)
    child = publish(engine, ws, site, workers, env)
    run: dict[str, Any] = {
        "engine": engine,
        "wall": child.wall,
        "cpu": child.cpu,
        "wait4_maxrss_mib": child.rss_mib,
        **site_facts(site),
    }
    if engine == "dask":
        if not stats_path.exists():
            raise SystemExit(f"the dask engine wrote no {stats_path} (PORSEGREGATE_DASK_STATS)")
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        run["stats"] = stats
        run["driver_rss_mib"] = stats["driver_peak_rss"] / 2**20
        run["worker_rss_mib"] = max(stats["worker_peak_rss"], default=0) / 2**20
        run["task_seconds"] = sum(t["seconds_total"] for t in stats.get("tasks", {}).values())
    else:
        run["driver_rss_mib"] = child.rss_mib
    if keep_hashes:
        run["hashes"] = hash_site(site)
    return run


# -- summaries -----------------------------------------------------------------------------------


def med(runs: list[dict[str, Any]], get: Any) -> float:
    return float(statistics.median(get(r) for r in runs))


def task_stages(tasks: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The tasks' compute seconds and counts added up by the stage they run in."""
    out: dict[str, dict[str, float]] = {}
    for name, t in tasks.items():
        stage = out.setdefault(TASK_STAGE.get(name, "other"), {"count": 0, "seconds_total": 0.0})
        stage["count"] += t["count"]
        stage["seconds_total"] = round(stage["seconds_total"] + t["seconds_total"], 4)
    return out


def summarise(
    engine: str, clients: int, rows: int, files: int, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]  # the median-wall run
    site_bytes = int(med(runs, lambda r: r["site_bytes"]))
    row: dict[str, Any] = {
        "engine": engine,
        "clients": clients,
        "rows": rows,
        "files": files,
        "runs": len(runs),
        "wall_seconds": round(med(runs, lambda r: r["wall"]), 2),
        "wall_seconds_all": [round(r["wall"], 2) for r in runs],
        "cpu_seconds": round(med(runs, lambda r: r["cpu"]), 2),
        "driver_peak_rss_mib": round(med(runs, lambda r: r["driver_rss_mib"]), 1),
        "wait4_maxrss_mib": round(med(runs, lambda r: r["wait4_maxrss_mib"]), 1),
        "site_bytes": site_bytes,
        "site_bytes_per_client": round(site_bytes / clients),
        "entries": middle["entries"],
        "shards": middle["shards"],
        "padded_heights": middle["padded_heights"],
    }
    if engine == "dask":
        stats = middle["stats"]
        row.update(
            workers=stats.get("workers"),
            partitions=stats.get("partitions"),
            waves=stats.get("waves"),
            height=stats.get("height"),
            path_bytes=stats.get("path_bytes"),
            engine_start_seconds=stats.get("engine_start_seconds"),
            worker_peak_rss_mib=round(med(runs, lambda r: r["worker_rss_mib"]), 1),
            stages={
                s: round(med(runs, lambda r, s=s: r["stats"]["stages"].get(s, 0.0)), 3)
                for s in sorted({s for r in runs for s in r["stats"]["stages"]})
            },
            task_seconds=round(med(runs, lambda r: r["task_seconds"]), 3),
            tasks=stats.get("tasks", {}),  # the median-wall run's
            task_stages=task_stages(stats.get("tasks", {})),
        )
    return row


def partition_costs(row: dict[str, Any], input_bytes: int) -> dict[str, Any]:
    """What one dask run measured, per partition and per client: the projection's inputs."""
    clients, parts, workers = row["clients"], row["partitions"], row["workers"]
    tasks = row["tasks"]
    by_stage = row["task_stages"]
    wall_stages = row["stages"]
    resident = clients / min(parts, workers)  # clients whose data one worker holds
    return {
        "clients": clients,
        "entries": row["entries"],
        "height": row["height"],
        "partitions": parts,
        "workers": workers,
        "files": row["files"],
        "tasks_recorded": bool(tasks),
        "seconds_per_task": {
            name: round(t["seconds_total"] / t["count"], 6) for name, t in tasks.items()
        },
        "task_seconds_per_partition": {
            stage: round(t["seconds_total"] / parts, 4) for stage, t in by_stage.items()
        },
        "stage_wall_seconds": wall_stages,
        # task compute seconds over the stage's wall x workers: 1 = every worker busy
        "stage_parallel_efficiency": {
            stage: round(by_stage[stage]["seconds_total"] / (wall * workers), 3)
            for stage, wall in wall_stages.items()
            if stage in by_stage and wall > 0
        },
        "task_count": sum(int(t["count"]) for t in tasks.values()),
        "site_bytes_per_client": row["site_bytes"] / clients,
        "site_bytes_per_entry": row["site_bytes"] / row["entries"],
        "path_bytes": row["path_bytes"],
        "path_bytes_per_client": row["path_bytes"] / clients,
        "leaves_per_client": row["path_bytes"] / (clients * row["height"] * ENTRY_BYTES),
        "input_bytes": input_bytes,
        "input_bytes_per_client": input_bytes / clients,
        "worker_peak_rss_bytes": row["worker_peak_rss_mib"] * 2**20,
        "clients_per_partition": clients / parts,
        "clients_resident_per_worker": resident,
        "worker_peak_rss_per_resident_client": row["worker_peak_rss_mib"] * 2**20 / resident,
        "driver_peak_rss_bytes": row["driver_peak_rss_mib"] * 2**20,
        "wall_seconds": row["wall_seconds"],
        "stages_seconds": sum(wall_stages.values()),
        "task_seconds": row["task_seconds"],
        "engine_start_seconds": row["engine_start_seconds"],
    }


# -- the projection ------------------------------------------------------------------------------


def engine_rules() -> dict[str, int]:
    """The engine's partitioning constants (imported from it; the values of issue 12 if the
    package does not import right now)."""
    try:
        from porsegregate.protocol.bundle import shard_bits
        from porsegregate.publish.dask_engine import ACCOUNTS_PER_PARTITION as per_partition
        from porsegregate.publish.dask_engine import MAX_BLOCK_BITS as block_bits
        from porsegregate.publish.dask_engine import MAX_PARTITION_BITS as most_bits
        from porsegregate.publish.dask_engine import WAVE_BYTES as wave_bytes
        from porsegregate.publish.epoch import MIN_AUTO_ENTRIES

        fewest = shard_bits(MIN_AUTO_ENTRIES)
    except Exception:  # the package mid-edit: issue 12's values
        per_partition, most_bits, fewest, block_bits, wave_bytes = 1 << 17, 7, 7, 4, 1 << 29
    return {
        "accounts_per_partition": per_partition,
        "max_partition_bits": most_bits,
        "fewest_shard_bits": fewest,
        "max_block_bits": block_bits,
        "wave_bytes": wave_bytes,
    }


def partition_bits(clients: int, workers: int, rules: dict[str, int]) -> int:
    """dask_engine.DaskEpoch._choose_bits without PORSEGREGATE_DASK_PARTITIONS."""
    bits = max(
        math.ceil(math.log2(workers)) if workers > 1 else 0,
        math.ceil(math.log2(max(1, clients / rules["accounts_per_partition"]))),
    )
    return max(0, min(bits, rules["fewest_shard_bits"], rules["max_partition_bits"]))


def task_count(
    parts: int, assets: int, files: int, entries: int, clients: int, waves: int, blocks: int
) -> int:
    """The tasks the engine submits up to the stats file (dask_engine.py's graph): read F +
    rsum F; sel F*P + group P + gsum P; per asset place 1 + pslice P + leaves P + bl B*P +
    block B + root B; dummy D + dsel D*P + dgroup P + dbytes P; paths waves*A*B + pick A*B*P
    + bundle P + sroot P + hdr P (B = tree blocks, D = dummy chunks of 2^20; the
    P codes tasks come after the stats are written). It equals the measured count at 10 k
    clients (130), and grows as 2 A P^2: the bl and pick tasks."""
    p, a, b = parts, assets, blocks
    d = math.ceil(max(0, entries - clients) / (1 << 20))
    return (
        2 * files
        + files * p
        + 2 * p
        + a * (1 + 2 * p + b * p + 2 * b)
        + d
        + d * p
        + 2 * p
        + waves * a * b
        + a * b * p
        + 3 * p
    )


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of y = a + b x through the smallest and the largest x measured. A falling line
    (noise on a flat quantity): the largest y, constant. A line below zero at x = 0, or one
    point: through zero, b = y / x of the largest."""
    points = sorted(points)
    (x1, y1), (x2, y2) = points[0], points[-1]
    if x2 > x1:
        b = (y2 - y1) / (x2 - x1)
        if b < 0:
            return max(y1, y2), 0.0
        if y1 - b * x1 >= 0:
            return y1 - b * x1, b
    return 0.0, (y2 / x2 if x2 else 0.0)


def project(
    measured: list[dict[str, Any]],
    clients: int,
    workers: int,
    assets: int,
    rules: dict[str, int],
) -> dict[str, Any]:
    """The Dask engine at `clients` clients on `workers` workers, from the runs measured
    (`partition_costs` of each size; "largest" = the largest size measured; "the line" =
    `fit`: y = a + b x through the smallest and the largest size; constant if it falls;
    through zero when one size is measured or it would be negative at zero):

    * entries E = the next power of two >= clients, at least 4096 ([privacy] entries auto);
      height h = log2(E); partitions P = the engine's rule (2^max(ceil(log2 workers),
      ceil(log2(clients / 2^19))), at most 2^7); files F = max(4, 3 x clients / 10^6);
    * time = compute + scheduling + driver, where
      compute = sum over the stages s of: task seconds of s per entry (largest) x E
                / (min(workers, width of s) x efficiency of s (largest)),
                width = F for read (one task a file), P for the others (one task a partition
                or block); efficiency = task seconds of s / (wall of s x workers measured),
                at least 0.05: barriers and imbalance as measured;
      scheduling = tasks x 1 ms (`task_count`, which grows as 2 A P^2; 1 ms a task is the
                Dask documentation's order of magnitude for the scheduler, not measured here);
      driver = the line through the measured (E, publish wall - sum of the stage walls):
                the interpreter and cluster start, signing, pages, the manifest's hashes, the
                log and the codes file, on the driver alone;
      without task times in the stats file, the task seconds of a stage are its wall x the
      workers measured (efficiency 1);
    * memory per worker = the line through the measured (clients / min(P, W), largest
      worker peak RSS), at clients / min(P, workers): a worker holds the groups, leaves and
      blocks of its partitions until the end, and min(P, workers) workers share them;
      driver memory = the line through the measured (clients, driver peak RSS);
    * site bytes = (a + b x h) x E, the line through the measured (height, site bytes per
      entry): an entry's bytes grow with its paths' length;
    * shuffle bytes = path bytes + input bytes, where path bytes = leaves per client
      (largest) x clients x h x 48 (every leaf's path goes once from its tree block to its
      partition) and input bytes = CSV bytes per client (largest) x clients (the rows go
      once from the files' readers to the partitions, estimated by the CSV's size).
    """
    largest = max(measured, key=lambda m: m["clients"])
    entries = auto_entries(clients)
    height = max(1, (entries - 1).bit_length())
    bits = partition_bits(clients, workers, rules)
    parts = 1 << bits
    files = max(MIN_FILES, round(clients * 3 / ROWS_PER_FILE))  # about 3 rows a client
    path_bytes = largest["leaves_per_client"] * clients * height * ENTRY_BYTES
    waves = max(1, min(parts, math.ceil(path_bytes / rules["wave_bytes"])))
    blocks = 1 << min(bits, height, rules["max_block_bits"])
    tasks = task_count(parts, assets, files, entries, clients, waves, blocks)
    compute = 0.0
    w_measured = largest["workers"]
    for stage, wall in largest["stage_wall_seconds"].items():
        if largest["tasks_recorded"]:
            seconds = largest["task_seconds_per_partition"].get(stage, 0.0)
            seconds *= largest["partitions"]
            efficiency = largest["stage_parallel_efficiency"].get(stage, 1.0)
        else:
            seconds, efficiency = wall * w_measured, 1.0
        width = files if stage == "read" else parts
        compute += (
            seconds
            / largest["entries"]
            * entries
            / (min(workers, width) * min(1.0, max(0.05, efficiency)))
        )
    scheduling = SCHEDULER_SECONDS_PER_TASK * tasks
    da, db = fit([(m["entries"], m["wall_seconds"] - m["stages_seconds"]) for m in measured])
    driver = da + db * entries
    ma, mb = fit([(m["clients_resident_per_worker"], m["worker_peak_rss_bytes"]) for m in measured])
    ra, rb = fit([(m["clients"], m["driver_peak_rss_bytes"]) for m in measured])
    sa, sb = fit([(m["height"], m["site_bytes_per_entry"]) for m in measured])
    input_bytes = largest["input_bytes_per_client"] * clients
    return {
        "clients": clients,
        "workers": workers,
        "partitions": parts,
        "entries": entries,
        "height": height,
        "files": files,
        "tasks": tasks,
        "seconds": round(compute + scheduling + driver, 1),
        "seconds_compute": round(compute, 1),
        "seconds_scheduling": round(scheduling, 1),
        "seconds_driver": round(driver, 1),
        "worker_memory_bytes": round(ma + mb * clients / min(parts, workers)),
        "driver_memory_bytes": round(ra + rb * clients),
        "site_bytes": round((sa + sb * height) * entries),
        "shuffle_bytes": round(path_bytes + input_bytes),
        "shuffle_path_bytes": round(path_bytes),
        "shuffle_input_bytes": round(input_bytes),
        "measured_from": sorted(m["clients"] for m in measured),
    }


# -- the report ----------------------------------------------------------------------------------


COLUMNS = (
    "clients",
    "engine",
    "files",
    "workers",
    "partitions",
    "wall s",
    "CPU s",
    "driver RSS MiB",
    "worker RSS MiB",
    "site GB",
    "B/client",
    *(f"{s} s" for s in STAGES),
    "task s",
    "identical",
)


def size(n: float) -> str:
    return f"{n / 1e12:.3g} TB" if n >= 1e12 else human_bytes(n)


def cells(row: dict[str, Any], identity: dict[str, Any] | None) -> list[str]:
    dask = row["engine"] == "dask"
    stages = row.get("stages", {})
    same = "—"
    if dask and identity and "dask_vs_local" in identity:
        same = "yes" if identity["dask_vs_local"]["identical"] else "NO"
    return [
        f"{row['clients']:,}",
        row["engine"],
        str(row["files"]),
        str(row["workers"]) if dask else "—",
        str(row["partitions"]) if dask else "—",
        f"{row['wall_seconds']:.2f}",
        f"{row['cpu_seconds']:.2f}",
        f"{row['driver_peak_rss_mib']:.0f}",
        f"{row['worker_peak_rss_mib']:.0f}" if dask else "—",
        f"{row['site_bytes'] / 1e9:.3f}",
        f"{row['site_bytes_per_client']:,}",
        *(f"{stages[s]:.2f}" if s in stages else "—" for s in STAGES),
        (f"{row['task_seconds']:.1f}" if row["tasks"] else "not recorded") if dask else "—",
        same,
    ]


def table(report: dict[str, Any]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(values) + " |"

    lines = [line(list(COLUMNS)), line(["---"] * len(COLUMNS))]
    for row in report["rows"]:
        lines.append(line(cells(row, report["identity"].get(str(row["clients"])))))
    lines.append("")
    for n, got in report["identity"].items():
        for name, result in got.items():
            verdict = (
                "identical"
                if result["identical"]
                else (
                    f"{result['differing_count']} of {result['files_compared']} files differ: "
                    + ", ".join(result["differing"])
                )
            )
            lines.append(f"{int(n):,} clients, {name.replace('_', ' ')}: {verdict}")
    for n, costs in report["partition_costs"].items():
        eff = ", ".join(f"{s} {v:.2f}" for s, v in costs["stage_parallel_efficiency"].items())
        lines.append(
            f"{int(n):,} clients, dask: {costs['partitions']} partitions, "
            f"{costs['task_count']:,} tasks, parallel efficiency (task s / stage wall x "
            f"workers): {eff or 'no task times recorded'}; wall outside the stages "
            f"{costs['wall_seconds'] - costs['stages_seconds']:.2f} s"
        )
    projection = report.get("projection", [])
    if projection:
        head = (
            "target clients",
            "workers",
            "partitions",
            "tasks",
            "time s (compute + scheduling + driver)",
            "memory/worker",
            "driver memory",
            "site",
            "shuffle",
        )
        lines += ["", line(list(head)), line(["---"] * len(head))]
        for p in projection:
            lines.append(
                line(
                    [
                        f"{p['clients']:,}",
                        str(p["workers"]),
                        str(p["partitions"]),
                        f"{p['tasks']:,}",
                        f"{p['seconds']:,.0f} ({p['seconds_compute']:,.0f} + "
                        f"{p['seconds_scheduling']:,.0f} + {p['seconds_driver']:,.0f})",
                        size(p["worker_memory_bytes"]),
                        size(p["driver_memory_bytes"]),
                        size(p["site_bytes"]),
                        size(p["shuffle_bytes"]),
                    ]
                )
            )
        sizes = ", ".join(f"{n:,}" for n in projection[0]["measured_from"])
        lines.append(
            f"Projection from the dask runs at {sizes} clients "
            "(bench_dask.project states the formulas)."
        )
    lines.append(
        "Medians of the runs. CPU: user + system of the publish process and every process it "
        "reaped (the LocalCluster's workers included). driver RSS: local, wait4's peak; dask, "
        "the driver's own peak from the stats file. worker RSS: the largest worker's peak."
    )
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def projection_table(files: list[Path]) -> str:
    """The projection (`project`) from the partition costs saved in results files."""
    measured = []
    for file in files:
        measured.extend(json.loads(file.read_text())["partition_costs"].values())
    rules = engine_rules()
    lines = [
        "| clients | workers | time (compute + scheduling + driver) | memory a worker | site "
        "| data moved |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for clients in TARGET_CLIENTS:
        for workers in TARGET_WORKERS:
            p = project(measured, clients, workers, 5, rules)
            seconds = p["seconds"]
            shown = f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
            lines.append(
                f"| {clients // 1_000_000} M | {workers} | {shown} ({p['seconds_compute']:.0f} + "
                f"{p['seconds_scheduling']:.0f} + {p['seconds_driver']:.0f} s) | "
                f"{p['worker_memory_bytes'] / 2**30:.1f} GiB | {p['site_bytes'] / 1e9:.0f} GB | "
                f"{p['shuffle_bytes'] / 1e9:.0f} GB |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--clients",
        type=client_counts,
        default=[1_000_000],
        help="comma-separated client counts (default 1000000)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per engine and size (3)")
    parser.add_argument(
        "--files",
        type=int,
        metavar="K",
        help="input split into K CSV files (default one per 1,000,000 rows, at least 4)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (2)")
    parser.add_argument(
        "--partitions",
        type=int,
        metavar="C",
        help="force 2^C partitions (PORSEGREGATE_DASK_PARTITIONS); default the engine's rule",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="check byte-identity at every size (default: the smallest only)",
    )
    parser.add_argument("--skip-local", action="store_true", help="run --engine dask only")
    parser.add_argument(
        "--keep", action="store_true", help="keep the last site of each engine (and workspace)"
    )
    parser.add_argument(
        "--disk-factor",
        type=float,
        default=1.3,
        help="refuse a run unless free disk >= this x the expected site (1.3)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/porbench"))
    parser.add_argument(
        "--out", type=Path, default=HERE / "results", help="results folder (dask.json in it)"
    )
    parser.add_argument(
        "--project-from",
        type=Path,
        nargs="+",
        metavar="RESULTS",
        help="print the projection from these results files (their measured sizes together; "
        "e.g. benchmarks/measured/dask-*.json) and run nothing",
    )
    args = parser.parse_args()
    if args.project_from:
        print(projection_table(args.project_from))
        return
    if args.runs < 1 or args.workers < 1 or (args.files is not None and args.files < 1):
        parser.error("--runs, --workers and --files must be positive")

    work: Path = args.work.resolve()
    out_file: Path = args.out / "dask.json"
    engines = ("dask",) if args.skip_local else ("local", "dask")
    env_extra: dict[str, str] = {}
    if args.partitions is not None:
        env_extra["PORSEGREGATE_DASK_PARTITIONS"] = str(args.partitions)
    rules = engine_rules()
    rows: list[dict[str, Any]] = []
    identity: dict[str, dict[str, Any]] = {}
    costs: dict[str, dict[str, Any]] = {}
    inputs_used: dict[str, Any] = {}
    done: list[int] = []
    per_entry = {e: float(DEFAULT_BYTES_PER_ENTRY) for e in engines}
    smallest = min(args.clients)

    def write_report(complete: bool, final: bool) -> None:
        measured = [costs[str(n)] for n in done if str(n) in costs]
        projection = [
            project(measured, n, w, 5, rules)
            for n in TARGET_CLIENTS
            for w in TARGET_WORKERS
            if measured
        ]
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
            "tree": {"path": str(TREE), **tree_commit(TREE)},
            "settings": {
                "workers": args.workers,
                "runs": args.runs,
                "partitions_env": args.partitions,
                "porsegregate_workers_env": os.environ.get("PORSEGREGATE_WORKERS"),
                "engines": list(engines),
                "engine_rules": rules,
            },
            "cpu_measure": "wait4 of the publish process: it and every process it reaped "
            "(the LocalCluster's workers are its children, joined when the cluster closes)",
            "inputs": inputs_used,
            "clients": list(done),
            "rows": rows,
            "identity": identity,
            "partition_costs": costs,
            "projection": projection,
        }
        report["table"] = table(report)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(report, indent=2) + "\n")
        print(report["table"], file=sys.stdout if final else sys.stderr, flush=True)
        print(f"results: {out_file}", file=sys.stderr, flush=True)

    try:
        for clients in args.clients:
            ledger, nrows = inputs(work, TREE, clients)
            files = args.files or default_files(nrows)
            parts = split_input(ledger, nrows, files)
            input_bytes = folder_bytes(parts)
            inputs_used[str(clients)] = {
                "csv": str(ledger),
                "rows": nrows,
                "seed": SEED,
                "files": files,
                "folder": str(parts),
                "bytes": input_bytes,
            }
            compare_here = args.compare or clients == smallest
            ws = work / "ws" / f"dask-{clients}"
            print(f"{clients:,} clients ({nrows:,} rows, {files} files)", file=sys.stderr)
            measured: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
            try:
                workspace(TREE, ws, ledger)
                use_folder(ws, parts)
                for i in range(args.runs):
                    for engine in engines:  # alternating: both see the same machine
                        expected = per_entry[engine] * auto_entries(clients)
                        disk_check(
                            work, expected, args.disk_factor, f"the {clients:,}-client {engine} run"
                        )
                        run = measure(engine, ws, args.workers, env_extra, compare_here and i < 2)
                        if not args.keep or i < args.runs - 1:
                            shutil.rmtree(ws / f"site-{engine}", ignore_errors=True)
                        measured[engine].append(run)
                        per_entry[engine] = max(
                            per_entry[engine], run["site_bytes"] / run["entries"]
                        )
                        extra = ""
                        if engine == "dask":
                            extra = (
                                f", driver {run['driver_rss_mib']:.0f} MiB, worker "
                                f"{run['worker_rss_mib']:.0f} MiB, {run['stats']['partitions']} "
                                "partitions"
                            )
                        print(
                            f"  {engine}, run {i + 1}/{args.runs}: {run['wall']:.2f} s wall, "
                            f"{run['cpu']:.2f} s CPU, {run['site_bytes'] / 1e6:.1f} MB{extra}",
                            file=sys.stderr,
                            flush=True,
                        )
            finally:
                if not args.keep:
                    shutil.rmtree(ws, ignore_errors=True)
            if compare_here:
                got: dict[str, Any] = {}
                firsts = {e: measured[e][0]["hashes"] for e in engines}
                if "local" in firsts:
                    got["dask_vs_local"] = compare(firsts["local"], firsts["dask"])
                for e in engines:
                    if len(measured[e]) > 1:
                        got[f"{e}_run2_vs_run1"] = compare(firsts[e], measured[e][1]["hashes"])
                identity[str(clients)] = got
            for e in engines:
                for run in measured[e]:
                    run.pop("hashes", None)
                rows.append(summarise(e, clients, nrows, files, measured[e]))
            costs[str(clients)] = partition_costs(rows[-1], input_bytes)
            done.append(clients)
            write_report(complete=False, final=False)
    except BaseException:
        if done:
            print("stopped: the results of the finished client counts follow", file=sys.stderr)
            write_report(complete=False, final=True)
        raise
    write_report(complete=True, final=True)
    if args.keep:
        print(f"sites kept under {work / 'ws'}", file=sys.stderr)


if __name__ == "__main__":
    main()
