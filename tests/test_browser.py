"""Real-browser tests: Debian's chromium driven by Playwright against a site served on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from porsegregate.protocol.serialization import parse_proof_file
from porsegregate.publish.client_codes import read_client_codes
from porsegregate.serve import make_server

from .conftest import VECTORS

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).parent.parent

if not Path(CHROMIUM).exists():  # scripts/test.sh installs it; never skip silently in CI
    pytest.fail("Debian's chromium is missing: run scripts/test.sh", pytrace=False)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def serve(directory: Path) -> tuple[str, Any]:
    server = make_server(directory, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from porsegregate.publish.demo import run_demo

    out = tmp_path_factory.mktemp("browser-demo")
    result = run_demo(out, clients=400, seed=3)
    codes = read_client_codes(result.publish.codes)
    url, server = serve(result.publish.site)
    yield {
        "url": url,
        "site": result.publish.site,
        "codes": codes,
        "fingerprint": result.publish.fingerprint,
        "out": out,
        "dedicated": (result.sample_account, result.sample_code),
    }
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo published with a shortfall: SOL's segregated wallets hold 80 % of SOL owed."""
    from porsegregate.publish.config import CONFIG_NAME, load_config
    from porsegregate.publish.demo import run_demo

    out = tmp_path_factory.mktemp("browser-shortfall")
    result = run_demo(out, clients=400, seed=3, shortfall=True)
    codes = read_client_codes(result.publish.codes)
    liabilities = load_config(result.workspace / CONFIG_NAME).liabilities
    sol = [
        line.split(",")[0]
        for line in liabilities.read_text().splitlines()[1:]
        if line.split(",")[1] == "SOL"
    ]
    url, server = serve(result.publish.site)
    yield {
        "url": url,
        "site": result.publish.site,
        "codes": codes,
        "sol_holder": sol[0],
        "out": out,
    }
    server.shutdown()
    server.server_close()


# Chromium logs every 404 a page's fetch gets, and a site without auditors answers
# auditors/index.json with one (the verifier must ask: no index means no auditor co-signed).
# Exactly that message, for exactly that file, is set apart; any other is a problem.
NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (File not found)"
AUDITORS_INDEX = "/auditors/index.json"


def console_error(problems: list[str], index_404s: list[str], m: Any) -> None:
    if m.type != "error":
        return
    where = m.location.get("url", "")
    if m.text == NOT_FOUND and where.endswith(AUDITORS_INDEX):
        index_404s.append(where)
    else:
        problems.append(m.text)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    problems: list[str] = []
    index_404s: list[str] = []
    pg.on("console", lambda m: console_error(problems, index_404s, m))
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems  # type: ignore[attr-defined]
    pg.index_404s = index_404s  # type: ignore[attr-defined]
    # Injected by the browser, not the page, so the page's CSP does not apply to it.
    pg.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    yield pg
    context.close()


def csp_violations(pg: Page) -> list[str]:
    violations: list[str] = pg.evaluate("window.__csp")
    return violations


def no_foreign_requests(pg: Page, base: str) -> list[str]:
    seen: list[str] = []
    pg.on("request", lambda r: seen.append(r.url))
    return seen


def verify_in_page(pg: Page, account: str, code: str) -> str:
    pg.fill("#account-id", account)
    pg.fill("#code", code)
    pg.click("#verify-button")
    pg.wait_for_function(
        "() => /verified|check what you typed/i.test("
        "document.querySelector('#overall')?.textContent || '')",
        timeout=30_000,
    )
    show_checks(pg)
    return pg.inner_text("#overall")


def show_checks(pg: Page) -> None:
    """Every check is behind "Show all N checks", closed when a result is shown: the tests
    open it (as a client would) to read the checks."""
    details = pg.locator("#checks-details")
    assert details.get_attribute("open") is None, "the checks are closed when a result is shown"
    details.evaluate("e => { e.open = true; }")


def test_correct_code_passes(page: Page, demo: dict[str, Any]) -> None:
    seen = no_foreign_requests(page, demo["url"])
    page.goto(demo["url"] + "verify.html")
    account, code = next(iter(demo["codes"].items()))
    overall = verify_in_page(page, account, code)
    assert "NOT" not in overall and "Verified" in overall
    assert demo["fingerprint"][:8] in page.inner_text("#fingerprint").replace(" ", "").lower()
    balances = page.inner_text("#balances")
    assert "BTC" in balances or "ETH" in balances
    assert page.problems == []  # type: ignore[attr-defined]
    # No auditor co-signed this site: the publisher's index lists none (no 404 in the console).
    assert page.index_404s == []  # type: ignore[attr-defined]
    assert seen.count(demo["url"] + "auditors/index.json") == 1
    assert page.is_hidden("#auditors")
    assert "auditor-signature" not in page.inner_text("#checks")
    assert all(u.startswith(demo["url"]) for u in seen), seen
    shards = [u for u in seen if "/proofs/" in u]
    assert len(shards) == 1, "only the one shard the client needs is fetched"
    assert_lay_first(page)
    screenshots(page, "verified")
    # The custodian's name once, where the legal entity's name already starts with it.
    page.goto(demo["url"] + "reserves.html")
    text = page.inner_text("main")
    assert "Demo Custody Ltd (Demo Custody Ltd" not in text
    assert "As stated by Demo Custody Ltd (a fictional company" in text
    assert page.problems == []  # type: ignore[attr-defined]


def assert_lay_first(pg: Page) -> None:
    """A verified result, lay reader first: verdict, balances and the request to check them,
    coverage, the download; every check behind a closed "Show all N checks"."""
    order = pg.evaluate(
        """() => ['#overall', '#balances', '#balances-help', '#download-proof', '#checks-details']
        .map((s) => document.querySelector(s))
        .every((e, i, all) => i === 0 || (all[i - 1].compareDocumentPosition(e)
          & Node.DOCUMENT_POSITION_FOLLOWING))"""
    )
    assert order, "verdict, balances, their check, download, then the checks"
    help_text = pg.inner_text("#balances-help")
    assert help_text.startswith("Check that these are all your balances at the snapshot time, ")
    assert "only you can notice" in help_text
    assert pg.is_visible("#download-proof")
    details = pg.locator("#checks-details")
    count = pg.locator("#checks li").count()
    assert count > 10
    assert pg.inner_text("#checks-summary") == f"Show all {count} checks"
    pg.click("#checks-summary")  # closes what verify_in_page opened
    assert details.get_attribute("open") is None and pg.is_hidden("#checks")
    pg.click("#checks-summary")
    assert pg.is_visible("#checks")
    # Backticks in a detail are <code>, never shown literally.
    assert "`" not in pg.inner_text("#result")
    assert pg.is_visible("#fingerprint-line")
    assert pg.is_hidden("#typed-help") and pg.is_hidden("#failure-help")
    pg.click("#checks-summary")  # closed again, as a client sees the result


def screenshots(pg: Page, name: str) -> None:
    """The result at 1280x900 and 390x844 (phone), in /tmp, to be looked at."""
    pg.locator("#checks-details").evaluate("e => { e.open = false; }")  # as a client sees it
    for width, height in ((1280, 900), (390, 844)):
        pg.set_viewport_size({"width": width, "height": height})
        pg.screenshot(path=f"/tmp/porverify-{name}-{width}.png", full_page=True)


def test_wrong_code_fails_visibly(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    accounts = list(demo["codes"])
    overall = verify_in_page(page, accounts[0], demo["codes"][accounts[1]])
    # A valid code with another account id: neutral, "check what you typed" (the account id).
    assert overall == "Check what you typed: this code is for another account id."
    assert page.get_attribute("#overall", "class") == "typed"
    assert "bundle-account" in page.inner_text("#checks")
    help_text = page.inner_text("#typed-help")
    assert "Check the account id you typed" in help_text
    assert page.is_hidden("#failure-help")
    assert page.is_hidden("#download-proof"), "another client's proof is not offered for download"
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []


def test_code_typo_fails_visibly(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    account, code = next(iter(demo["codes"].items()))
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    overall = verify_in_page(page, account, typo)
    # A typo is not fraud: neutral, says to check the code, no red box, no "unknown" key.
    assert overall == "Check what you typed: the code is not valid."
    assert page.get_attribute("#overall", "class") == "typed"
    colour = page.locator("#overall").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour != "rgb(253, 232, 232)", "not the red of a failed proof"
    assert "Your client code has a typo" in page.inner_text("#typed-help")
    assert page.get_attribute("#checks li", "class") == "typed", "not a red failed check"
    assert page.is_hidden("#failure-help")
    assert page.is_hidden("#fingerprint-line")
    assert "unknown" not in page.inner_text("#result")
    assert page.is_hidden("#download-proof")
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []
    screenshots(page, "typo")


def test_tampered_shard_fails_visibly(page: Page, demo: dict[str, Any], tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(demo["site"], site)
    for shard in (site / "proofs").glob("*.bin"):
        data = bytearray(shard.read_bytes())
        data[-1] ^= 1
        shard.write_bytes(bytes(data))
    url, server = serve(site)
    try:
        page.goto(url + "verify.html")
        account, code = next(iter(demo["codes"].items()))
        overall = verify_in_page(page, account, code)
        assert overall.startswith("NOT verified: check shard-hash failed.")
        assert page.get_attribute("#overall", "class") == "fail"
        assert "shard-hash" in page.inner_text("#checks")
        # A real failure: red, with what to do; not "check what you typed".
        failure = page.inner_text("#failure-help")
        assert failure.startswith("This is not a typing mistake")
        assert "Keep the evidence" in failure and "its auditor" in failure
        assert page.is_hidden("#typed-help")
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        screenshots(page, "failure")
    finally:
        server.shutdown()
        server.server_close()


def test_download_then_verify_offline_from_a_single_saved_file(
    page: Page, demo: dict[str, Any], tmp_path: Path
) -> None:
    page.goto(demo["url"] + "verify.html")
    account, code = list(demo["codes"].items())[2]
    assert "NOT" not in verify_in_page(page, account, code)
    with page.expect_download() as info:
        page.click("#download-proof")
    proof = tmp_path / "proof.json"
    info.value.save_as(proof)
    # A porsegregate-proof/2 file: the published log files, by name, with their exact bytes.
    doc = json.loads(proof.read_text())
    assert doc["format"] == "porsegregate-proof/2"
    size = json.loads((demo["site"] / "log" / "checkpoint.json").read_text())["size"]
    witnessed = sorted(
        str(p.relative_to(demo["site"]))
        for p in (demo["site"] / "log" / "witnesses" / str(size)).glob("*.note")
    )
    assert len(witnessed) == 2, "the demo's two witnesses co-signed the checkpoint"
    names = [
        "log/checkpoint.json",
        "log/checkpoint.json.sig",
        "log/checkpoint.note",
        f"log/inclusion/{size - 1}.json",
        *witnessed,
    ]
    assert sorted(doc["log_files"]) == sorted(names)
    published = {name: (demo["site"] / name).read_bytes() for name in names}
    assert {n: base64.b64decode(v) for n, v in doc["log_files"].items()} == published
    assert parse_proof_file(proof.read_bytes()).log_files == published  # Python reads it too

    offline = tmp_path / "offline"
    offline.mkdir()
    shutil.copy(demo["site"] / "verify.html", offline / "verify.html")
    page.goto((offline / "verify.html").as_uri())
    page.set_input_files("#proof-file", str(proof))
    overall = verify_in_page(page, account, code)
    assert "NOT" not in overall and "Verified" in overall
    checks = page.inner_text("#checks")
    assert "log-checkpoint: the log checkpoint (size" in checks
    assert f"log-inclusion: this attestation is entry {size - 1} of the signed log" in checks


def test_dedicated_client_sees_coverage_and_their_wallet(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    account, code = demo["dedicated"]
    overall = verify_in_page(page, account, code)
    assert "NOT" not in overall and "Verified" in overall
    assert page.is_visible("#coverage")
    assert page.inner_text("#coverage-heading") == "How your assets are covered"
    table = page.inner_text("#coverage-table")
    assert "ETH" in table and "%" in table and "covered" in table
    assert "below 100 %" not in table
    wallets = page.locator("#dedicated-wallets li.dedicated-wallet")
    assert wallets.count() == 1
    text = wallets.inner_text()
    assert text.startswith("This wallet is held for you alone: ethereum 0x")
    assert text.endswith(" ETH")
    assert page.locator("#dedicated-wallets .dedicated-shortfall").count() == 0
    assert page.is_hidden("#shortfall-alert")
    checks = page.inner_text("#checks")
    for check in (
        "reserves-control",
        "reserves-distinct",
        "reserves-commingling",
        "reserves-coverage",
    ):
        assert check in checks
    # Every wallet signature of the demo (Ed25519, EIP-191, BIP-137) is verified in the browser.
    assert (
        "all 8 wallet signatures prove control for this epoch "
        "(Ed25519, EIP-191, BIP-137 and BIP-322, verified here)"
    ) in checks
    assert "secp256k1" not in checks
    assert page.is_hidden("#coverage-unchecked")
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []
    page.screenshot(path="/tmp/porverify-dedicated.png", full_page=True)


def test_other_client_sees_no_dedicated_wallet(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    account, code = next((a, c) for a, c in demo["codes"].items() if a != demo["dedicated"][0])
    assert "NOT" not in verify_in_page(page, account, code)
    assert page.is_visible("#coverage-table")
    assert page.locator("#dedicated-wallets li").count() == 0
    assert page.is_hidden("#dedicated-wallets")


def test_shortfall_is_a_red_alert_on_the_verify_page(
    page: Page, short_demo: dict[str, Any]
) -> None:
    page.goto(short_demo["url"] + "verify.html")
    account = short_demo["sol_holder"]
    overall = verify_in_page(page, account, short_demo["codes"][account])
    assert "NOT" not in overall and "Verified" in overall, "a shortfall is shown, not a failure"
    alert = page.locator("#shortfall-alert")
    assert alert.is_visible()
    assert alert.get_attribute("role") == "alert"
    assert "Shortfall" in alert.inner_text() and "SOL" in alert.inner_text()
    row = page.locator("#coverage-table tr.short")
    assert row.count() == 1
    assert "SOL" in row.inner_text()
    bad = row.locator(".status-bad")
    assert bad.inner_text() == (
        "below 100 %: client assets in SOL are not fully covered by segregated reserves"
    )
    assert bad.evaluate("e => getComputedStyle(e).color") == "rgb(155, 18, 24)"
    assert alert.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(198, 40, 40)"
    assert "80.00 %" in row.inner_text()
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []
    page.screenshot(path="/tmp/porverify-shortfall.png", full_page=True)


def test_dedicated_shortfall_from_a_proof_file_offline(
    page: Page, demo: dict[str, Any], tmp_path: Path
) -> None:
    """The vector whose dedicated wallet holds one unit less than its client is owed."""
    case = next(
        c
        for c in json.loads((VECTORS / "proofs.json").read_text())["cases"]
        if c["name"].startswith("reserves:")
        and c["expect"].get("verified")
        and any(x["dedicated_shortfall"] != "0" for x in c["expect"].get("coverage", []))
    )
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(case["proof"]))
    shutil.copy(demo["site"] / "verify.html", tmp_path / "verify.html")
    page.goto((tmp_path / "verify.html").as_uri())
    page.set_input_files("#proof-file", str(proof))
    overall = verify_in_page(page, case["account_id"], case["code"])
    assert "NOT" not in overall and "Verified" in overall
    assert page.is_visible("#shortfall-alert")
    short = next(x for x in case["expect"]["coverage"] if x["dedicated_shortfall"] != "0")
    asset = short["asset"]
    wallet = page.locator("#dedicated-wallets li.dedicated-wallet")
    assert wallet.count() == 1
    assert short["dedicated_wallets"][0]["address"] in wallet.inner_text()
    line = page.locator("#dedicated-wallets li.dedicated-shortfall")
    assert line.count() == 1
    assert line.inner_text().startswith("Your dedicated wallet holds ")
    assert f" {asset} less than your balance of " in line.inner_text()
    assert line.evaluate("e => getComputedStyle(e).color") == "rgb(155, 18, 24)"
    row = page.locator("#coverage-table tr.short")
    assert row.locator("th").inner_text() == asset
    assert "not fully covered" in row.inner_text()
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []
    page.screenshot(path="/tmp/porverify-dedicated-shortfall.png", full_page=True)


def test_reserves_page_renders_wallets_and_coverage(page: Page, short_demo: dict[str, Any]) -> None:
    seen = no_foreign_requests(page, short_demo["url"])
    page.goto(short_demo["url"] + "reserves.html")
    assert page.locator("h1").count() == 1
    groups = page.locator("section.wallet-group h3")
    titles = groups.all_inner_texts()
    assert len(titles) >= 3
    assert any("Client-segregated" in t for t in titles)
    assert any("Client-dedicated" in t for t in titles)
    assert any("own wallets" in t for t in titles)
    bars = page.locator("rect.coverage-bar")
    assert bars.count() == 5
    short = page.locator("rect.coverage-bar.coverage-short")
    assert short.count() == 1
    assert short.get_attribute("data-asset") == "SOL"
    assert short.evaluate("e => getComputedStyle(e).fill") == "rgb(198, 40, 40)"
    ok_fill = page.locator("rect.coverage-bar[data-asset=BTC]").evaluate(
        "e => getComputedStyle(e).fill"
    )
    assert ok_fill != "rgb(198, 40, 40)"
    label = page.locator(".chart-svg text.chart-label", has_text="SOL").text_content() or ""
    assert "SOL 80.00 % shortfall" in label
    assert "shortfall" in page.locator("table.coverage tr.short").inner_text()
    assert page.locator("table.coverage tr.short th").inner_text() == "SOL"
    # Every wallet signature (Ed25519, EIP-191, BIP-137) is checked in this browser, then green.
    proofs = page.locator("td.proof[data-chain] .proof-status")
    assert proofs.count() == 8
    page.wait_for_function(
        "() => [...document.querySelectorAll('td.proof .proof-status')]"
        ".every(e => !e.textContent.startsWith('not checked yet'))"
    )
    assert proofs.all_inner_texts() == ["✓ verified here"] * 8
    assert all(
        "status-ok" in (c or "") for c in proofs.evaluate_all("es => es.map(e => e.className)")
    )
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []
    assert all(u.startswith(short_demo["url"]) for u in seen)
    page.screenshot(path="/tmp/porverify-reserves.png", full_page=True)


def test_reserves_page_shows_no_proof_as_proven_unless_checked(
    page: Page, short_demo: dict[str, Any], tmp_path: Path
) -> None:
    """An attestation whose signature does not verify proves no wallet: none turns green, each
    says it was not checked here; and a wallet signature that does not verify turns red."""
    site = tmp_path / "site"
    shutil.copytree(short_demo["site"], site)
    signature = bytearray((site / "attestation.json.sig").read_bytes())
    signature[0] ^= 1
    (site / "attestation.json.sig").write_bytes(bytes(signature))
    url, server = serve(site)
    try:
        page.goto(url + "reserves.html")
        statuses = page.locator("td.proof[data-chain] .proof-status")
        assert statuses.count() == 8
        page.wait_for_function(
            "() => [...document.querySelectorAll('td.proof .proof-status')]"
            ".every(e => e.textContent.startsWith('not checked here'))"
        )
        for text in statuses.all_inner_texts():
            assert "the attestation's signature does not verify" in text, text
        assert page.locator("td.proof .status-ok").count() == 0
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["index.html", "auditor.html"])
def test_information_pages_render_without_errors(
    page: Page, demo: dict[str, Any], name: str
) -> None:
    seen = no_foreign_requests(page, demo["url"])
    page.goto(demo["url"] + name)
    assert page.locator("h1").count() == 1
    text = page.inner_text("body")
    assert "Demo Custody Ltd" in text
    assert "openssl pkeyutl -verify" in text
    assert page.problems == []  # type: ignore[attr-defined]
    assert all(u.startswith(demo["url"]) for u in seen)
    page.screenshot(path=str(demo["out"] / name.replace(".html", ".png")), full_page=True)


def test_browser_verifier_passes_the_shard_vectors(browser: Browser, tmp_path: Path) -> None:
    """porsegregate/2 shards (shards-v2.json) in chromium: the module's shard-hash check
    (PSS2 parsing, bits, name, path to the signed shards root) and manifest parsing give
    each case's expected verdict, as Python's and Node's do."""
    (tmp_path / "porverify.js").write_bytes((ROOT / "site" / "porverify.js").read_bytes())
    (tmp_path / "noble.js").write_bytes((ROOT / "site" / "vendor" / "noble.js").read_bytes())
    (tmp_path / "shards.json").write_bytes((VECTORS / "shards-v2.json").read_bytes())
    (tmp_path / "index.html").write_text("<!doctype html><title>vectors</title><h1>vectors</h1>")
    url, server = serve(tmp_path)
    try:
        pg = browser.new_page()
        pg.goto(url + "index.html")
        results = pg.evaluate(
            """async () => {
              await import('./noble.js');
              const m = await import('./porverify.js');
              const cases = (await (await fetch('./shards.json')).json()).cases;
              const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
              const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
              const out = [];
              for (const c of cases) {
                let manifest;
                try {
                  manifest = m.parseManifest(bytes(c.manifest));
                } catch (e) {
                  const failed = e instanceof m.FormatError ? 'format' : String(e);
                  out.push({name: c.name, expect: c.expect, got: {ok: false, failed}});
                  continue;
                }
                const lookup = Uint8Array.from(c.lookup.match(/../g).map((h) => parseInt(h, 16)));
                const bits = manifest.shardBits;
                const name = m.shardFile(m.shardIndex(lookup, bits), bits);
                const {shard, problem} =
                  await m.shardV2Problem(name, bytes(c.shard), manifest, c.epoch);
                out.push({name: c.name, expect: c.expect, got: problem !== null
                  ? {ok: false, failed: 'shard-hash'}
                  : {ok: true, entry_sha256: hex(await m.sha256(shard.entries.get(c.lookup)))}});
              }
              return out;
            }"""
        )
        pg.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(results) >= 10
    assert {r["expect"].get("failed") for r in results} == {None, "shard-hash", "format"}
    for r in results:
        assert r["got"] == r["expect"], r


@pytest.mark.parametrize("vectors", ["proofs.json", "proofs-v2.json"])
def test_browser_verifier_passes_the_shared_vectors(
    browser: Browser, tmp_path: Path, vectors: str
) -> None:
    """The same vectors the Python verifier passes, run by the module inside chromium:
    porsegregate/1's (proofs.json) and porsegregate/2's (proofs-v2.json)."""
    (tmp_path / "porverify.js").write_bytes((ROOT / "site" / "porverify.js").read_bytes())
    (tmp_path / "noble.js").write_bytes((ROOT / "site" / "vendor" / "noble.js").read_bytes())
    (tmp_path / "proofs.json").write_bytes((VECTORS / vectors).read_bytes())
    (tmp_path / "index.html").write_text("<!doctype html><title>vectors</title><h1>vectors</h1>")
    url, server = serve(tmp_path)
    try:
        pg = browser.new_page()
        pg.goto(url + "index.html")
        results = pg.evaluate(
            """async () => {
              await import('./noble.js');
              const m = await import('./porverify.js');
              const cases = (await (await fetch('./proofs.json')).json()).cases;
              const out = [];
              for (const c of cases) {
                const r = await m.verifyProof(c.proof, c.account_id, c.code,
                                              {expectKey: c.expect_key});
                const f = r.failed;
                out.push({name: c.name, expect: c.expect, verified: r.verified,
                          failed: f ? {id: f.id, asset: f.asset ?? null} : null,
                          shortfall: r.shortfall,
                          coverage: r.coverage.map(x => ({
                            asset: x.asset,
                            segregated_percent: x.segregatedPercent,
                            including_third_party_percent: x.includingThirdPartyPercent,
                            covered: x.covered,
                            dedicated_wallets: x.dedicatedWallets.map(
                              w => ({chain: w.chain, address: w.address, amount: w.amount})),
                            dedicated_shortfall: x.dedicatedShortfall})),
                          balances: Object.fromEntries(
                            (r.balances || []).map(b => [b.asset, b.amount]))});
              }
              return out;
            }"""
        )
        pg.close()
    finally:
        server.shutdown()
        server.server_close()
    if vectors == "proofs.json":
        assert len(results) > 20
        # Bad secp256k1 proofs of control: the browser fails them, as Python does.
        assert any(
            r["name"].startswith("reserves:")
            and r["failed"] == {"id": "reserves-control", "asset": None}
            for r in results
        )
    else:
        # porsegregate/2: verified cases and failures of the bundle checks.
        assert any(r["expect"]["verified"] for r in results)
        assert any(r["expect"].get("failed", {}).get("id") == "bundle-format" for r in results)
    for r in results:
        expect = r["expect"]
        assert r["verified"] is expect["verified"], r
        if expect["verified"]:
            assert r["balances"] == expect["balances"], r
            if "shortfall" in expect:
                assert r["shortfall"] is expect["shortfall"], r
            if "coverage" in expect:
                assert r["coverage"] == expect["coverage"], r
        else:
            assert r["failed"] == expect["failed"], r


# ---------------------------------------------------------------- porsegregate/2 (issue 10)

MIXED_EPOCHS = (
    ("2026-09", "porsegregate/1"),
    ("2026-10", "porsegregate/1"),
    ("2026-11", "porsegregate/2"),
)
MIXED_CLIENTS = 40


@pytest.fixture(scope="module")
def mixed_history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A site whose history has two porsegregate/1 epochs, then a porsegregate/2 epoch whose
    balances are split into 2 parts ([privacy] split = 2); no reserves (a stated shortfall)."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from porsegregate.publish.config import load_config
    from porsegregate.publish.pipeline import PublishOptions, publish
    from porsegregate.publish.workspace import init_workspace

    from .conftest import PASSPHRASE

    root = tmp_path_factory.mktemp("mixed-history")
    init_workspace(root / "ws", PASSPHRASE)
    config = load_config(root / "ws" / "porsegregate.toml")
    split = replace(config, privacy=replace(config.privacy, split=2))
    now = datetime.now(UTC).replace(microsecond=0)
    for n, (epoch, fmt) in enumerate(MIXED_EPOCHS):
        liabilities = root / "ws" / "data" / f"liabilities-{epoch}.csv"
        liabilities.parent.mkdir(parents=True, exist_ok=True)
        rows = ["account_id,asset,amount"]
        for i in range(MIXED_CLIENTS):
            rows.append(f"C{i + 1:08d},BTC,{i + n}.5")
            if i % 2 == 0:
                rows.append(f"C{i + 1:08d},ETH,{3 * i + n + 1}")
        liabilities.write_text("\n".join(rows) + "\n", encoding="utf-8")
        snapshot = (now - timedelta(hours=len(MIXED_EPOCHS) - n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        options = PublishOptions(
            epoch,
            snapshot_time=snapshot,
            site=root / "site",
            codes_path=root / "client-codes.csv",
            liabilities_path=liabilities,
            allow_shortfall=True,
            fmt=fmt,
        )
        publish(split if fmt == "porsegregate/2" else config, PASSPHRASE, options)
    codes = read_client_codes(root / "client-codes.csv")
    formats = [
        json.loads((root / "site" / "epochs" / e / "attestation.json").read_text())["format"]
        for e, _ in MIXED_EPOCHS
    ]
    assert formats == [fmt for _, fmt in MIXED_EPOCHS]
    return {"site": root / "site", "account": "C00000001", "code": codes["C00000001"]}


def test_a_history_of_v1_then_v2_epochs_verifies_in_the_page(
    page: Page, mixed_history: dict[str, Any]
) -> None:
    """ "Check all published epochs" on a site whose older epochs are porsegregate/1 and whose
    newest is porsegregate/2: every epoch verifies, with its own balances; the newest (v2,
    split = 2) says its balances were proven in 2 parts."""
    url, server = serve(mixed_history["site"])
    try:
        seen = no_foreign_requests(page, url)
        page.goto(url + "verify.html")
        overall = verify_all_in_page(page, mixed_history["account"], mixed_history["code"])
        assert overall.startswith("Verified: the 3 published epochs form one signed"), overall
        rows = epoch_rows(page)
        assert [r[0] for r in rows] == ["2026-09", "2026-10", "2026-11 (newest)"]
        assert all(r[1] == "included" for r in rows), rows
        # C00000001 holds i + n + 0.5 BTC and 3i + n + 1 ETH (i = 0) in epoch n.
        assert [r[2] for r in rows] == [
            "0.5 BTC, 1 ETH",
            "1.5 BTC, 2 ETH",
            "2.5 BTC, 3 ETH",
        ], rows
        assert page.locator("#history-checks li.fail").count() == 0
        # The newest epoch's result above: the balance is the sum of its 2 parts.
        balances = page.locator("#balances tbody tr")
        assert balances.count() == 2
        for i in range(2):
            assert "proven in 2 parts, each under the signed root" in balances.nth(i).inner_text()
        assert "2.5 BTC" in balances.nth(0).inner_text()
        checks = page.inner_text("#checks")
        assert "attestation format porsegregate/2" in checks
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        assert all(u.startswith(url) for u in seen), seen
        # An earlier (porsegregate/1) epoch's own page verifies by itself, with no parts note.
        page.goto(url + "epochs/2026-09/verify.html")
        overall = verify_in_page(page, mixed_history["account"], mixed_history["code"])
        assert "NOT" not in overall and "Verified" in overall, overall
        assert "attestation format porsegregate/1" in page.inner_text("#checks")
        assert "parts" not in page.inner_text("#balances")
        assert page.problems == []  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_a_v2_proof_file_in_parts_verifies_offline(
    page: Page, mixed_history: dict[str, Any], tmp_path: Path
) -> None:
    """The shared v2 vector whose balances are in 2 parts, uploaded to the saved page: the
    balances are the sums the Python verifier found, each said to be proven in 2 parts."""
    case = next(
        c
        for c in json.loads((VECTORS / "proofs-v2.json").read_text())["cases"]
        if c["expect"]["verified"] and "(balances in 2 parts)" in c["name"]
    )
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(case["proof"]))
    shutil.copy(mixed_history["site"] / "verify.html", tmp_path / "verify.html")
    page.goto((tmp_path / "verify.html").as_uri())
    page.set_input_files("#proof-file", str(proof))
    overall = verify_in_page(page, case["account_id"], case["code"])
    assert "NOT" not in overall and "Verified" in overall, overall
    rows = page.locator("#balances tbody tr")
    assert rows.count() == len(case["expect"]["balances"])
    for i in range(rows.count()):
        assert "proven in 2 parts, each under the signed root" in rows.nth(i).inner_text()
    assert page.problems == []  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the log and the history


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A three-epoch history (tests/support/history.py), two forks of it, and a newcomer's
    next epoch."""
    from .support import history as h
    from .test_js import publish_with_newcomer

    tmp = tmp_path_factory.mktemp("browser-history")
    clean = h.build_history(tmp / "clean")
    first, second = h.fork(clean, tmp / "fork")
    newcomer = clean.copy(tmp / "newcomer")
    account, code = publish_with_newcomer(newcomer, "next", seed=7)
    removed = clean.copy(tmp / "removed")
    h.remove_epoch(removed)
    stripped = clean.copy(tmp / "stripped")
    h.strip_witness_cosignature(stripped)
    return {
        "clean": clean,
        "removed": removed,
        "stripped": stripped,
        "fork": (first, second),
        "fork_colluded": h.colluding_copy(second, tmp / "fork-b-colluded"),
        "newcomer": newcomer,
        "newcomer_client": (account, code),
        "out": tmp,
    }


def verify_all_in_page(pg: Page, account: str, code: str) -> str:
    pg.fill("#account-id", account)
    pg.fill("#code", code)
    pg.click("#verify-all-button")
    pg.wait_for_function(
        "() => !document.querySelector('#history').hidden"
        " || /NOT verified/.test(document.querySelector('#overall')?.textContent || '')",
        timeout=60_000,
    )
    show_checks(pg)
    return pg.inner_text("#history-overall")


def epoch_rows(pg: Page) -> list[list[str]]:
    rows = pg.locator("#epochs-table tbody tr")
    return [
        [cell.strip() for cell in rows.nth(i).locator("th, td").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_all_epochs_table_on_a_clean_history(page: Page, history: dict[str, Any]) -> None:
    clean = history["clean"]
    url, server = serve(clean.site)
    try:
        seen = no_foreign_requests(page, url)
        page.goto(url + "verify.html")
        overall = verify_all_in_page(page, clean.account, clean.code)
        assert overall.startswith("Verified: the 3 published epochs form one signed"), overall
        assert "Verified" in page.inner_text("#overall")
        rows = epoch_rows(page)
        assert [r[0] for r in rows] == [*clean.epochs[:-1], f"{clean.epochs[-1]} (newest)"]
        assert all(r[1] == "included" for r in rows), rows
        assert all(" BTC" in r[2] or " ETH" in r[2] or " USD" in r[2] for r in rows), rows
        links = page.locator("#epochs-table tbody th a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs == [
            *(f"{url}epochs/{e}/index.html" for e in clean.epochs[:-1]),
            f"{url}index.html",
        ]
        checks = page.inner_text("#history-checks")
        for check in ("history-log", "history-inclusion", "history-epoch", "history-chain"):
            assert check in checks
        assert page.locator("#history-checks li.fail").count() == 0
        main = page.inner_text("#checks")
        assert "log-checkpoint" in main and "log-inclusion" in main and "log-consistency" in main
        assert page.is_hidden("#log-alert") and page.is_hidden("#overdue-warning")
        # Each epoch's page opens (the link of the oldest).
        page.screenshot(path=str(history["out"] / "all-epochs.png"), full_page=True)
        page.screenshot(path="/tmp/porverify-all-epochs.png", full_page=True)
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        assert all(u.startswith(url) for u in seen), seen
        page.click("#epochs-table tbody tr:first-child th a")
        page.wait_for_load_state()
        assert page.url == f"{url}epochs/{clean.epochs[0]}/index.html"
        assert clean.epochs[0] in page.inner_text("h1")
    finally:
        server.shutdown()
        server.server_close()


def test_all_epochs_table_shows_no_proof_for_a_newer_client(
    page: Page, history: dict[str, Any]
) -> None:
    site = history["newcomer"].site
    account, code = history["newcomer_client"]
    url, server = serve(site)
    try:
        page.goto(url + "verify.html")
        overall = verify_all_in_page(page, account, code)
        assert overall.startswith("Verified: the 4 published epochs"), overall
        assert overall.endswith("there is no proof for you in 3."), overall
        rows = epoch_rows(page)
        assert [r[1] for r in rows] == ["no proof for you in this epoch"] * 3 + ["included"]
        assert [r[2] for r in rows][:3] == ["—"] * 3
        assert page.locator("#epochs-table tr.short").count() == 0
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-all-epochs-newcomer.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


def test_all_epochs_a_removed_epoch_fails(page: Page, history: dict[str, Any]) -> None:
    removed = history["removed"]
    url, server = serve(removed.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_all_in_page(page, removed.account, removed.code)
        assert overall.startswith(
            f"NOT verified: check history-epoch failed. Epoch {removed.epochs[1]} is in the signed "
            f"log but its site (epochs/{removed.epochs[1]}/) was removed."
        ), overall
        assert "Verified" in page.inner_text("#overall"), "the newest epoch itself verifies"
        assert [r[1] for r in epoch_rows(page)] == ["included"]
        assert page.locator("#history-checks li.fail").inner_text().startswith("history-epoch")
        # Chromium logs the 404 of the removed epoch's attestation.json; nothing else.
        problems = page.problems  # type: ignore[attr-defined]
        assert problems == [
            "Failed to load resource: the server responded with a status of 404 (File not found)"
        ]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-removed-epoch.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


def test_one_wallet_counted_twice_fails_visibly(page: Page, counted_twice: Any) -> None:
    """T14: the omnibus wallets listed again under a second entry for their network; every
    signature is real and the signed coverage is doubled. The page refuses it."""
    url, server = serve(counted_twice.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, counted_twice.account, counted_twice.code)
        assert overall.startswith("NOT verified: check reserves-distinct failed."), overall
        failed = page.locator("#checks li.fail")
        assert failed.count() == 1
        text = failed.inner_text()
        assert text.startswith("reserves-distinct"), text
        assert "chains bitcoin and bitcoin-b are the same bitcoin network (mainnet)" in text
        assert "chains ethereum and ethereum-b are the same evm network (1)" in text
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-counted-twice.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


def test_a_fork_seen_at_the_same_origin_is_a_red_alert(
    page: Page, history: dict[str, Any], tmp_path: Path
) -> None:
    """Branch A is checked (the page remembers its checkpoint), then branch B at the same URL."""
    first, second = history["fork"]
    served = tmp_path / "served"
    served.symlink_to(first.site, target_is_directory=True)
    url, server = serve(served)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, first.account, first.code)
        assert "NOT" not in overall and "Verified" in overall
        checks = page.inner_text("#checks")
        assert "first visit: this checkpoint will be remembered if everything verifies" in checks
        stored = page.evaluate(
            "() => Object.fromEntries(Object.keys(localStorage)"
            ".filter(k => k.startsWith('porsegregate:log:')).map(k => [k, localStorage[k]]))"
        )
        assert len(stored) == 1, stored
        ((key, value),) = stored.items()
        remembered = json.loads(value)
        checkpoint = json.loads((first.site / "log" / "checkpoint.json").read_text())
        assert key == f"porsegregate:log:{checkpoint['log']}"
        assert remembered == {k: checkpoint[k] for k in ("size", "root", "time", "epoch")}
        assert page.is_hidden("#log-alert")

        # The same client, the same origin and path, later: the other branch is served.
        swap = tmp_path / "swap"
        swap.symlink_to(second.site, target_is_directory=True)
        swap.replace(served)
        page.goto(url + "verify.html")
        overall = verify_in_page(page, second.account, second.code)
        assert "NOT verified: check log-consistency failed" in overall
        alert = page.locator("#log-alert")
        assert alert.is_visible()
        assert alert.get_attribute("role") == "alert"
        text = alert.inner_text()
        assert text.startswith("Warning: this custodian's history was rewritten or forked.")
        assert "different histories to different people (a fork)" in text
        assert "Keep the proof you saved earlier" in text
        assert "custodian and its auditor" in text
        assert alert.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(198, 40, 40)"
        assert alert.evaluate("e => getComputedStyle(e).color") == "rgb(155, 18, 24)"
        # What the browser saw is kept: the warning shows again on the next visit.
        again = page.evaluate(f"() => localStorage[{json.dumps(key)}]")
        assert json.loads(again) == remembered
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-fork.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


def test_proof_files_uploaded_offline_fail_with_their_check(
    page: Page, history: dict[str, Any], tmp_path: Path
) -> None:
    """The proof-file attacks of tests/support/proof_files.py, uploaded to a saved page."""
    from .support import proof_files as pf

    clean = history["clean"]
    first, second = history["fork"][0], history["fork_colluded"]
    saved = pf.save(clean.site, clean.account, clean.code)
    other = pf.inclusion_of_another_attestation(
        pf.save(first.site, first.account, first.code),
        pf.save(second.site, second.account, second.code),
    )
    shutil.copy(clean.site / "verify.html", tmp_path / "verify.html")
    for name, doc, who, expected in (
        ("saved", saved, clean, "Verified"),
        (
            "other-bytes",
            pf.checkpoint_signed_over_other_bytes(saved, clean.site),
            clean,
            "NOT verified: check log-checkpoint failed",
        ),
        ("inclusion", other, first, "NOT verified: check log-inclusion failed"),
        (
            "missing",
            pf.without(saved, "log/checkpoint.json"),
            clean,
            "NOT verified: proof.log_files has no log/checkpoint.json",
        ),
        ("version-1", pf.version_1(saved), clean, "Verified"),
    ):
        page.goto((tmp_path / "verify.html").as_uri())
        page.set_input_files("#proof-file", str(pf.write(doc, tmp_path / f"{name}.json")))
        overall = verify_in_page(page, who.account, who.code)
        assert overall.startswith(expected), (name, overall)
        warning = page.locator("#overdue-warning")
        if name == "version-1":
            assert warning.is_visible()
            assert warning.inner_text().startswith(
                "Log not checked: this is a porsegregate-proof/1"
            )
            assert "log-checkpoint" not in page.inner_text("#checks")
        elif name == "saved":
            assert warning.is_hidden()
            assert "log-inclusion" in page.inner_text("#checks")
    assert page.problems == []  # type: ignore[attr-defined]
    assert csp_violations(page) == []


def test_a_proof_file_of_the_other_fork_is_a_red_alert(
    page: Page, history: dict[str, Any], tmp_path: Path
) -> None:
    """The page remembers branch A's checkpoint; a proof file saved from branch B is a fork.
    The file is compared with what this browser remembers, and never remembered."""
    from .support import proof_files as pf

    first, second = history["fork"][0], history["fork_colluded"]
    forked = pf.write(pf.save(second.site, second.account, second.code), tmp_path / "b.json")
    url, server = serve(first.site)
    try:
        page.goto(url + "verify.html")
        assert "NOT" not in verify_in_page(page, first.account, first.code)
        stored = "() => JSON.stringify(Object.entries(localStorage).sort())"
        remembered = page.evaluate(stored)
        assert "porsegregate:log:" in remembered
        page.goto(url + "verify.html")
        page.set_input_files("#proof-file", str(forked))
        overall = verify_in_page(page, second.account, second.code)
        assert overall.startswith("NOT verified: check log-consistency failed"), overall
        assert "a fork" in overall
        alert = page.locator("#log-alert")
        assert alert.is_visible()
        assert "different histories to different people (a fork)" in alert.inner_text()
        assert page.evaluate(stored) == remembered
        assert page.problems == []  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_says_which_witnesses_co_signed(page: Page, history: dict[str, Any]) -> None:
    clean = history["clean"]
    url, server = serve(clean.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, clean.account, clean.code)
        assert "NOT" not in overall and "Verified" in overall
        witnessed = page.locator("#checks li", has_text="log-witnesses").inner_text()
        assert "co-signed by 2 of 2 witnesses (at least 2 required)" in witnessed
        assert "witness-1.demo.example" in witnessed and "witness-2.demo.example" in witnessed
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("which", "count"),
    [("stripped", "co-signed by 1 of the 2"), ("fork", "co-signed by 0 of the 2")],
)
def test_a_checkpoint_the_witnesses_did_not_co_sign_fails_visibly(
    page: Page, history: dict[str, Any], which: str, count: str
) -> None:
    """A co-signature stripped by the host, and fork B (which the witnesses refused) seen by a
    browser that never saw fork A: both fail log-witnesses, with no memory needed."""
    site = history["stripped"] if which == "stripped" else history["fork"][1]
    url, server = serve(site.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, site.account, site.code)
        assert "NOT verified: check log-witnesses failed" in overall, overall
        assert count in overall and "a split view" in overall
        assert page.locator("#checks li.fail", has_text="log-witnesses").count() == 1
        # The only console errors are the 404s of the co-signatures that are not there.
        missing = 1 if which == "stripped" else 2
        assert page.problems == [NOT_FOUND] * missing  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_an_earlier_epochs_page_is_not_a_false_rollback_alarm(
    page: Page, history: dict[str, Any]
) -> None:
    clean = history["clean"]
    url, server = serve(clean.site)
    try:
        page.goto(url + "verify.html")
        assert "NOT" not in verify_in_page(page, clean.account, clean.code)
        # A day before the newest epoch is due, after the earlier epoch's own next_due: the
        # earlier epoch's page judges freshness by the newest attestation (no false "Overdue").
        from datetime import UTC, datetime, timedelta

        def due(folder: Path) -> str:
            return str(json.loads((folder / "attestation.json").read_text())["epoch"]["next_due"])

        old_due, new_due = due(clean.site / "epochs" / clean.epochs[0]), due(clean.site)
        when = datetime.strptime(new_due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        when -= timedelta(days=1)
        assert when.strftime("%Y-%m-%dT%H:%M:%SZ") > old_due
        page.clock.set_fixed_time(when)
        page.goto(f"{url}epochs/{clean.epochs[0]}/verify.html")
        overall = verify_in_page(page, clean.account, clean.code)
        assert "NOT" not in overall and clean.epochs[0] in overall
        assert page.is_hidden("#overdue-warning"), page.inner_text("#overdue-warning")
        assert page.is_hidden("#log-alert")
        note = page.inner_text("#state-note")
        assert note.startswith(f"This is the page of an earlier epoch ({clean.epochs[0]})"), note
        assert "log-consistency" not in page.inner_text("#checks")
        # From an earlier epoch's page, "all epochs" checks the whole history at the root.
        overall = verify_all_in_page(page, clean.account, clean.code)
        assert overall.startswith("Verified: the 3 published epochs"), overall
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
    finally:
        server.shutdown()
        server.server_close()


def test_an_overdue_attestation_is_a_warning(page: Page, history: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    clean = history["clean"]
    due = json.loads((clean.site / "attestation.json").read_text())["epoch"]["next_due"]
    late = datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(days=3)
    url, server = serve(clean.site)
    try:
        page.goto(url + "verify.html")
        assert "NOT" not in verify_in_page(page, clean.account, clean.code)
        assert page.is_hidden("#overdue-warning"), "not overdue today"
        page.clock.set_fixed_time(late)
        page.goto(url + "verify.html")
        assert page.evaluate("() => new Date().toISOString()").startswith(late.strftime("%Y-%m-%d"))
        overall = verify_in_page(page, clean.account, clean.code)
        assert "NOT" not in overall and "Verified" in overall, "overdue is a warning, not a failure"
        warning = page.locator("#overdue-warning")
        assert warning.is_visible()
        assert warning.inner_text().startswith(
            f"Overdue: the custodian said the next attestation would be published by {due}"
        )
        assert warning.evaluate("e => getComputedStyle(e).borderLeftColor") == "rgb(166, 124, 0)"
        assert page.is_hidden("#log-alert")
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-overdue.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- auditors' co-signatures


@pytest.fixture(scope="module")
def cosigned(history: dict[str, Any]) -> dict[str, Any]:
    """The history's newest epoch co-signed by one auditor (porsegregate cosign), and a forgery."""
    from porsegregate import _crypto
    from porsegregate.cosign import cosign

    from .support import history as h

    clean = history["clean"]
    signed = clean.copy(history["out"] / "cosigned")
    key = _crypto.generate_signing_key()
    result = cosign(signed.site, key, "Example Audit LLP")
    forged = clean.copy(history["out"] / "forged")
    forged_fp = h.forge_auditor_signature(forged)
    return {"signed": signed, "result": result, "forged": forged, "forged_fp": forged_fp}


def test_a_co_signed_site_shows_its_auditor(page: Page, cosigned: dict[str, Any]) -> None:
    signed, result = cosigned["signed"], cosigned["result"]
    fp = result.fingerprint
    url, server = serve(signed.site)
    try:
        seen = no_foreign_requests(page, url)
        page.goto(url + "verify.html")
        overall = verify_in_page(page, signed.account, signed.code)
        assert "NOT" not in overall and "Verified" in overall, overall
        section = page.locator("#auditors")
        assert section.is_visible()
        assert page.inner_text("#auditors-heading") == "Co-signed by auditors"
        items = page.locator("#auditors-list li")
        assert items.count() == 1
        assert items.locator(".auditor-name").inner_text() == "Example Audit LLP"
        grouped = " ".join(fp[i : i + 4] for i in range(0, 64, 4))
        assert items.locator("code.hash").inner_text() == grouped
        when = items.locator("time")
        assert when.get_attribute("datetime") == result.time
        assert when.inner_text() == result.time.replace("T", " ").replace("Z", " UTC")
        link = items.locator("a")
        assert link.inner_text() == "Read the auditor's statement"
        assert link.get_attribute("href") == f"{url}auditors/{fp}/statement.txt"
        note = page.inner_text("#auditors-note")
        assert "the auditor's own claim" in note and "Compare the key fingerprint" in note
        check = page.locator("#checks li", has_text="auditor-signature")
        assert check.get_attribute("class") == "pass"
        assert 'co-signed by 1 auditor key(s): "Example Audit LLP" ' + fp in check.inner_text()
        assert page.problems == []  # type: ignore[attr-defined]
        assert page.index_404s == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        assert all(u.startswith(url) for u in seen), seen
        page.screenshot(path="/tmp/porverify-auditors.png", full_page=True)
        # The statement the link names is the one the auditor signed (fetched, not opened: a
        # text page would make Chromium ask for a favicon, another 404).
        statement = page.request.get(link.get_attribute("href") or "")
        assert statement.ok
        assert statement.text().startswith(
            f"Example Audit LLP co-signs the attestation of epoch {signed.epochs[-1]}"
        )
        # From an earlier epoch's page, "all epochs" shows the newest epoch's auditors, linked
        # at the site's root (the earlier epoch itself has none: its index is empty).
        page.goto(f"{url}epochs/{signed.epochs[0]}/verify.html")
        verify_all_in_page(page, signed.account, signed.code)
        assert page.locator("#auditors-list li").count() == 1
        href = page.locator("#auditors-list a").get_attribute("href")
        assert href == f"{url}auditors/{fp}/statement.txt"
        index_404s = page.index_404s  # type: ignore[attr-defined]
        assert index_404s == [], "every epoch's home has an index (empty when none co-signed)"
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_forged_co_signature_fails_visibly(page: Page, cosigned: dict[str, Any]) -> None:
    forged, fp = cosigned["forged"], cosigned["forged_fp"]
    url, server = serve(forged.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, forged.account, forged.code)
        assert overall.startswith(
            f"NOT verified: check auditor-signature failed. auditors/{fp}/attestation.json.sig "
            "does not verify over this attestation.json under the auditor's key: it signs other "
            "bytes"
        ), overall
        assert page.locator("#overall").get_attribute("class") == "fail"
        failed = page.locator("#checks li.fail")
        assert failed.count() == 1
        assert failed.inner_text().startswith(f"auditor-signature: auditors/{fp}/")
        assert failed.evaluate("e => getComputedStyle(e).color") == "rgb(155, 18, 24)"
        assert failed.evaluate("e => getComputedStyle(e).borderLeftColor") == "rgb(198, 40, 40)"
        # The forger's name is never shown as a co-signature, and nothing after it is checked.
        assert page.is_hidden("#auditors")
        assert "Forged Auditor LLP" not in page.inner_text("#result")
        assert page.inner_text("#checks").strip().splitlines()[-1].startswith("auditor-signature")
        assert page.is_hidden("#coverage")
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-auditor-forged.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- legal segregation (issue 14)


def test_legal_holders_and_a_trustee_change_in_the_page(
    page: Page, history: dict[str, Any], tmp_path: Path
) -> None:
    """The operating company holding a client wallet fails legal-holders on the page; an
    honest trustee change verifies, and the page says what changed (tests/support/legal_attacks)."""
    from .support import legal_attacks as la

    clean = history["clean"]
    opco = clean.copy(tmp_path / "opco")
    la.operating_company_holds_client_wallet(opco)
    url, server = serve(opco.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, opco.account, opco.code)
        assert overall.startswith("NOT verified: check legal-holders failed"), overall
        assert "operating company" in overall
        assert page.locator("#checks li.fail").inner_text().startswith("legal-holders")
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
    finally:
        server.shutdown()
        server.server_close()
    changed = la.change_trustee(clean.copy(tmp_path / "trustee"))
    url, server = serve(changed.site)
    try:
        page.goto(url + "verify.html")
        overall = verify_in_page(page, changed.account, changed.code)
        assert "NOT" not in overall and "Verified" in overall, overall
        checks = page.inner_text("#checks")
        assert "legal-holders" in checks and "legal-documents" in checks
        warning = page.locator("#overdue-warning")
        assert warning.is_visible()
        text = warning.inner_text()
        assert f"Entity added since the previous epoch: {la.NEW_TRUSTEE} (trustee, GB)." in text
        assert "changed since the previous epoch:" in text and la.NEW_TRUSTEE in text
        assert page.problems == []  # type: ignore[attr-defined]
        assert csp_violations(page) == []
        page.screenshot(path="/tmp/porverify-trustee-change.png", full_page=True)
    finally:
        server.shutdown()
        server.server_close()


# Phone and desktop layout: every page of the newest epoch and of an earlier epoch's copy.
LAYOUT_PAGES = ("index.html", "reserves.html", "verify.html", "auditor.html")
SIZES = ((390, 844), (1280, 900), (360, 740))
# The smallest font size, in CSS pixels as drawn (the SVG's scale included), of chart text.
CHART_TEXT_PX = """() => Array.from(document.querySelectorAll('svg.chart-svg text')).map((t) => {
  const m = t.getScreenCTM();
  return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
})"""
# The page's elements that stick out past the viewport's right edge (to say which, on failure).
OVERFLOWING = """() => Array.from(document.querySelectorAll('body *')).filter((e) => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.right > window.innerWidth + 0.5;
}).slice(0, 5).map((e) => e.tagName + '.' + e.className + ': '
  + (e.textContent || '').slice(0, 40))"""


# Tables that would scroll sideways inside their wrapper (columns cut at the screen's edge).
SCROLLING_TABLES = """() => Array.from(document.querySelectorAll('.table-wrap'))
  .filter((w) => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1)
  .map((w) => (w.querySelector('caption') || w).textContent.slice(0, 50))"""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_page_scrolls_sideways_and_chart_text_is_readable(
    browser: Browser, history: dict[str, Any], size: tuple[int, int]
) -> None:
    clean = history["clean"]
    url, server = serve(clean.site)
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        pg = context.new_page()
        problems: list[str] = []
        pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', "
            "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        homes = ["", f"epochs/{clean.epochs[0]}/"]
        pages = LAYOUT_PAGES if width != 360 else ("index.html", "verify.html")
        for home in homes:
            for name in pages:
                pg.goto(url + home + name)
                pg.wait_for_load_state("load")
                where = f"{home}{name} at {width}x{height}"
                scroll = pg.evaluate("document.documentElement.scrollWidth")
                inner = pg.evaluate("window.innerWidth")
                assert scroll <= inner, (where, scroll, inner, pg.evaluate(OVERFLOWING))
                assert pg.evaluate(SCROLLING_TABLES) == [], where
                sizes: list[float] = pg.evaluate(CHART_TEXT_PX)
                if name in ("index.html", "reserves.html"):
                    assert sizes, f"{where}: no chart text"
                assert all(s >= 12 - 0.01 for s in sizes), (where, min(sizes))
                assert "Hover" not in pg.inner_text("body"), where
                assert pg.evaluate("window.__csp") == [], where
                if name == "verify.html" and home == "":
                    # the result: balances, coverage and checks must fit as well
                    verify_in_page(pg, clean.account, clean.code)
                    scroll = pg.evaluate("document.documentElement.scrollWidth")
                    assert scroll <= inner, (where, "result", pg.evaluate(OVERFLOWING))
                    assert pg.evaluate(SCROLLING_TABLES) == [], (where, "result")
                if home == "":
                    # PORSEGREGATE_SCREENSHOTS keeps them somewhere to look at.
                    shots = Path(os.environ.get("PORSEGREGATE_SCREENSHOTS") or history["out"])
                    shot = shots / f"layout-{name.replace('.html', '')}-{width}.png"
                    pg.screenshot(path=str(shot), full_page=True)
        # Chromium logs a 404 for auditors/index.json on a site without auditors; nothing else.
        assert [p for p in problems if NOT_FOUND not in p] == []
    finally:
        context.close()
        server.shutdown()


def test_the_charts_say_what_they_show(page: Page, history: dict[str, Any]) -> None:
    """Coverage: one bar per asset with its percentage written; history: one chart per asset
    with every epoch on its axis and amounts in the asset's units (never smallest units)."""
    from porsegregate.protocol.amounts import format_decimal
    from porsegregate.protocol.coverage import percent
    from porsegregate.protocol.serialization import parse_attestation

    clean = history["clean"]
    url, server = serve(clean.site)
    try:
        attestation = parse_attestation((clean.site / "attestation.json").read_bytes())
        for name in ("index.html", "reserves.html"):
            page.goto(url + name)
            chart = page.locator("figure.coverage-chart svg")
            assert chart.count() == 1, name
            bars = chart.locator("rect.coverage-bar")
            assert bars.count() == len(attestation.reserves.coverage), name
            labels = chart.locator("text.chart-label").all_text_contents()
            for c, label in zip(attestation.reserves.coverage, labels, strict=True):
                pct = percent(c.segregated, c.liabilities)
                assert label.startswith(c.asset), (name, label)
                assert (f"{pct} %" if pct is not None else "nothing owed") in label, label
            axis = chart.locator("text.chart-axis").all_text_contents()
            assert "100 %" in axis, axis
        page.goto(url + "index.html")
        panels = page.locator("figure.history-panel")
        assert panels.count() == len(attestation.assets)
        for asset in attestation.assets:
            panel = page.locator(f"figure.history-panel[data-asset='{asset.code}']")
            epochs = panel.locator("text.history-epoch").all_text_contents()
            assert epochs == list(clean.epochs), epochs
            ticks = panel.locator("text.history-tick").all_text_contents()
            assert ticks[0] == f"0 {asset.code}"
            assert all(t.endswith(f" {asset.code}") for t in ticks), ticks
            latest = panel.locator("p.chart-latest").inner_text()
            owed = format_decimal(asset.total, asset.decimals)
            assert latest.startswith(f"{clean.epochs[-1]}: owed {owed} {asset.code}; "), latest
            every = panel.locator("ul.chart-values li").all_text_contents()
            assert [v.split(":")[0] for v in every] == list(clean.epochs), every
            if asset.decimals and asset.total >= 10**asset.decimals:
                assert str(asset.total) not in (panel.text_content() or ""), "smallest units"
            assert panel.locator("polyline.history-liabilities").count() == 1
            assert panel.locator("polyline.history-reserves").count() == 1
    finally:
        server.shutdown()


# ---------------------------------------------------------------- accessibility (axe-core)

AXE = Path(__file__).parent.parent / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}


def axe_violations(pg: Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now: "rule: n node(s)"."""
    found: list[str] = pg.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => `${v.id}: ${v.nodes.length} node(s): ` + "
        "v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))"
    )
    return found


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", ["index.html", "reserves.html", "verify.html", "auditor.html"])
def test_every_page_has_no_accessibility_violations(
    browser: Browser, demo: dict[str, Any], name: str, viewport: str
) -> None:
    """axe-core (npm, pinned in package.json) finds no WCAG 2.1 A/AA violation on any page,
    on a phone and a desktop; on the verify page also once a result is shown."""
    assert AXE.is_file(), "axe-core comes from `npm ci` (scripts/test.sh runs it)"
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    # An init script is injected by the browser, not the page: the page's CSP does not apply.
    context.add_init_script(path=str(AXE))
    try:
        pg = context.new_page()
        pg.goto(demo["url"] + name)
        pg.wait_for_load_state("load")
        assert axe_violations(pg) == [], (name, viewport)
        if name == "verify.html":
            account, code = list(demo["codes"].items())[2]
            assert "NOT" not in verify_in_page(pg, account, code)
            assert axe_violations(pg) == [], (name, viewport, "with a result")
    finally:
        context.close()


# -- the site in German (issue 13, item 7) --------------------------------------------------------


@pytest.fixture(scope="module")
def german_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from porsegregate.publish.demo import run_demo

    out = tmp_path_factory.mktemp("browser-demo-de")
    result = run_demo(out, clients=200, seed=3, language="de")
    url, server = serve(result.publish.site)
    yield {"url": url, "codes": read_client_codes(result.publish.codes), "out": out}
    server.shutdown()
    server.server_close()


def english_left(text: str) -> list[str]:
    """Messages of the English verifier catalogue (4 words or more) found in `text`."""
    english = json.loads((Path(__file__).parents[1] / "site/messages/en.json").read_text("utf-8"))
    phrases = [
        part.strip(" .,:;()")
        for key in english
        for part in re.split(r"\{\w+\}|`[^`]*`", key)
        if len(part.split()) >= 4
    ]
    return [p for p in phrases if p in text]


def fits(pg: Page, where: str) -> None:
    """Nothing scrolls sideways: longer German words must wrap as the English ones do."""
    scroll = pg.evaluate("document.documentElement.scrollWidth")
    inner = pg.evaluate("window.innerWidth")
    assert scroll <= inner, (where, scroll, inner, pg.evaluate(OVERFLOWING))
    assert pg.evaluate(SCROLLING_TABLES) == [], where


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_german_site_verifies_a_client_in_german(
    browser: Browser, german_demo: dict[str, Any], size: tuple[int, int]
) -> None:
    """Published with [site] language = "de": the verdict, headings and notes are German, the
    check details are labelled as English technical details, no CSP violation, no console
    problem, axe-core finds no violation, and the reserves page checks every proof in German."""
    width, height = size
    viewport = f"{width}x{height}"
    shots = Path(os.environ.get("PORSEGREGATE_SCREENSHOTS") or german_demo["out"])
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(path=str(AXE))
    context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    problems: list[str] = []
    index_404s: list[str] = []
    try:
        pg = context.new_page()
        pg.on("console", lambda m: console_error(problems, index_404s, m))
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.goto(german_demo["url"] + "verify.html")
        assert pg.get_attribute("html", "lang") == "de"
        assert pg.inner_text("h1").startswith("Prüfen Sie Ihren Saldo bei Demo Custody Ltd")
        account, code = next(iter(german_demo["codes"].items()))
        pg.fill("#account-id", account)
        pg.fill("#code", code)
        pg.click("#verify-button")
        pg.wait_for_function(
            "() => /Geprüft|NICHT|Prüfen Sie Ihre Eingabe/.test("
            "document.querySelector('#overall')?.textContent || '')",
            timeout=30_000,
        )
        overall = pg.inner_text("#overall")
        assert overall.startswith("Geprüft: Ihre Salden sind in den Verbindlichkeiten"), overall
        assert pg.inner_text("#result-heading") == "Ergebnis"
        assert pg.inner_text("#coverage-heading") == "Wie Ihre Vermögenswerte gedeckt sind"
        assert "Prüfen Sie, dass dies alle Ihre Salden sind" in pg.inner_text("#balances-help")
        assert pg.inner_text("#download-proof") == "Meinen Nachweis herunterladen"
        summary = pg.inner_text("#checks-summary")
        assert re.fullmatch(r"Alle \d+ Prüfungen zeigen", summary), summary
        pg.locator("#checks-details").evaluate("e => { e.open = true; }")
        label = pg.inner_text("#checks-details .technical-label")
        assert label.startswith("Technische Einzelheiten (auf Englisch)")
        # Everything but the technical check details is German.
        shown = pg.evaluate(
            "() => { const r = document.querySelector('#result').cloneNode(true);"
            " r.querySelectorAll('#checks, #history-checks').forEach(e => e.remove());"
            " return document.querySelector('form').innerText + '\\n' + r.innerText; }"
        )
        assert english_left(shown) == [], english_left(shown)
        assert axe_violations(pg) == [], viewport
        assert pg.evaluate("window.__csp") == []
        fits(pg, f"verify.html with a result at {viewport}")
        pg.screenshot(path=str(shots / f"de-verify-{width}.png"), full_page=True)
        # A typing mistake: the neutral state, in German.
        pg.fill("#code", code[:-1] + ("0" if code[-1] != "0" else "1"))
        pg.click("#verify-button")
        pg.wait_for_function(
            "() => /Prüfen Sie Ihre Eingabe|NICHT/.test("
            "document.querySelector('#overall')?.textContent || '')",
            timeout=30_000,
        )
        assert pg.inner_text("#overall").startswith("Prüfen Sie Ihre Eingabe"), pg.inner_text(
            "#overall"
        )
        # The reserves page checks every wallet proof, and says so in German.
        pg.goto(german_demo["url"] + "reserves.html")
        pg.wait_for_function(
            "() => [...document.querySelectorAll('.proof-status')].every("
            "s => !s.textContent.startsWith('noch nicht geprüft'))",
            timeout=30_000,
        )
        statuses = pg.locator(".proof-status").all_inner_texts()
        assert statuses and all(s == "✓ hier geprüft" for s in statuses), statuses
        assert axe_violations(pg) == [], viewport
        fits(pg, f"reserves.html at {viewport}")
        pg.screenshot(path=str(shots / f"de-reserves-{width}.png"), full_page=True)
        for name in ("index.html", "auditor.html"):
            pg.goto(german_demo["url"] + name)
            assert pg.get_attribute("html", "lang") == "de"
            assert axe_violations(pg) == [], (name, viewport)
            fits(pg, f"{name} at {viewport}")
            pg.screenshot(path=str(shots / f"de-{name[:-5]}-{width}.png"), full_page=True)
        assert pg.evaluate("window.__csp") == []
        assert problems == [], problems
    finally:
        context.close()
