"""What `reserves check` tells a custodian: a failed check and a shortfall are told apart,
and what passes but deserves a look (nothing read from a node, no snapshot time, a
dedicated wallet of a client owed nothing in its asset) is warned about on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from porsegregate.cli import main
from porsegregate.publish.config import load_config
from porsegregate.publish.demo_reserves import write_demo_reserves
from porsegregate.publish.pipeline import prepare_epoch
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PORSEGREGATE_PASSPHRASE", PASSPHRASE.decode())
    init_workspace(tmp_path / "ws", PASSPHRASE)
    return tmp_path / "ws"


def check(workspace: Path, epoch: str, *extra: str) -> Result:
    args = ["reserves", "check", "--workspace", str(workspace), "--epoch", epoch, *extra]
    return CliRunner().invoke(main, args)


def reserves(workspace: Path, epoch: str) -> Path:
    config = load_config(workspace / "porsegregate.toml")
    path = config.for_epoch(epoch).reserves
    write_demo_reserves(path, prepare_epoch(config, PASSPHRASE, epoch))
    return path


def test_passing_check_warns_when_nothing_was_read_from_a_node(workspace: Path) -> None:
    reserves(workspace, "2026-11")
    result = check(workspace, "2026-11")
    assert result.exit_code == 0, result.output
    assert "All reserves checks pass." in result.stdout
    assert "warning: no chain was read from a node" in result.stderr
    assert "declared, not checked" in result.stderr
    assert "warning: no --snapshot-time" in result.stderr
    result = check(workspace, "2026-11", "--snapshot-time", "2026-11-30T23:59:59Z")
    assert "no --snapshot-time" not in result.stderr


def test_a_shortfall_is_not_a_failed_check(workspace: Path) -> None:
    path = reserves(workspace, "2026-11")
    text = path.read_text()
    # Less BTC in one segregated wallet (balances are not signed: every check still passes).
    assert text.count('balances = { BTC = "0.75024" }') == 1
    path.write_text(text.replace('balances = { BTC = "0.75024" }', 'balances = { BTC = "0.5" }'))
    result = check(workspace, "2026-11", "--snapshot-time", "2026-11-30T23:59:59Z")
    assert result.exit_code == 1
    assert "Shortfall: segregated reserves do not cover client liabilities in BTC" in (
        result.stdout
    )
    assert "FAILED" not in result.output


def test_a_failed_check_is_not_a_shortfall(workspace: Path) -> None:
    # Last month's signatures, this month's epoch: every signature fails.
    (workspace / "data" / "reserves-2026-12.toml").write_bytes(
        reserves(workspace, "2026-11").read_bytes()
    )
    result = check(workspace, "2026-12", "--snapshot-time", "2026-12-31T23:59:59Z")
    assert result.exit_code == 1
    assert "Reserves checks FAILED" in result.stdout
    assert "Shortfall:" not in result.output


def test_dedicated_wallet_of_a_client_owed_nothing_is_warned(workspace: Path) -> None:
    path = reserves(workspace, "2026-11")
    text = path.read_text()
    assert 'client = "bob-7731"' in text
    # dave is owed no ETH (only "dave,BTC,0" in the sample ledger).
    path.write_text(text.replace('client = "bob-7731"', 'client = "dave"'))
    result = check(workspace, "2026-11", "--snapshot-time", "2026-11-30T23:59:59Z")
    assert "warning: ETH: client dave is owed no ETH" in result.stderr
    assert "client_dedicated wallet(s)" in result.stderr


def test_epoch_placeholder_reads_each_epochs_file(workspace: Path) -> None:
    reserves(workspace, "2026-11")
    result = check(workspace, "2026-12")
    assert result.exit_code == 3
    assert "reserves-2026-12.toml" in result.output
