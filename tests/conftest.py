"""Shared fixtures: a small published site built once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"
PASSPHRASE = b"correct horse battery staple"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A workspace initialised and published once: (config, result, codes by account)."""
    from porsegregate.publish.client_codes import read_client_codes
    from porsegregate.publish.config import load_config
    from porsegregate.publish.demo_reserves import write_demo_reserves
    from porsegregate.publish.pipeline import PublishOptions, prepare_epoch, publish
    from porsegregate.publish.workspace import init_workspace

    root = tmp_path_factory.mktemp("published")
    init_workspace(root / "ws", PASSPHRASE)
    config = load_config(root / "ws" / "porsegregate.toml")
    # Signed reserves on three chains, every category, a dedicated wallet for one client;
    # one reserves file per epoch, as a custodian keeps them (signatures bind the epoch).
    reserves = root / "ws" / "data" / "reserves-2026-11.toml"
    prepared = prepare_epoch(config, PASSPHRASE, "2026-11")
    dedicated = write_demo_reserves(reserves, prepared)
    options = PublishOptions(
        "2026-11", snapshot_time="2026-11-30T23:59:59Z", reserves_path=reserves
    )
    result = publish(config, PASSPHRASE, options, prepared=prepared)
    codes = read_client_codes(result.codes)
    return {
        "config": config,
        "result": result,
        "codes": codes,
        "site": result.site,
        "dedicated_client": dedicated,
        "reserves": reserves,
    }


@pytest.fixture
def own_copy(published: dict[str, Any], tmp_path: Path) -> tuple[Any, Path]:
    """A private copy of the published workspace (config, keys, log and site) to publish into.

    A workspace's log belongs to one site: publishing the shared workspace into another
    folder would fork it, and porsegregate refuses that.
    """
    import shutil

    from porsegregate.publish.config import load_config

    workspace = published["config"].workspace
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    config = load_config(copy / "porsegregate.toml")
    return config, config.site


def own_log(config: Any, tmp_path: Path) -> Any:
    """The config with a log of its own: for tests that publish one workspace into many sites."""
    import dataclasses

    return dataclasses.replace(config, log=tmp_path / "log")


@pytest.fixture(scope="session")
def counted_twice(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A three-epoch history whose next epoch counts its omnibus wallets twice (T14).

    Built once: the Python, Node, browser and audit tests all check the same site.
    """
    from .support import history, reserves_attacks

    built = history.build_history(tmp_path_factory.mktemp("counted-twice") / "demo")
    reserves_attacks.count_wallets_twice(built)
    return built
