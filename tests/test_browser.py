"""Real-browser tests: Debian's chromium driven by Playwright against a site served on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    from porsegregate.demo import run_demo

    out = tmp_path_factory.mktemp("browser-demo")
    result = run_demo(out, clients=400, seed=3)
    rows = [line.split(",", 1) for line in result.publish.codes.read_text().splitlines()[1:]]
    url, server = serve(result.publish.site)
    yield {
        "url": url,
        "site": result.publish.site,
        "codes": dict(rows),
        "fingerprint": result.publish.fingerprint,
        "out": out,
    }
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg
    context.close()


def no_foreign_requests(pg: Page, base: str) -> list[str]:
    seen: list[str] = []
    pg.on("request", lambda r: seen.append(r.url))
    return seen


def verify_in_page(pg: Page, account: str, code: str) -> str:
    pg.fill("#account-id", account)
    pg.fill("#code", code)
    pg.click("#verify-button")
    pg.wait_for_function(
        "() => /verified/i.test(document.querySelector('#overall')?.textContent || '')",
        timeout=30_000,
    )
    return pg.inner_text("#overall")


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
    assert all(u.startswith(demo["url"]) for u in seen), seen
    shards = [u for u in seen if "/proofs/" in u]
    assert len(shards) == 1, "only the one shard the client needs is fetched"
    page.screenshot(path=str(demo["out"] / "verify-pass.png"), full_page=True)


def test_wrong_code_fails_visibly(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    accounts = list(demo["codes"])
    overall = verify_in_page(page, accounts[0], demo["codes"][accounts[1]])
    assert "NOT verified" in overall
    assert "bundle-account" in page.inner_text("#checks") or "proof-found" in page.inner_text(
        "#checks"
    )
    assert page.is_hidden("#download-proof"), "another client's proof is not offered for download"


def test_code_typo_fails_visibly(page: Page, demo: dict[str, Any]) -> None:
    page.goto(demo["url"] + "verify.html")
    account, code = next(iter(demo["codes"].items()))
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    overall = verify_in_page(page, account, typo)
    assert "NOT verified" in overall


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
        assert "NOT verified" in overall
        assert "shard-hash" in page.inner_text("#checks")
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
    assert json.loads(proof.read_text())["format"] == "porsegregate-proof/1"

    offline = tmp_path / "offline"
    offline.mkdir()
    shutil.copy(demo["site"] / "verify.html", offline / "verify.html")
    page.goto((offline / "verify.html").as_uri())
    page.set_input_files("#proof-file", str(proof))
    overall = verify_in_page(page, account, code)
    assert "NOT" not in overall and "Verified" in overall


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


def test_browser_verifier_passes_the_shared_vectors(browser: Browser, tmp_path: Path) -> None:
    """The same vectors the Python verifier passes, run by the module inside chromium."""
    (tmp_path / "porverify.js").write_bytes((ROOT / "site" / "porverify.js").read_bytes())
    (tmp_path / "proofs.json").write_bytes((VECTORS / "proofs.json").read_bytes())
    (tmp_path / "index.html").write_text("<!doctype html><title>vectors</title><h1>vectors</h1>")
    url, server = serve(tmp_path)
    try:
        pg = browser.new_page()
        pg.goto(url + "index.html")
        results = pg.evaluate(
            """async () => {
              const m = await import('./porverify.js');
              const cases = (await (await fetch('./proofs.json')).json()).cases;
              const out = [];
              for (const c of cases) {
                const r = await m.verifyProof(c.proof, c.account_id, c.code,
                                              {expectKey: c.expect_key});
                const f = r.failed;
                out.push({name: c.name, expect: c.expect, verified: r.verified,
                          failed: f ? {id: f.id, asset: f.asset ?? null} : null,
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
    assert len(results) > 20
    for r in results:
        expect = r["expect"]
        assert r["verified"] is expect["verified"], r
        if expect["verified"]:
            assert r["balances"] == expect["balances"], r
        else:
            assert r["failed"] == expect["failed"], r
