"""The Dask engine (publish/dask_engine.py) publishes exactly the bytes the single-machine
engine publishes, on a real LocalCluster of 2 worker processes: the same input, secrets and
epoch give the same site, file for file; a ledger's problems read the same; a worker killed
mid-run is retried with the same result, or the run fails and the previous site stays."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import porsegregate
from porsegregate.cli import main
from porsegregate.errors import ConfigError, InputError
from porsegregate.protocol import layout
from porsegregate.protocol.amounts import MAX_AMOUNT, format_decimal
from porsegregate.publish import dask_engine
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import CONFIG_NAME, EngineChoice, load_config
from porsegregate.publish.demo import DEMO_PASSPHRASE, write_synthetic_liabilities
from porsegregate.publish.pipeline import PublishOptions, publish
from porsegregate.publish.workspace import init_workspace, write_config

from .conftest import PASSPHRASE

ASSETS = (("BTC", 8), ("ETH", 18), ("SOL", 9), ("USDC", 6), ("USDT", 6))
EPOCH = "2026-11"
SNAPSHOT = "2026-11-30T23:59:59Z"
SIGNED_AT = "2026-12-01T00:00:00Z"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One LocalCluster of 2 worker processes for the module: its scheduler's address."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        yield local.scheduler_address


def make_workspace(folder: Path, clients: int, files: int, seed: int = 7) -> Path:
    """A workspace whose ledger is a directory of `files` CSV parts, split by rows, with one
    account's rows in the first and the last part (the engines must sum them)."""
    init_workspace(folder, DEMO_PASSPHRASE, sample_data=False)
    write_config(folder / CONFIG_NAME, "Test Custody", "Test Custody Ltd", "Tests.", ASSETS)
    whole = folder / "whole.csv"
    write_synthetic_liabilities(whole, clients, seed)
    header, *rows = whole.read_text().splitlines()
    ledger = folder / "ledger"
    ledger.mkdir()
    step = -(-len(rows) // files)
    parts = [rows[k * step : (k + 1) * step] for k in range(files)]
    first_account = parts[0][0].split(",")[0]
    parts[-1].append(f"{first_account},BTC,0.5")
    for k, part in enumerate(parts):
        (ledger / f"part-{k:03d}.csv").write_text("\n".join([header, *part]) + "\n")
    return folder


def twin(workspace: Path) -> Path:
    """A copy of a workspace (its own log): the same secrets, to publish a second site."""
    return Path(shutil.copytree(workspace, workspace.with_name(workspace.name + "-twin")))


def run_publish(
    workspace: Path,
    site: Path,
    engine: EngineChoice,
    epoch: str = EPOCH,
    ledger: Path | None = None,
) -> Any:
    config = load_config(workspace / CONFIG_NAME)
    options = PublishOptions(
        epoch,
        snapshot_time=SNAPSHOT,
        site=site,
        codes_path=site.parent / f"{site.name}-codes.csv",
        liabilities_path=ledger or workspace / "ledger",
        allow_shortfall=True,
        engine=engine,
    )
    return publish(config, DEMO_PASSPHRASE, options)


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> SHA-256)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log checkpoint's time (the only clock a publish reads) fixed, so that two runs
    can be compared byte for byte, pages and log included."""
    monkeypatch.setattr(layout, "now", lambda: SIGNED_AT)


def test_the_dask_engine_publishes_the_same_site_byte_for_byte(
    cluster: str, tmp_path: Path, frozen_clock: None
) -> None:
    """The issue's main test: 100 k clients in 4 files, both engines, every file's SHA-256."""
    workspace = make_workspace(tmp_path / "ws", 100_000, files=4)
    other = twin(workspace)
    local = run_publish(workspace, tmp_path / "local", EngineChoice("local"))
    dask = run_publish(other, tmp_path / "dask", EngineChoice("dask", scheduler=cluster))
    assert (dask.clients, dask.entries) == (local.clients, local.entries) == (100_000, 131_072)
    want, got = file_hashes(tmp_path / "local"), file_hashes(tmp_path / "dask")
    assert len(want) > 4096  # 2^12 shards and the rest
    assert sorted(set(want) ^ set(got)) == []
    assert [name for name in want if want[name] != got[name]] == []
    # The private codes: the same code for every client (the rows in another order).
    assert read_client_codes(tmp_path / "dask-codes.csv") == read_client_codes(
        tmp_path / "local-codes.csv"
    )


@pytest.mark.parametrize("bits", ["0", "1", "3"])
def test_the_site_does_not_depend_on_the_partitioning(
    cluster: str, tmp_path: Path, frozen_clock: None, monkeypatch: pytest.MonkeyPatch, bits: str
) -> None:
    workspace = make_workspace(tmp_path / "ws", 3000, files=3)
    other = twin(workspace)
    run_publish(workspace, tmp_path / "local", EngineChoice("local"))
    monkeypatch.setenv(dask_engine.PARTITIONS_ENV, bits)
    run_publish(other, tmp_path / "dask", EngineChoice("dask", scheduler=cluster))
    assert file_hashes(tmp_path / "dask") == file_hashes(tmp_path / "local")


def _ledger(folder: Path, parts: list[str]) -> Path:
    folder.mkdir(parents=True)
    for k, text in enumerate(parts):
        (folder / f"part-{k}.csv").write_text("account_id,asset,amount\n" + text)
    return folder


BIG = format_decimal(MAX_AMOUNT, 8)  # the most an asset total may be, in BTC


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (["a,BTC,1\n", "b,BTC,x\n"], "1 problem(s)"),
        (["a,DOGE,1\n", "b,BTC,1\nc,XRP,2\n"], "2 problem(s)"),
        (["a,BTC,1\n", ""], None),  # an empty part beside one with rows is fine
        (["", ""], "no client rows"),
        ([f"a,BTC,{BIG}\n", "b,BTC,0.00000001\n"], "do not fit in 128 bits"),
        (["a,BTC,1\na,BTC,-1\n"], "1 problem(s)"),
    ],
)
def test_a_ledger_problem_reads_the_same_from_both_engines(
    cluster: str, tmp_path: Path, parts: list[str], message: str | None
) -> None:
    init_workspace(tmp_path / "ws", DEMO_PASSPHRASE, sample_data=False)
    write_config(tmp_path / "ws" / CONFIG_NAME, "T", "T Ltd", "Tests.", ASSETS)
    _ledger(tmp_path / "ws" / "ledger", parts)
    other = twin(tmp_path / "ws")
    outcomes = []
    for name, workspace, engine in (
        ("local", tmp_path / "ws", EngineChoice("local")),
        ("dask", other, EngineChoice("dask", scheduler=cluster)),
    ):
        try:
            run_publish(workspace, tmp_path / name, engine, ledger=tmp_path / "ws" / "ledger")
            outcomes.append(None)
        except InputError as exc:
            outcomes.append((str(exc), list(exc.problems)))
    assert outcomes[0] == outcomes[1]
    if message is None:
        assert outcomes[0] is None
    else:
        assert outcomes[0] is not None
        assert message in outcomes[0][0] + "\n".join(outcomes[0][1])


def test_the_cli_publishes_through_a_scheduler_and_the_data_room_audit_agrees(
    cluster: str, tmp_path: Path
) -> None:
    """`publish --scheduler ADDRESS` (an existing cluster); then the data room, rebuilt by
    the single-machine code, finds every bundle of the Dask-published site as it expects."""
    workspace = make_workspace(tmp_path / "ws", 2000, files=2)
    runner = CliRunner()
    env = {"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()}
    done = runner.invoke(
        main,
        ["publish", "-w", str(workspace), "--epoch", EPOCH, "--snapshot-time", SNAPSHOT,
         "--allow-shortfall", "--liabilities", str(workspace / "ledger"),
         "--scheduler", cluster, "--json"],
        env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["clients"] == 2000
    config = load_config(workspace / CONFIG_NAME)
    room = tmp_path / "room"
    exported = runner.invoke(
        main,
        [
            "dataroom",
            "export",
            "-w",
            str(workspace),
            "--epoch",
            EPOCH,
            "--out",
            str(room),
            "--liabilities",
            str(workspace / "ledger"),
        ],
        env={**env, "PORSEGREGATE_DATAROOM_PASSPHRASE": "data-room-passphrase"},
    )
    assert exported.exit_code == 0, exported.output
    audited = runner.invoke(
        main,
        ["audit", str(config.site), "--dataroom", str(room), "--all"],
        env={"PORSEGREGATE_DATAROOM_PASSPHRASE": "data-room-passphrase"},
    )
    assert audited.exit_code == 0, audited.output
    assert "AUDIT PASSED" in audited.output


def _cli(workspace: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "porsegregate.cli", "publish", "-w", str(workspace),
         "--snapshot-time", SNAPSHOT, "--allow-shortfall", "--liabilities",
         str(workspace / "ledger"), *extra],
        env=env, capture_output=True, timeout=600, check=False, text=True,
    )  # fmt: skip


def _env(**more: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(porsegregate.__file__).parent.parent)
    env["PORSEGREGATE_PASSPHRASE"] = DEMO_PASSPHRASE.decode()
    env.update(more)
    return env


def _proofs_and_attestation(site: Path) -> dict[str, str]:
    hashes = file_hashes(site)
    return {k: v for k, v in hashes.items() if k.startswith("proofs/") or k == "attestation.json"}


def test_a_worker_killed_mid_run_is_retried_with_the_same_result(tmp_path: Path) -> None:
    """A real LocalCluster (--dask-workers 2, no scheduler given): the worker running the
    first bundle task SIGKILLs itself; Dask runs the lost work again elsewhere and the site
    is the single-machine engine's, shard for shard."""
    workspace = make_workspace(tmp_path / "ws", 3000, files=2)
    other = twin(workspace)
    marker = tmp_path / "killed"
    local = _cli(other, _env(), "--epoch", EPOCH, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    env = _env(PORSEGREGATE_FAULT=f"dask-worker:{marker}")
    dask = _cli(workspace, env, "--epoch", EPOCH, "--engine", "dask", "--dask-workers", "2",
                "--out", str(tmp_path / "dask"))  # fmt: skip
    assert dask.returncode == 0, dask.stderr
    assert marker.exists()  # a worker did die
    want = _proofs_and_attestation(tmp_path / "local")
    assert len(want) == 1 + 128
    assert _proofs_and_attestation(tmp_path / "dask") == want


def test_workers_that_keep_dying_fail_the_run_and_lose_nothing(tmp_path: Path) -> None:
    """With no retries allowed (Dask's own setting), a killed worker fails the run: exit 3,
    a clear message, no traceback; the site still shows the previous epoch, whole, and
    nothing is left beside it; the codes file of the failed epoch is not written."""
    workspace = make_workspace(tmp_path / "ws", 2000, files=2)
    site = tmp_path / "site"
    first = _cli(workspace, _env(), "--epoch", "2026-10", "--out", str(site))
    assert first.returncode == 0, first.stderr
    before = file_hashes(site)
    env = _env(
        PORSEGREGATE_FAULT=f"dask-worker:{tmp_path / 'killed'}",
        DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0",
    )
    codes = tmp_path / "codes-11.csv"
    failed = _cli(workspace, env, "--epoch", EPOCH, "--engine", "dask", "--dask-workers", "2",
                  "--out", str(site), "--codes-out", str(codes))  # fmt: skip
    assert failed.returncode == 3, failed.stderr
    assert "Dask workers died" in failed.stderr
    assert "the previous site is intact" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert file_hashes(site) == before
    assert sorted(p.name for p in tmp_path.glob(".site*")) == []
    assert not codes.exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('kind = "spark"', "unknown engine 'spark' (choose local or dask)"),
        ("workers = 0", "0 Dask workers: choose 1 to 1024"),
        ('workers = "two"', "[engine] workers must be a whole number"),
        ('kind = "dask"\nscheduler = "10.0.0.5:8786"', "give an address such as tcp://HOST:8786"),
        ("threads = 4", "[engine] has unknown key(s) threads"),
    ],
)
def test_bad_engine_tables(tmp_path: Path, table: str, message: str) -> None:
    init_workspace(tmp_path, DEMO_PASSPHRASE, sample_data=False)
    config = tmp_path / CONFIG_NAME
    config.write_text(config.read_text() + f"\n[engine]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert message in str(caught.value)
    assert str(config) in str(caught.value)


def test_the_engine_table_is_read(tmp_path: Path) -> None:
    init_workspace(tmp_path, DEMO_PASSPHRASE, sample_data=False)
    config = tmp_path / CONFIG_NAME
    config.write_text(
        config.read_text() + '\n[engine]\nkind = "dask"\nscheduler = "tcp://10.0.0.5:8786"\n'
    )
    assert load_config(config).engine == EngineChoice("dask", "tcp://10.0.0.5:8786", None)


def test_scheduler_options_need_the_dask_engine(tmp_path: Path) -> None:
    init_workspace(tmp_path, DEMO_PASSPHRASE, sample_data=False)
    done = CliRunner().invoke(
        main,
        ["publish", "-w", str(tmp_path), "--epoch", EPOCH, "--engine", "local",
         "--scheduler", "tcp://127.0.0.1:8786"],
        env={"PORSEGREGATE_PASSPHRASE": DEMO_PASSPHRASE.decode()},
    )  # fmt: skip
    assert done.exit_code == 3
    assert "--scheduler and --dask-workers go with --engine dask" in done.output


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", 100, files=1)
    env = _env(DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")
    done = _cli(workspace, env, "--epoch", EPOCH, "--scheduler", "tcp://127.0.0.1:9")
    assert done.returncode == 3, done.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (workspace / "site").exists()


def test_reserves_with_a_client_dedicated_wallet_sign_the_same_attestation(
    cluster: str, published: dict[str, Any], own_copy: tuple[Any, Path]
) -> None:
    """The reserves checks read a dedicated wallet's client's balances from the workers (the
    driver holds no ledger): republishing the session's epoch (signed reserves on three
    chains, a wallet held for one client) with the Dask engine signs the same attestation."""
    config, site = own_copy
    options = PublishOptions(
        "2026-11",
        snapshot_time="2026-11-30T23:59:59Z",
        reserves_path=published["reserves"],
        replace=True,
        engine=EngineChoice("dask", scheduler=cluster),
    )
    result = publish(config, PASSPHRASE, options)
    assert result.clients == published["result"].clients
    original = published["site"] / "attestation.json"
    assert (site / "attestation.json").read_bytes() == original.read_bytes()
    assert _proofs_and_attestation(site) == _proofs_and_attestation(published["site"])


@pytest.mark.parametrize(
    ("count", "height"),
    [
        (0, 5),
        (1, 1),
        (2, 1),  # dense, every position
        (3, 2),  # dense
        (9, 4),  # dense: 2 x 9 > 16
        (8, 4),  # sparse at the edge: 2 x 8 = 16
        (100, 8),  # sparse, the first draws not enough: the stream extends
        (700, 12),
        (1000, 20),  # sparse, few repeats
    ],
)
def test_the_placement_on_the_cluster_is_leaf_positions(
    cluster: str, monkeypatch: pytest.MonkeyPatch, count: int, height: int
) -> None:
    """The distributed placement (draws in chunks, buckets by value, the cut found from
    counts) gives epoch.leaf_positions' numbers, leaf for leaf, in any rank range; chunks
    of 64 draws so that every case spans several chunks and buckets."""
    from distributed import Client

    from porsegregate.publish.epoch import leaf_positions

    monkeypatch.setattr(dask_engine, "PLACE_CHUNK", 64)
    key = hashlib.sha256(f"{count}/{height}".encode()).digest()
    want = leaf_positions(count, height, key)
    with Client(cluster, set_as_default=False) as client:
        built = dask_engine.DaskEpoch(client, None, EPOCH)
        ranks = built._placement(0, count, height, key)
        cuts = sorted({0, count // 3, count // 2, count})
        pieces = [ranks(lo, hi, k) for k, (lo, hi) in enumerate(itertools.pairwise(cuts))]
        got = client.gather(pieces) if pieces else []
    joined = [int(x) for piece in got for x in piece]
    assert joined == want.tolist()
