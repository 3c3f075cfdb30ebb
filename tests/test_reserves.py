"""Reserves: the declaration file, proof of control with real keys, commingling, coverage (T11).

Every error the issue lists is built here the way a careless or dishonest
custodian would build it, with real signatures by real (test) keys.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from porsegregate import _crypto
from porsegregate.chains import bitcoin, ed25519, evm
from porsegregate.errors import InputError, ReservesError
from porsegregate.protocol.control import control_message
from porsegregate.publish.assess import challenges
from porsegregate.publish.config import Config, load_config
from porsegregate.publish.demo_reserves import render_reserves_toml, write_signed_reserves
from porsegregate.publish.pipeline import (
    PreparedEpoch,
    PublishOptions,
    assess_reserves,
    prepare_epoch,
    publish,
)
from porsegregate.publish.reserves import read_reserves
from porsegregate.publish.workspace import init_workspace

from .conftest import PASSPHRASE, own_log

EPOCH = "2026-11"
USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def key(label: str) -> bytes:
    return _crypto.sha256(b"porsegregate tests: reserves key " + label.encode())


def addr(kind: str, label: str) -> str:
    k = key(label)
    if kind == "evm":
        return evm.address_of(k)
    if kind == "ed25519":
        return ed25519.address_of(k)
    return bitcoin.address_of(k, kind, "mainnet")


CHAINS: dict[str, dict[str, Any]] = {
    "bitcoin": {
        "kind": "bitcoin",
        "network": "mainnet",
        "block": 900_000,
        "block_hash": "00" * 32,
        "assets": {"BTC": "native"},
    },
    "ethereum": {
        "kind": "evm",
        "chain_id": 1,
        "block": 23_000_000,
        "block_hash": "0x" + "11" * 32,
        "explorer_address": "https://etherscan.io/address/{address}",
        "assets": {"ETH": "native", "USDT": USDT},
    },
    "polygon": {
        "kind": "evm",
        "chain_id": 137,
        "block": 70_000_000,
        "block_hash": "0x" + "22" * 32,
        "assets": {"USDT": "0xc2132D05D31c914a87C6611C10748AEb04B58e8F"},
    },
}


def wallet(
    chain: str, kind: str, label: str, category: str, balances: dict[str, str], **extra: Any
) -> dict[str, Any]:
    holder = "Example Custody Ltd (own funds)" if category == "proprietary" else "Client Trust"
    return {
        "chain": chain,
        "address": addr(kind, label),
        "category": category,
        "holder": holder,
        "label": label,
        "balances": balances,
        **extra,
    }


# The sample workspace owes BTC 1.2504, ETH 12.000000000000000001, USDT 251625.75 (bob-7731
# holds all the ETH).
def covered_wallets() -> list[dict[str, Any]]:
    return [
        wallet("bitcoin", "p2wpkh", "btc cold", "client_segregated", {"BTC": "1.3"}),
        wallet("ethereum", "evm", "omnibus", "client_segregated", {"USDT": "251625.75"}),
        wallet(
            "ethereum",
            "evm",
            "bob",
            "client_dedicated",
            {"ETH": "12.000000000000000001"},
            client="bob-7731",
        ),
        wallet("ethereum", "evm", "house", "proprietary", {"ETH": "100"}),
        wallet(
            "bitcoin",
            "p2wpkh",
            "bank",
            "third_party",
            {"BTC": "0.5"},
            proof="none",
            evidence="Bank statement 2026-11-30",
        ),
    ]


KINDS = {"btc cold": "p2wpkh", "omnibus": "evm", "bob": "evm", "house": "evm"}


def keys_for(wallets: list[dict[str, Any]]) -> dict[str, tuple[str, bytes]]:
    out = {}
    for w in wallets:
        if w.get("proof") == "none":
            continue
        kind = KINDS.get(w["label"], "evm")
        out[w["address"]] = (kind, key(w.get("signer", w["label"])))
    return out


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, PreparedEpoch]:
    root = tmp_path_factory.mktemp("reserves")
    init_workspace(root, PASSPHRASE)
    config = load_config(root / "porsegregate.toml")
    return config, prepare_epoch(config, PASSPHRASE, EPOCH)


def signed(
    ws: tuple[Config, PreparedEpoch],
    tmp_path: Path,
    wallets: list[dict[str, Any]],
    chains: dict[str, dict[str, Any]] | None = None,
) -> Path:
    path = tmp_path / "reserves.toml"
    signers = keys_for(wallets)
    for w in wallets:
        w.pop("signer", None)
    write_signed_reserves(path, ws[1], copy.deepcopy(chains or CHAINS), wallets, signers)
    return path


def assess_file(ws: tuple[Config, PreparedEpoch], path: Path) -> Any:
    config, prepared = ws
    return assess_reserves(prepared, read_reserves(path, config.assets))


def test_covered_reserves_pass_every_check(ws: Any, tmp_path: Path) -> None:
    result = assess_file(ws, signed(ws, tmp_path, covered_wallets()))
    assert result.errors == [] and result.shortfalls == []
    cov = {c.asset: c for c in result.reserves.coverage}
    assert cov["BTC"].client_segregated == 130_000_000
    assert cov["BTC"].third_party == 50_000_000  # shown apart, never in the segregated figure
    assert cov["ETH"].client_dedicated_counted == 12 * 10**18 + 1
    assert cov["ETH"].proprietary == 100 * 10**18 and cov["ETH"].segregated == 12 * 10**18 + 1
    assert all(c.covered for c in cov.values())
    dedicated = [w for w in result.reserves.wallets if w.category == "client_dedicated"]
    assert len(dedicated) == 1 and dedicated[0].client_tag is not None
    # Every proven wallet publishes the key that signed; the unproven one carries evidence.
    for w in result.reserves.wallets:
        assert (w.proof.public_key is None) == (w.proof.type == "none")


def test_proprietary_reserves_never_cover_clients(ws: Any, tmp_path: Path) -> None:
    wallets = covered_wallets()
    wallets[2]["balances"] = {"ETH": "0"}  # bob's dedicated wallet is empty...
    wallets[3]["balances"] = {"ETH": "1000000"}  # ...while the house holds a million ETH
    result = assess_file(ws, signed(ws, tmp_path, wallets))
    assert result.errors == []
    assert result.shortfalls == [
        "ETH: segregated reserves of 0 cover 0.00% of client liabilities of "
        "12.000000000000000001 (short by 12.000000000000000001)",
        "ETH: the dedicated wallet(s) of client bob-7731 hold 0 of the "
        "12.000000000000000001 owed to them",
    ]


def test_dedicated_excess_covers_only_its_own_client(ws: Any, tmp_path: Path) -> None:
    wallets = covered_wallets()
    wallets[2]["balances"] = {"ETH": "12.000000000000000001", "USDT": "300000"}
    wallets[1]["balances"] = {"USDT": "1"}
    result = assess_file(ws, signed(ws, tmp_path, wallets))
    usdt = next(c for c in result.reserves.coverage if c.asset == "USDT")
    assert usdt.client_dedicated == 300_000 * 10**6
    assert usdt.client_dedicated_counted == 0  # bob is owed no USDT: it covers nobody else
    assert usdt.segregated == 10**6 and not usdt.covered


def test_a_wrong_key_fails_proof_of_control(ws: Any, tmp_path: Path) -> None:
    wallets = covered_wallets()
    wallets[1]["signer"] = "someone else"
    result = assess_file(ws, signed(ws, tmp_path, wallets))
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (
        f"ethereum {addr('evm', 'omnibus')}): proof of control fails: signature was made by "
        in (error)
    )
    assert evm.address_of(key("someone else")) in error


def test_a_signature_for_another_category_is_named(ws: Any, tmp_path: Path) -> None:
    """The house key signed as proprietary; the custodian relabels it client_segregated."""
    wallets = covered_wallets()
    path = signed(ws, tmp_path, wallets)
    text = path.read_text()
    house = addr("evm", "house")
    start = text.index(f'address = "{house}"')
    relabelled = text[:start] + text[start:].replace(
        'category = "proprietary"', 'category = "client_segregated"', 1
    )
    path.write_text(relabelled)
    result = assess_file(ws, path)
    assert any(
        f"(ethereum {house}): the wallet key signed the challenge for category proprietary, "
        "but the wallet is declared as client_segregated" in e
        for e in result.errors
    ), result.errors


def test_last_epochs_signature_is_refused(ws: Any, tmp_path: Path) -> None:
    config, _ = ws
    old = prepare_epoch(config, PASSPHRASE, "2026-10")
    path = tmp_path / "old.toml"
    wallets = covered_wallets()
    write_signed_reserves(path, old, copy.deepcopy(CHAINS), wallets, keys_for(wallets))
    result = assess_file(ws, path)
    assert len(result.errors) == 4  # every proven wallet; the unproven one has no signature
    assert all("proof of control fails" in e for e in result.errors)


def test_the_message_binds_every_field() -> None:
    base = {
        "custodian": "C",
        "fingerprint": "ab" * 32,
        "epoch": "e",
        "liabilities_sha256": "cd" * 32,
        "chain": "ethereum",
        "address": "0x1",
        "category": "client_segregated",
        "holder": "H",
        "client_tag": None,
    }
    message = control_message(**base)  # type: ignore[arg-type]
    assert message.splitlines()[0] == "porsegregate proof of control (porsegregate/1)"
    assert len(message.splitlines()) == 10 and not message.endswith("\n")
    for field, other in (
        ("custodian", "D"),
        ("fingerprint", "ef" * 32),
        ("epoch", "f"),
        ("liabilities_sha256", "00" * 32),
        ("chain", "polygon"),
        ("address", "0x2"),
        ("category", "proprietary"),
        ("holder", "I"),
        ("client_tag", b"\x01" * 32),
    ):
        assert control_message(**{**base, field: other}) != message, field  # type: ignore[arg-type]


def test_same_key_in_two_categories_across_evm_chains(ws: Any, tmp_path: Path) -> None:
    wallets = [
        *covered_wallets(),
        wallet("polygon", "evm", "house", "client_segregated", {"USDT": "1"}),
    ]
    result = assess_file(ws, signed(ws, tmp_path, wallets))
    assert result.errors and all("commingling" in e for e in result.errors)
    assert any("the same address is in proprietary" in e for e in result.errors)
    assert any("the same public key is in proprietary" in e for e in result.errors)


def test_same_secp256k1_key_on_bitcoin_and_ethereum(ws: Any, tmp_path: Path) -> None:
    """One key behind a proprietary EVM wallet and a client Bitcoin wallet: commingled."""
    wallets = covered_wallets()
    wallets[0] = wallet("bitcoin", "p2wpkh", "house", "client_segregated", {"BTC": "1.3"})
    KINDS_BACKUP = dict(KINDS)
    try:
        KINDS["house"] = "p2wpkh"
        signers = keys_for(wallets)
        signers[wallets[3]["address"]] = ("evm", key("house"))
        path = tmp_path / "reserves.toml"
        write_signed_reserves(path, ws[1], copy.deepcopy(CHAINS), wallets, signers)
    finally:
        KINDS.clear()
        KINDS.update(KINDS_BACKUP)
    result = assess_file(ws, path)
    assert result.errors == [
        f"commingling: the same public key is in client_segregated ({path}: wallet 1, bitcoin "
        f"{addr('p2wpkh', 'house')}) and in proprietary ({path}: wallet 4, ethereum "
        f"{addr('evm', 'house')})"
    ]


def test_dedicated_wallet_of_unknown_client(ws: Any, tmp_path: Path) -> None:
    wallets = covered_wallets()
    wallets[2]["client"] = "nobody"
    result = assess_file(ws, signed(ws, tmp_path, wallets))
    assert any(
        "client 'nobody' of this client_dedicated wallet has no liabilities" in e
        for e in result.errors
    )


def test_publish_refuses_errors_and_shortfalls(ws: Any, tmp_path: Path) -> None:
    config, prepared = ws
    wallets = covered_wallets()
    wallets[1]["signer"] = "someone else"
    bad = signed(ws, tmp_path, wallets)
    site = tmp_path / "site"
    with pytest.raises(ReservesError, match="1 reserves check"):
        options = PublishOptions(EPOCH, site=site, reserves_path=bad, allow_shortfall=True)
        publish(own_log(config, tmp_path), PASSPHRASE, options, prepared=prepared)
    assert not site.exists()
    short = covered_wallets()
    short[0]["balances"] = {"BTC": "1.25"}
    path = signed(ws, tmp_path, short)
    with pytest.raises(ReservesError) as info:
        options = PublishOptions(EPOCH, site=site, reserves_path=path)
        publish(own_log(config, tmp_path), PASSPHRASE, options, prepared=prepared)
    assert "--allow-shortfall" in str(info.value)
    assert info.value.problems == [
        "BTC: segregated reserves of 1.25 cover 99.96% of client liabilities of 1.2504 "
        "(short by 0.0004)"
    ]
    assert not site.exists()
    options = PublishOptions(
        EPOCH,
        site=site,
        codes_path=tmp_path / "codes.csv",
        reserves_path=path,
        allow_shortfall=True,
    )
    result = publish(own_log(config, tmp_path), PASSPHRASE, options, prepared=prepared)
    assert result.attestation.reserves.shortfall
    for page in ("index.html", "reserves.html", "verify.html", "auditor.html"):
        html = (site / page).read_text()
        assert "Shortfall: client assets are not fully covered by segregated reserves." in html
        assert "BTC is covered at 99.96 %" in html


# ------------------------------------------------------------------ the declaration file

GOOD = render_reserves_toml(
    {"ethereum": CHAINS["ethereum"]},
    [
        {
            "chain": "ethereum",
            "address": addr("evm", "x"),
            "category": "client_segregated",
            "holder": "Trust",
            "balances": {"ETH": "1"},
            "proof": "eip191",
            "signature": "0x00",
        }
    ],
)


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


EVM_LOWER = addr("evm", "x").lower()
BAD_CHECKSUM = "0x" + "".join(c.swapcase() if c.isalpha() else c for c in addr("evm", "x")[2:])

BAD_DECLARATIONS = [
    ("no chains", "[[wallets]]\nchain = 'x'\n", "[chains] is missing"),
    (
        "unknown kind",
        edit('kind = "evm"', 'kind = "cosmos"'),
        "kind must be one of evm, bitcoin, ed25519",
    ),
    ("evm without chain id", edit("chain_id = 1\n", ""), "an evm chain needs chain_id"),
    (
        "block hash not hex",
        edit('block_hash = "0x1111', 'block_hash = "0xzz11'),
        "block_hash must be 0x and 64 hex digits",
    ),
    (
        "asset not in config",
        edit('assets = { ETH = "native"', 'assets = { DOGE = "native", ETH = "native"'),
        "'DOGE' is not an asset in porsegregate.toml",
    ),
    ("token contract malformed", edit(USDT, "0x1234"), "USDT: token contract:"),
    (
        "javascript explorer link",
        edit("https://etherscan.io/address/{address}", "javascript:alert(1)//{address}"),
        "explorer_address: must be an https:// URL template",
    ),
    (
        "unknown chain",
        edit('chain = "ethereum"', 'chain = "dogechain"'),
        "chain 'dogechain' is not declared under [chains]",
    ),
    ("bad EIP-55 checksum", edit(addr("evm", "x"), BAD_CHECKSUM), "address:"),
    (
        "unknown category",
        edit('category = "client_segregated"', 'category = "clients"'),
        "category must be one of client_segregated, client_dedicated, proprietary, third_party",
    ),
    ("no holder", edit('holder = "Trust"\n', ""), "holder is missing"),
    (
        "holder with a newline",
        edit('holder = "Trust"', 'holder = "Trust\\ncategory: proprietary"'),
        "holder contains a control or line-break character",
    ),
    (
        "client on an omnibus wallet",
        edit('holder = "Trust"', 'holder = "Trust"\nclient = "bob-7731"'),
        "only a client_dedicated wallet names a client",
    ),
    (
        "dedicated without client",
        edit('"client_segregated"', '"client_dedicated"'),
        "a client_dedicated wallet names its client's account id",
    ),
    ("negative balance", edit('ETH = "1"', 'ETH = "-1"'), "ETH balance: negative amount '-1'"),
    (
        "too many decimals",
        edit('ETH = "1"', 'ETH = "0.0000000000000000001"'),
        "has 19 decimals; the asset allows 18",
    ),
    (
        "float balance",
        edit('balances = { ETH = "1" }', "balances = { ETH = 1.5 }"),
        "balances must be a table of decimal strings",
    ),
    (
        "asset not on the chain",
        edit('ETH = "1"', 'BTC = "1"'),
        "asset 'BTC' is not declared on chain ethereum",
    ),
    (
        "unknown proof type",
        edit('proof = "eip191"', 'proof = "bip137"'),
        "proof must be one of eip191, none on a evm chain",
    ),
    (
        "unproven client wallet",
        edit('proof = "eip191"\nsignature = "0x00"', 'proof = "none"\nevidence = "trust us"'),
        "a client_segregated wallet needs a key proof (eip191)",
    ),
    (
        "unproven without evidence",
        edit('category = "client_segregated"', 'category = "third_party"').replace(
            'proof = "eip191"\nsignature = "0x00"', 'proof = "none"'
        ),
        "needs evidence",
    ),
    (
        "signature missing",
        edit('signature = "0x00"\n', ""),
        "signature is missing: sign the message",
    ),
]


@pytest.mark.parametrize("case", BAD_DECLARATIONS, ids=[c[0] for c in BAD_DECLARATIONS])
def test_bad_declarations(ws: Any, tmp_path: Path, case: tuple[str, str, str]) -> None:
    _, text, expected = case
    path = tmp_path / "reserves.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_reserves(path, ws[0].assets)
    assert any(expected in p for p in info.value.problems), info.value.problems
    assert all(str(path) in p for p in info.value.problems), "every problem names the file"


def test_same_address_twice(ws: Any, tmp_path: Path) -> None:
    block = GOOD[GOOD.index("[[wallets]]") :]
    path = tmp_path / "r.toml"
    path.write_text(GOOD + "\n" + block.replace("client_segregated", "proprietary"))
    with pytest.raises(InputError) as info:
        read_reserves(path, ws[0].assets)
    assert info.value.problems == [
        f"{path}: wallet 2: commingling: ethereum {addr('evm', 'x')} is declared as proprietary "
        f"here and as client_segregated at {path}: wallet 1; a wallet has one category"
    ]


def test_unreadable_files(ws: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such reserves file"):
        read_reserves(tmp_path / "missing.toml", ws[0].assets)
    bad = tmp_path / "r.toml"
    bad.write_text("[chains\n")
    with pytest.raises(InputError, match="not valid TOML"):
        read_reserves(bad, ws[0].assets)
    bad_json = tmp_path / "r.json"
    bad_json.write_text('{"chains": ')
    with pytest.raises(InputError, match=r"r.json:1: not valid JSON"):
        read_reserves(bad_json, ws[0].assets)


def test_json_declaration_and_lowercase_evm_address(ws: Any, tmp_path: Path) -> None:
    import json
    import tomllib

    doc = tomllib.loads(GOOD.replace(addr("evm", "x"), EVM_LOWER))
    path = tmp_path / "reserves.json"
    path.write_text(json.dumps(doc))
    declaration = read_reserves(path, ws[0].assets)
    assert declaration.wallets[0].address == addr("evm", "x"), "EIP-55 form"


CSV_HEADER = "chain,address,category,holder,label,client,asset,balance,proof,signature,evidence\n"


def test_wallets_in_csv(ws: Any, tmp_path: Path) -> None:
    """Thousands of wallets: one CSV row per wallet and asset, grouped by address."""
    a, b = addr("evm", "c1"), addr("evm", "c2")
    (tmp_path / "wallets.csv").write_text(
        CSV_HEADER
        + f"ethereum,{a},client_segregated,Trust,cold 1,,ETH,1.5,eip191,0x00,\n"
        + f"ethereum,{a},client_segregated,Trust,cold 1,,USDT,10,eip191,0x00,\n"
        + f"ethereum,{b},proprietary,OpCo,,,ETH,2,eip191,0x00,\n"
    )
    path = tmp_path / "reserves.toml"
    path.write_text(
        'wallets_csv = "wallets.csv"\n' + render_reserves_toml({"ethereum": CHAINS["ethereum"]}, [])
    )
    declaration = read_reserves(path, ws[0].assets)
    got = {w.address: w.balances for w in declaration.wallets}
    assert got == {a: {"ETH": 15 * 10**17, "USDT": 10 * 10**6}, b: {"ETH": 2 * 10**18}}
    (tmp_path / "wallets.csv").write_text(
        CSV_HEADER
        + f"ethereum,{a},client_segregated,Trust,,,ETH,1.5,eip191,0x00,\n"
        + f"ethereum,{a},proprietary,Trust,,,USDT,10,eip191,0x00,\n"
        + f"ethereum,{a},client_segregated,Trust,,,ETH,1,eip191,0x00,\n"
        + "ethereum,0xnot-an-address,client_segregated,Trust,,,ETH\n"
    )
    with pytest.raises(InputError) as info:
        read_reserves(path, ws[0].assets)
    csv_path = tmp_path / "wallets.csv"
    assert info.value.problems == [
        f"{csv_path}:3: category differ from the same wallet's row at {csv_path}:2",
        f"{csv_path}:4: ETH is listed twice for {a}",
        f"{csv_path}:5: expected 11 fields, got 7",
    ]


def test_challenge_lists_every_proven_wallet(ws: Any, tmp_path: Path) -> None:
    config, prepared = ws
    wallets = covered_wallets()
    for w in wallets:
        w.setdefault("proof", "bip137" if w["chain"] == "bitcoin" else "eip191")
    path = tmp_path / "r.toml"
    path.write_text(render_reserves_toml(copy.deepcopy(CHAINS), wallets))
    # Unsigned: fine for the challenge, refused by the check.
    declaration = read_reserves(path, config.assets, signed=False)
    items = challenges(declaration, prepared.context, prepared.nonce_of)
    assert [i.category for i in items] == [
        "client_segregated",
        "client_segregated",
        "client_dedicated",
        "proprietary",
    ], "the unproven third-party wallet has nothing to sign"
    dedicated = items[2].message.splitlines()
    assert dedicated[-1].startswith("client: ") and dedicated[-1] != "client: none"
    assert f"liabilities: {prepared.context.liabilities_sha256}" in dedicated
    with pytest.raises(InputError, match="signature is missing"):
        read_reserves(path, config.assets)


def test_reserves_page(ws: Any, tmp_path: Path) -> None:
    """Grouped by category and holder, hostile names escaped, links only to https explorers."""
    config, prepared = ws
    wallets = covered_wallets()
    wallets[1]["holder"] = 'Trust <script>alert("x")</script> & Co'
    wallets[0]["balances"] = {"BTC": "1"}  # BTC short: a red bar and words saying so
    path = signed(ws, tmp_path, wallets)
    site = tmp_path / "site"
    options = PublishOptions(
        EPOCH,
        site=site,
        codes_path=tmp_path / "codes.csv",
        reserves_path=path,
        allow_shortfall=True,
    )
    publish(own_log(config, tmp_path), PASSPHRASE, options, prepared=prepared)
    page = (site / "reserves.html").read_text()
    from porsegregate.protocol.serialization import parse_attestation

    from .test_site_render import check_coverage_chart

    pages = {n: (site / n).read_text() for n in ("index.html", "reserves.html")}
    coverage = parse_attestation((site / "attestation.json").read_bytes()).reserves.coverage
    check_coverage_chart(pages, coverage)
    assert "<script>" not in page
    assert "Holder: Trust &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page
    order = [page.index(f'id="cat-{c}"') for c in ("client_segregated", "client_dedicated",
                                                    "proprietary", "third_party")]  # fmt: skip
    assert order == sorted(order)
    omnibus = addr("evm", "omnibus")
    assert f'href="https://etherscan.io/address/{omnibus}"' in page
    assert 'class="coverage-bar coverage-short" data-asset="BTC"' in page
    assert 'BTC</tspan> <tspan class="chart-value">79.97 %</tspan> shortfall' in page
    assert 'class="coverage-bar" data-asset="USDT"' in page
    assert "Unproven: no key signature" in page and "Evidence: Bank statement 2026-11-30" in page
    assert (
        "read from the chain" not in page.split('<h2 id="wallets-heading">')[1].split("</table>")[0]
    ), "no --rpc: every balance is declared, not checked"


def test_cli_challenge_and_publish_refusal(ws: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from porsegregate.cli import main

    config, _ = ws
    wallets = covered_wallets()
    for w in wallets:
        w.setdefault("proof", "bip137" if w["chain"] == "bitcoin" else "eip191")
    unsigned = tmp_path / "unsigned.toml"
    unsigned.write_text(render_reserves_toml(copy.deepcopy(CHAINS), wallets))
    env = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode()}
    base = ["-w", str(config.workspace), "--epoch", EPOCH, "--reserves", str(unsigned)]
    result = CliRunner().invoke(main, ["reserves", "challenge", *base, "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [w["address"] for w in doc["wallets"]] == [w["address"] for w in wallets[:4]]
    assert doc["wallets"][0]["proof_types"] == ["bip137", "bip322"]
    human = CliRunner().invoke(main, ["reserves", "challenge", *base], env=env)
    assert human.exit_code == 0
    assert human.output.count("-----BEGIN MESSAGE-----") == 4
    assert doc["wallets"][2]["message"] in human.output
    # Sign one message with the wrong key: check and publish both refuse (exit 1).
    short = covered_wallets()
    short[1]["signer"] = "someone else"
    bad = signed(ws, tmp_path, short)
    base[-1] = str(bad)
    result = CliRunner().invoke(main, ["reserves", "check", *base], env=env)
    assert result.exit_code == 1 and "proof of control fails" in result.output
    result = CliRunner().invoke(main, ["publish", *base, "--out", str(tmp_path / "s")], env=env)
    assert result.exit_code == 1
    assert "1 reserves check(s) failed; nothing was published" in result.output
    assert not (tmp_path / "s").exists()


# -- T14: one wallet counted twice ---------------------------------------------------------------

SOLANA = {
    "kind": "ed25519",
    "network": "mainnet-beta",
    "block": 330_000_000,
    "block_hash": "B1ockhash1111111111111111111111111111111111",
    "assets": {"USDT": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"},
}
SAME_NETWORK = [
    (
        "bitcoin mainnet twice",
        "bitcoin",
        "bitcoin",
        "p2wpkh",
        "BTC",
        "same bitcoin network (mainnet)",
    ),
    ("chain id 1 twice", "ethereum", "evm", "evm", "ETH", "same evm network (1)"),
    (
        "one ed25519 network twice",
        "solana",
        "ed25519",
        "ed25519",
        "USDT",
        "same ed25519 network (mainnet-beta)",
    ),
]


@pytest.mark.parametrize("case", SAME_NETWORK, ids=[c[0] for c in SAME_NETWORK])
def test_one_network_under_two_chain_ids_is_refused(
    ws: Any, tmp_path: Path, case: tuple[str, str, str, str, str, str]
) -> None:
    """The review's attack on the declaration: a second entry for a network lists the same
    wallet again. Both the network and the wallet are named, with the file."""
    _, chain, kind, address_type, asset, network = case
    chains = {**copy.deepcopy(CHAINS), "solana": copy.deepcopy(SOLANA)}
    chains[f"{chain}-b"] = copy.deepcopy(chains[chain])
    proof = {"bitcoin": "bip137", "evm": "eip191", "ed25519": "ed25519"}[kind]
    first = wallet(chain, address_type, "omnibus", "client_segregated", {asset: "1"}, proof=proof)
    again = {**first, "chain": f"{chain}-b"}
    path = tmp_path / "reserves.toml"
    path.write_text(render_reserves_toml(chains, [first, again]))
    with pytest.raises(InputError) as info:
        read_reserves(path, ws[0].assets, signed=False)
    assert info.value.problems == [
        f"{path}: chains {chain} and {chain}-b are the {network}: a network is listed once, "
        "so that no wallet is counted twice",
        f"{path}: wallet 2 ({chain}-b {first['address']}) is the same wallet as wallet 1 "
        f"({chain} {first['address']}) (what the chain sees is the same): a wallet is "
        "declared, and counted, once",
    ]


def test_one_bitcoin_wallet_spelled_two_ways_is_declared_twice(ws: Any, tmp_path: Path) -> None:
    """Bech32 in capitals is the same address (BIP-173): the same script, counted once."""
    first = wallet(
        "bitcoin", "p2wpkh", "btc cold", "client_segregated", {"BTC": "1"}, proof="bip137"
    )
    again = {**first, "address": first["address"].upper(), "label": "the same, in capitals"}
    path = tmp_path / "reserves.toml"
    path.write_text(render_reserves_toml(copy.deepcopy(CHAINS), [first, again]))
    with pytest.raises(InputError) as info:
        read_reserves(path, ws[0].assets, signed=False)
    assert info.value.problems == [
        f"{path}: wallet 2: bitcoin {first['address']} is already declared at {path}: wallet 1"
    ]


def test_one_evm_key_on_two_networks_is_two_wallets(ws: Any, tmp_path: Path) -> None:
    """Not counted twice: the same address on Ethereum and Polygon holds two balances."""
    wallets = covered_wallets()
    wallets.append({**wallets[1], "chain": "polygon", "balances": {"USDT": "1"}})
    assessment = assess_file(ws, signed(ws, tmp_path, wallets))
    assert assessment.errors == []


def test_cli_refuses_a_network_listed_twice(ws: Any, tmp_path: Path) -> None:
    """`reserves check` and `publish` both refuse (exit 3), naming the file; nothing is written."""
    from click.testing import CliRunner

    from porsegregate.cli import main

    config, _ = ws
    chains = {**copy.deepcopy(CHAINS), "bitcoin-b": copy.deepcopy(CHAINS["bitcoin"])}
    first = wallet(
        "bitcoin", "p2wpkh", "btc cold", "client_segregated", {"BTC": "1.3"}, proof="bip137"
    )
    path = tmp_path / "doubled.toml"
    path.write_text(render_reserves_toml(chains, [first, {**first, "chain": "bitcoin-b"}]))
    env = {"PORSEGREGATE_PASSPHRASE": PASSPHRASE.decode()}
    base = ["-w", str(config.workspace), "--epoch", EPOCH, "--reserves", str(path)]
    for command in (["reserves", "check"], ["publish", "--out", str(tmp_path / "site")]):
        result = CliRunner().invoke(main, [*command, *base], env=env)
        assert result.exit_code == 3, result.output
        assert (
            "chains bitcoin and bitcoin-b are the same bitcoin network (mainnet)" in result.output
        )
        assert str(path) in result.output
    assert not (tmp_path / "site").exists()
