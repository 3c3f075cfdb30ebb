"""T17: what the published bytes of a porsegregate/2 site tell an observer without a code.

Each test reads a published site as an observer would (the shard files, their counts and
entry lengths, the signed attestation and manifest) and shows that it does not depend on
what the custodian keeps private: the client count below the chosen bound, and which
assets a client holds.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from porsegregate.cli import main
from porsegregate.errors import ConfigError
from porsegregate.protocol import layout
from porsegregate.protocol.bundle import decode_shard_v2, shard_index
from porsegregate.protocol.codes import parse_code
from porsegregate.protocol.hashing import FORMAT_V1, FORMAT_V2, epoch_keys
from porsegregate.protocol.serialization import parse_attestation, parse_manifest
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import run_demo, write_synthetic_liabilities
from porsegregate.publish.liabilities import read_liabilities
from porsegregate.publish.pipeline import PublishOptions, publish
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE

EPOCH = "2026-11"


def _with_privacy(text: str, privacy: str) -> str:
    """A config's text whose [privacy] table (as `init` writes it) has the lines of `privacy`
    in place of its own lines for the same keys."""
    keys = {line.split(" =")[0] for line in privacy.splitlines()}
    kept = [line for line in text.splitlines() if line.split(" =")[0] not in keys]
    return "\n".join(kept).replace("[privacy]\n", f"[privacy]\n{privacy}\n") + "\n"


def _publish(root: Path, clients: int, privacy: str = "", seed: int = 5) -> dict[str, Any]:
    """A custodian with `clients` clients (the demo's generator), published with the settings
    `privacy` in its config's [privacy] table; no reserves (a stated shortfall)."""
    init_workspace(root, PASSPHRASE)
    config_path = root / "porsegregate.toml"
    text = _with_privacy(config_path.read_text(encoding="utf-8"), privacy)
    # The demo generator's assets: the sample three and USDC, SOL.
    text += '\n[[assets]]\ncode = "USDC"\ndecimals = 6\n\n[[assets]]\ncode = "SOL"\ndecimals = 9\n'
    config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path)
    write_synthetic_liabilities(config.liabilities, clients, seed)
    options = PublishOptions(EPOCH, snapshot_time="2026-11-30T23:59:59Z", allow_shortfall=True)
    result = publish(config, PASSPHRASE, options)
    site = result.site
    manifest = parse_manifest((site / layout.MANIFEST).read_bytes())
    bits = manifest.shard_bits
    assert bits is not None
    shards = {
        layout.shard_file(i, bits): decode_shard_v2(
            (site / layout.shard_file(i, bits)).read_bytes()
        ).entries
        for i in range(1 << bits)
    }
    # Every shard file there is one of the 2^b, each in no manifest.
    assert sorted(p.relative_to(site).as_posix() for p in (site / layout.PROOFS).iterdir()) == (
        sorted(shards)
    )
    assert not any(name.startswith(layout.PROOFS + "/") for name in manifest.files)
    return {
        "site": site,
        "config": config,
        "manifest": manifest,
        "attestation": parse_attestation((site / layout.ATTESTATION).read_bytes()),
        "shards": shards,
        "codes": read_client_codes(result.codes),
        "result": result,
    }


@pytest.fixture(scope="module")
def two_custodians(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], ...]:
    """1,000 and 1,700 clients, the same (default) config."""
    root = tmp_path_factory.mktemp("privacy")
    return _publish(root / "small", 1000, seed=5), _publish(root / "large", 1700, seed=6)


def test_the_shards_do_not_tell_the_client_count(
    two_custodians: tuple[dict[str, Any], ...],
) -> None:
    small, large = two_custodians
    # The same signed entry count and the same shard files (every one of the 2^b): 4,096
    # entries, 32 a shard on average, so b = 7 (128 shards, two hex digits).
    assert small["manifest"].entries == large["manifest"].entries == 4096
    assert small["manifest"].shard_bits == large["manifest"].shard_bits == 7
    assert (
        list(small["shards"])
        == list(large["shards"])
        == [f"proofs/{i:02x}.bin" for i in range(128)]
    )
    for site in (small, large):
        assert sum(len(entries) for entries in site["shards"].values()) == 4096
    # Within statistical noise, the same bytes: the dummies follow the real entries' sizes.
    sizes = [
        sum(len(e) for entries in site["shards"].values() for e in entries.values())
        for site in two_custodians
    ]
    assert abs(sizes[0] - sizes[1]) / max(sizes) < 0.05, sizes
    # The same heights, the same parts: nothing in the attestation scales with the clients.
    # The auto height is ceil(log2(4096 x 1)) = 12: it follows from the entry count alone.
    for site in two_custodians:
        assert {(a.padded_height, a.parts) for a in site["attestation"].assets} == {(12, 1)}


def test_every_entry_has_one_of_the_public_lengths(
    two_custodians: tuple[dict[str, Any], ...],
) -> None:
    """Real and dummy entries alike: the lengths the signed layout gives, one per bucket."""
    for site in two_custodians:
        attestation = site["attestation"]
        layout_ = attestation.bundle_layout
        assert layout_ is not None
        allowed = {layout_.entry_bytes(EPOCH, s) for s in layout_.slot_counts()}
        assert len(allowed) == 4  # 5 assets: buckets of 1, 2, 4 and 5 slots
        lengths = [len(e) for entries in site["shards"].values() for e in entries.values()]
        assert set(lengths) <= allowed
        # Dummies are drawn like the real ones: each bucket's share is close in both.
        ours = _entries_of_clients(site)
        real = [len(e) for e in ours.values()]
        assert len(lengths) - len(real) > 2000
        dummies = list(lengths)
        for n in real:
            dummies.remove(n)
        for length in allowed:
            share_real = real.count(length) / len(real)
            share_dummy = dummies.count(length) / len(dummies)
            assert abs(share_real - share_dummy) < 0.05, (length, share_real, share_dummy)


def _entries_of_clients(site: dict[str, Any]) -> dict[str, bytes]:
    """Each client's own entry, found with their code (what only the client can do)."""
    bits = site["manifest"].shard_bits
    out = {}
    for account, code in site["codes"].items():
        lookup = epoch_keys(parse_code(code), EPOCH).lookup
        out[account] = site["shards"][layout.shard_file(shard_index(lookup, bits), bits)][lookup]
    return out


def test_clients_holding_different_assets_of_one_count_look_alike(
    two_custodians: tuple[dict[str, Any], ...],
) -> None:
    site = two_custodians[0]
    liabilities = read_liabilities(site["config"].liabilities, site["config"].assets)
    codes = [a.code for a in liabilities.assets]
    entries = _entries_of_clients(site)
    by_set: dict[tuple[str, ...], int] = {}
    for account, amounts in liabilities.balances.items():
        held = tuple(c for c, a in zip(codes, amounts, strict=True) if a is not None)
        by_set.setdefault(held, len(entries[account]))
        assert by_set[held] == len(entries[account])
    # Two different sets of two assets, e.g. only BTC+ETH and only SOL+USDC: the same length.
    pairs = {length for held, length in by_set.items() if len(held) == 2}
    assert sum(1 for held in by_set if len(held) == 2) >= 2 and len(pairs) == 1
    singles = {length for held, length in by_set.items() if len(held) == 1}
    assert len(singles) == 1, "one asset, whichever it is and however long its code"
    # Three and four assets share the four-slot bucket.
    assert {by_set[h] for h in by_set if len(h) in (3, 4)} == {
        site["attestation"].bundle_layout.entry_bytes(EPOCH, 4)  # type: ignore[union-attr]
    }


def test_a_fixed_entry_bound_and_height_from_the_config(tmp_path: Path) -> None:
    site = _publish(tmp_path / "ws", 300, "height = 20\nentries = 5000", seed=9)
    # 5,000 entries: 256 shards of about 20 (b = 8, 5000 <= 32 x 2^8), every one published.
    assert site["manifest"].entries == 5000 and site["manifest"].shard_bits == 8
    assert len(site["shards"]) == 256
    assert {a.padded_height for a in site["attestation"].assets} == {20}
    # Unset, the height follows from the entries and the split: ceil(log2(5000 x 3)) = 14.
    auto = _publish(tmp_path / "auto", 300, "entries = 5000\nsplit = 3", seed=9)
    assert {a.padded_height for a in auto["attestation"].assets} == {14}
    with pytest.raises(Exception, match=r"301 clients do not fit in the 300 entries"):
        _publish(tmp_path / "over", 301, "entries = 300", seed=9)


def test_a_tree_too_tall_for_the_height_raises_every_tree_and_says_so(tmp_path: Path) -> None:
    site = _publish(tmp_path / "ws", 40, "height = 4", seed=2)
    assert {a.padded_height for a in site["attestation"].assets} == {5}  # BTC: 17 to 32 holders
    (warning,) = site["result"].warnings
    assert "more than 2^4 leaves ([privacy] height = 4), so every tree of this epoch" in warning
    assert _publish(tmp_path / "ok", 40, "height = 5", seed=2)["result"].warnings == ()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("height = 0", "[privacy] height must be a whole number from 1 to 62"),
        ("height = 63", "[privacy] height must be a whole number from 1 to 62"),
        ("split = 17", "[privacy] split must be a whole number from 1 to 16"),
        ('split = "2"', "[privacy] split must be a whole number from 1 to 16"),
        ('entries = "many"', "[privacy] entries must be a whole number from 1 to 4294967295"),
        ("colour = 1", "[privacy] has unknown key(s) colour"),
    ],
)
def test_bad_privacy_settings_are_refused(tmp_path: Path, setting: str, message: str) -> None:
    init_workspace(tmp_path, PASSPHRASE)
    path = tmp_path / "porsegregate.toml"
    path.write_text(_with_privacy(path.read_text(), setting))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_split_balances_verify_and_show_their_sum(tmp_path: Path) -> None:
    site = _publish(tmp_path / "ws", 200, "split = 2", seed=3)
    assert {a.parts for a in site["attestation"].assets} == {2}
    account, code = next(iter(site["codes"].items()))
    result = CliRunner().invoke(
        main,
        ["verify", "--site", str(site["site"]), "--account", account, "--json"],
        env={"PORSEGREGATE_CODE": code},
    )
    assert result.exit_code == 0, result.output
    liabilities = read_liabilities(site["config"].liabilities, site["config"].assets)
    import json

    doc = json.loads(result.stdout)
    owed = {
        a.code: str(v)
        for a, v in zip(liabilities.assets, liabilities.balances[account], strict=True)
        if v is not None
    }
    assert {b["asset"]: b["amount"] for b in doc["balances"]} == owed


@pytest.fixture(scope="module")
def mixed_history(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two porsegregate/1 epochs, then a porsegregate/2 one, in one site and one log."""
    root = tmp_path_factory.mktemp("mixed")
    return root, run_demo(root, clients=200, seed=4, epochs=3, first_format=FORMAT_V1)


def test_a_history_of_v1_then_v2_epochs_verifies(mixed_history: Any) -> None:
    root, demo = mixed_history
    site = root / "site"
    formats = [
        parse_attestation((site / "epochs" / e.name / layout.ATTESTATION).read_bytes()).format
        for e in sorted((site / "epochs").iterdir())
    ]
    assert formats == [FORMAT_V1, FORMAT_V1, FORMAT_V2]
    args = ["verify", "--site", str(site), "--account", demo.sample_account, "--all-epochs"]
    result = CliRunner().invoke(main, args, env={"PORSEGREGATE_CODE": demo.sample_code})
    assert result.exit_code == 0, result.output
    assert result.output.count(" included: ") == 3
    audited = CliRunner().invoke(main, ["audit", str(site)])
    assert audited.exit_code == 0, audited.output
    # Each epoch's own home verifies in its own format.
    for home in sorted((site / "epochs").iterdir()):
        one = CliRunner().invoke(
            main,
            ["verify", "--site", str(home), "--account", demo.sample_account],
            env={"PORSEGREGATE_CODE": demo.sample_code},
        )
        assert one.exit_code == 0, one.output


def test_dummy_entries_never_open_with_a_code(two_custodians: tuple[dict[str, Any], ...]) -> None:
    """Every entry that is not a client's own is unopenable noise: none shares a lookup id
    with a client, and there are exactly entries - clients of them."""
    site = two_custodians[1]
    ours = {epoch_keys(parse_code(code), EPOCH).lookup for code in site["codes"].values()}
    every = {lookup for entries in site["shards"].values() for lookup in entries}
    assert ours <= every and len(every - ours) == 4096 - 1700
    spread = [len(entries) for entries in site["shards"].values()]
    assert statistics.pstdev(spread) < 16  # the keyed stream spreads them like the lookups
