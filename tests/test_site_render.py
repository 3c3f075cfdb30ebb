"""The rendered pages: structure, escaping, Content-Security-Policy hashes, the chart."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import porsegregate.publish.site as site_module
from porsegregate.errors import ConfigError
from porsegregate.protocol.amounts import MAX_AMOUNT, format_decimal
from porsegregate.protocol.models import AssetLiabilities, Attestation, Custodian
from porsegregate.publish.site import render_site, resource_dir

PAGES = ("index.html", "reserves.html", "verify.html", "auditor.html")
FILES = {*PAGES, "assets/style.css", "assets/porverify.js", "assets/vendor/noble.js"}
EVIL = '<script>alert(1)</script> & "quotes"'
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
FINGERPRINT = hashlib.sha256(b"a raw 32-byte ed25519 public key").hexdigest()
OPENSSL = (
    "openssl pkeyutl -verify -pubin -inkey custodian.pub.pem -rawin -in attestation.json "
    "-sigfile attestation.json.sig"
)
INFO_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'"
)
ATTESTATION_JSON = b'{"format":"porsegregate/1","stand-in":"the exact signed bytes"}'
# Stands in for site/porverify.js while it does not exist yet: an ES module, non-ASCII text.
FAKE_SCRIPT = (
    'export const CHECK = "\u2713";\n'
    'const app = document.getElementById("porverify-app");\n'
    "if (app) app.dataset.ready = `${CHECK} ready`;\n"
)


def sha256_b64(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def asset(code: str, decimals: int, total: int, height: int, fill: int) -> AssetLiabilities:
    return AssetLiabilities(code, decimals, bytes([fill]) * 32, total, height)


def attestation(
    assets: tuple[AssetLiabilities, ...] | None = None,
    previous: str | None = None,
    name: str = EVIL,
) -> Attestation:
    if assets is None:
        assets = (
            asset("BTC", 8, 125_040_000, 3, 0xB1),
            asset("ETH", 18, 10**30, 20, 0xE7),
            asset("MAX", 30, MAX_AMOUNT, 40, 0x4D),
            asset("USDT", 6, 0, 0, 0x05),
        )
    return Attestation(
        format="porsegregate/1",
        generator="porsegregate 0.1.0",
        custodian=Custodian(name=name, legal_entity="Evil Holdings <b>plc</b>, no. 123"),
        segregation_arrangement="Held on trust.\nSeparate wallets.\n\nAudited yearly.",
        epoch_id="2026-11",
        snapshot_time="2026-11-30T23:59:59Z",
        assets=assets,
        previous_attestation_sha256=previous,
        next_due="2026-12-31T23:59:59Z",
    )


def render(att: Attestation | None = None, prefix: int = 1, shards: int = 16) -> dict[str, bytes]:
    return render_site(att or attestation(), ATTESTATION_JSON, FINGERPRINT, prefix, shards)


def use_site_dir(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make render_site read style.css and porverify.js from `folder` (templates stay real)."""
    real: Callable[[str], Path] = site_module.resource_dir
    monkeypatch.setattr(
        site_module, "resource_dir", lambda name: folder if name == "site" else real(name)
    )


def fake_site_dir(
    folder: Path, script: str | bytes = FAKE_SCRIPT, style: str | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if style is None:
        shutil.copy(resource_dir("site") / "style.css", folder / "style.css")
    else:
        (folder / "style.css").write_text(style, encoding="utf-8", newline="")
    data = script.encode("utf-8") if isinstance(script, str) else script
    (folder / "porverify.js").write_bytes(data)
    (folder / "vendor").mkdir(exist_ok=True)
    shutil.copy(resource_dir("site") / "vendor" / "noble.js", folder / "vendor" / "noble.js")
    shutil.copytree(resource_dir("site") / "messages", folder / "messages", dirs_exist_ok=True)
    return folder


def vendor_text() -> str:
    """The vendored secp256k1/Keccak bundle every verifier page inlines before porverify.js."""
    return (resource_dir("site") / "vendor" / "noble.js").read_text(encoding="utf-8")


@pytest.fixture
def assets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where render_site reads the verifier: the real site/ once porverify.js exists there."""
    real = resource_dir("site")
    if (real / "porverify.js").is_file():
        return real
    fake = fake_site_dir(tmp_path / "site")
    use_site_dir(monkeypatch, fake)
    return fake


@pytest.fixture
def out(assets_dir: Path) -> dict[str, bytes]:
    return render()


@pytest.fixture
def pages(out: dict[str, bytes]) -> dict[str, str]:
    return {name: out[name].decode("utf-8") for name in PAGES}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text content of <script> and <style>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.raw[self._in][-1] += data

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]

    def ids(self) -> set[str]:
        return {str(a["id"]) for _, a in self.tags if a.get("id")}


def without_inline_code(html: str) -> str:
    html = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", html, flags=re.S | re.I)
    return re.sub(r"(<style\b[^>]*>).*?(</style>)", r"\1\2", html, flags=re.S | re.I)


def csp_of(html: str) -> str:
    found = re.search(
        r'<head>\s*<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html
    )
    assert found, "the CSP meta must be the first element of <head>"
    return found.group(1)


def coverage_bars(html: str) -> dict[str, int]:
    bars = re.findall(
        r'<rect class="coverage-bar[^"]*" data-asset="([^"]+)"[^>]*\swidth="(\d+)"', html
    )
    return {code: int(width) for code, width in bars}


# --- the files ---------------------------------------------------------------------------------


def test_renders_every_file_deterministically(out: dict[str, bytes]) -> None:
    assert set(out) == FILES
    assert render() == out
    for name in PAGES:
        assert out[name].startswith(b'<!doctype html>\n<html lang="en">')
        out[name].decode("utf-8")  # strict UTF-8


def test_assets_are_the_site_files_byte_for_byte(out: dict[str, bytes], assets_dir: Path) -> None:
    assert out["assets/porverify.js"] == (assets_dir / "porverify.js").read_bytes()
    assert out["assets/vendor/noble.js"] == (assets_dir / "vendor" / "noble.js").read_bytes()
    assert out["assets/style.css"] == (assets_dir / "style.css").read_bytes()
    assert out["assets/style.css"] == (resource_dir("site") / "style.css").read_bytes()


def test_resource_dir_prefers_the_package_then_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (resource_dir("templates") / "base.html").is_file()
    assert (resource_dir("site") / "style.css").is_file()
    package = tmp_path / "src" / "porsegregate"
    package.mkdir(parents=True)
    monkeypatch.setattr(site_module, "__file__", str(package / "publish" / "site.py"))
    with pytest.raises(ConfigError, match=r"'templates' folder is missing .* reinstall"):
        resource_dir("templates")
    (tmp_path / "templates").mkdir()
    assert resource_dir("templates") == tmp_path / "templates"
    (package / "templates").mkdir()
    assert resource_dir("templates") == package / "templates"


# --- every page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_page_structure_and_accessibility(pages: dict[str, str], name: str) -> None:
    html = pages[name]
    tags = Tags(html)
    assert len(tags.named("h1")) == 1
    assert len(re.findall(r"<h1\b", html)) == 1
    assert csp_of(html)
    assert any(a.get("charset") == "utf-8" for a in tags.named("meta"))
    assert any(a.get("name") == "viewport" for a in tags.named("meta"))
    for landmark in ("header", "nav", "main", "footer"):
        assert len(tags.named(landmark)) == 1, landmark
    links = {a.get("href") for a in tags.named("a")}
    assert {"index.html", "reserves.html", "verify.html", "auditor.html"} <= links
    current = [a.get("href") for a in tags.named("a") if a.get("aria-current") == "page"]
    assert current == [name]
    for tag, attrs in tags.tags:
        assert "style" not in attrs, f"style attribute on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"event handler on <{tag}>"
        for attr in ("href", "src", "action", "formaction", "xlink:href", "data"):
            value = (attrs.get(attr) or "").strip().lower()
            if (tag, attr, value) == ("link", "href", "data:,"):
                continue  # the empty favicon: no request for /favicon.ico
            assert not re.match(r"[a-z][a-z0-9+.-]*:|//", value), f"<{tag} {attr}={value!r}>"
    markup = without_inline_code(html)
    assert not re.search(r"\sstyle\s*=", markup)
    assert not re.search(r"\son[a-z]+\s*=", markup)
    assert "http://" not in markup and "https://" not in markup
    for table in re.findall(r"<table\b.*?</table>", markup, flags=re.S):
        assert re.search(r"<caption\b", table)
        headers = re.findall(r"<th\b", table)
        assert len(headers) == len(re.findall(r'<th scope="(?:col|row)"', table))


@pytest.mark.parametrize("name", PAGES)
def test_custodian_text_is_escaped(pages: dict[str, str], name: str) -> None:
    html = pages[name]
    assert "<script>alert" not in html and "alert(1)</script>" not in html
    assert "<b>plc</b>" not in html
    assert EVIL_ESCAPED in html
    assert "&amp;" in html
    assert '"quotes"' not in without_inline_code(html).split("<body>")[1]


def test_information_pages_have_no_scripts_and_link_the_stylesheet(pages: dict[str, str]) -> None:
    for name in ("index.html", "auditor.html"):
        html = pages[name]
        assert csp_of(html) == INFO_CSP
        assert "<script" not in html.lower()
        assert "<style" not in html.lower()
        assert '<link rel="stylesheet" href="assets/style.css">' in html


# --- verify.html -----------------------------------------------------------------------------


def test_verify_page_csp_hashes_are_those_of_the_inline_code(
    pages: dict[str, str], assets_dir: Path
) -> None:
    html = pages["verify.html"]
    tags = Tags(html)
    scripts, styles = tags.raw["script"], tags.raw["style"]
    # The verifier's message catalogue (JSON data, never run: no CSP hash), then the module.
    assert len(scripts) == 2 and len(styles) == 1
    assert tags.named("script") == [
        {"type": "application/json", "id": "porverify-messages"},
        {"type": "module"},
    ]
    assert json.loads(scripts[0]) == json.loads(
        (assets_dir / "messages" / "en.json").read_text(encoding="utf-8")
    )
    links = [a.get("href") for a in tags.named("link")]
    assert links == ["data:,"], "verify.html must not depend on another file"
    script = re.search(r'<script type="module">(.*?)</script>', html, flags=re.S)
    style = re.search(r"<style>(.*?)</style>", html, flags=re.S)
    assert script and style
    assert script.group(1) == scripts[1] and style.group(1) == styles[0]
    expected_script = (assets_dir / "porverify.js").read_text(encoding="utf-8")
    expected_style = (assets_dir / "style.css").read_text(encoding="utf-8")
    # One inline module: the vendored noble bundle, a line break, then the verifier.
    assert script.group(1) == vendor_text() + "\n" + expected_script.replace("\r\n", "\n")
    assert style.group(1) == expected_style.replace("\r\n", "\n")
    assert csp_of(html) == (
        f"default-src 'none'; script-src 'sha256-{sha256_b64(script.group(1))}'; "
        f"style-src 'sha256-{sha256_b64(style.group(1))}'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'"
    )


def test_verify_page_has_the_dom_the_verifier_uses(pages: dict[str, str]) -> None:
    html = pages["verify.html"]
    tags = Tags(html)
    ids = tags.ids()
    wanted = {
        "porverify-app",
        "verify-form",
        "account-id",
        "code",
        "code-help",
        "expect-key",
        "proof-file",
        "verify-button",
        "result",
        "overall",
        "fingerprint",
        "balances",
        "checks",
        "download-proof",
    }
    assert wanted <= ids
    assert '<div id="porverify-app" data-epoch="2026-11">' in html
    assert '<form id="verify-form" autocomplete="off">' in html
    labelled = {a.get("for") for a in tags.named("label")}
    for field in tags.named("input"):
        assert field.get("id") in labelled, field
    by_id = {a["id"]: a for _, a in tags.tags if a.get("id")}
    assert by_id["code"]["aria-describedby"] == "code-help"
    assert by_id["code"]["placeholder"] == "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX"
    assert by_id["proof-file"]["type"] == "file"
    assert by_id["verify-button"]["type"] == "submit"
    assert by_id["download-proof"]["type"] == "button" and "hidden" in by_id["download-proof"]
    assert by_id["result"]["aria-live"] == "polite" and "hidden" in by_id["result"]
    assert by_id["overall"]["role"] == "status"
    assert "Your balances in this attestation" in html
    assert "<noscript>" in html and "porsegregate verify" in html
    assert EVIL_ESCAPED in html.split("<header")[1].split("</header>")[0]


def test_verify_page_tolerates_crlf_and_non_ascii(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser hashes what its parser saw: CRLF becomes LF, so the hash must be over LF."""
    script = FAKE_SCRIPT.replace("\n", "\r\n")
    style = "p::before{content:'\u2713'}\r\n"
    use_site_dir(monkeypatch, fake_site_dir(tmp_path / "s", script, style))
    out = render()
    html = out["verify.html"].decode()
    inline = re.search(r'<script type="module">(.*?)</script>', html, flags=re.S)
    assert inline and "\r" not in inline.group(1) and "\u2713" in inline.group(1)
    assert f"'sha256-{sha256_b64(vendor_text() + chr(10) + FAKE_SCRIPT)}'" in csp_of(html)
    assert f"'sha256-{sha256_b64(style.replace(chr(13), ''))}'" in csp_of(html)
    assert out["assets/porverify.js"] == script.encode(), "the published file is left as it is"


@pytest.mark.parametrize(
    ("script", "style"),
    [
        ('const s = "</script>";\n', None),
        ('const s = "</SCRIPT >";\n', None),
        ("const s = 1; <!-- old comment\n", None),
        ("const s = 1;\x00\n", None),
        (b"const s = '\xff';\n", None),
        (FAKE_SCRIPT, "p { color: red }\n</style><script>alert(1)</script>"),
        (FAKE_SCRIPT, "p { color: red }\n</STYLE"),
    ],
)
def test_inline_code_that_would_escape_its_element_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str | bytes, style: str | None
) -> None:
    use_site_dir(monkeypatch, fake_site_dir(tmp_path / "s", script, style))
    with pytest.raises(ConfigError, match=r"porverify\.js|style\.css"):
        render()


def test_a_missing_vendor_bundle_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fake_site_dir(tmp_path / "s")
    (folder / "vendor" / "noble.js").unlink()
    use_site_dir(monkeypatch, folder)
    with pytest.raises(ConfigError, match=r"noble\.js.*reinstall"):
        render()


def test_a_missing_verifier_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fake_site_dir(tmp_path / "s")
    (folder / "porverify.js").unlink()
    use_site_dir(monkeypatch, folder)
    with pytest.raises(ConfigError, match=r"porverify\.js.*reinstall"):
        render()


# --- index.html ------------------------------------------------------------------------------


def test_index_shows_totals_fingerprint_and_the_openssl_command(pages: dict[str, str]) -> None:
    html = pages["index.html"]
    for a in attestation().assets:
        assert f"{format_decimal(a.total, a.decimals)} {a.code}" in html
        assert f">{a.total}<" in html
        assert a.root.hex() in html
        assert f"2<sup>{a.padded_height}</sup> = {1 << a.padded_height:,}" in html
    assert "1.2504 BTC" in html and "1000000000000 ETH" in html and "0 USDT" in html
    assert f"<pre><code>{OPENSSL}</code></pre>" in html
    assert html.count(FINGERPRINT) == 1
    grouped = " ".join(FINGERPRINT[i : i + 4] for i in range(0, 64, 4))
    assert grouped in html
    assert 'href="verify.html">Verify my balance</a>' in html
    for f in ("attestation.json", "attestation.json.sig", "custodian.pub.pem"):
        assert f'href="{f}"' in html
    assert "curl " in html
    assert "this is the first epoch" in html
    arrangement = (
        '<dd class="arrangement">Held on trust.\nSeparate wallets.\n\nAudited yearly.</dd>'
    )
    assert arrangement in html


def test_no_coverage_no_coverage_chart_and_no_log_chart(pages: dict[str, str]) -> None:
    assert attestation().reserves.coverage == ()
    for name in ("index.html", "reserves.html"):
        assert "coverage-chart" not in pages[name] and "logarithm" not in pages[name]


def check_coverage_chart(pages: dict[str, str], coverage: Any) -> None:
    """Used by tests/test_reserves.py on an attestation with reserves."""
    for name in ("index.html", "reserves.html"):
        html = pages[name]
        svg = re.search(r'<figure class="chart coverage-chart">\s*(<svg\b.*?</svg>)', html, re.S)
        assert svg, name
        chart = svg.group(1)
        assert 'role="img"' in chart
        labelled = re.search(r'aria-labelledby="([^"]+)"', chart)
        assert labelled
        for ref in labelled.group(1).split():
            assert f'id="{ref}"' in chart
        assert re.search(r"<title\b[^>]*>[^<]+</title>", chart)
        bars = coverage_bars(chart)
        assert set(bars) == {c.asset for c in coverage}
        mark = site_module.CHART_WIDTH * 100 // site_module.COVERAGE_SCALE_PERCENT
        assert f'<line class="coverage-mark" x1="{mark}" x2="{mark}"' in chart
        assert ">100 %</text>" in chart and ">0 %</text>" in chart
        for c in coverage:
            assert 0 <= bars[c.asset] <= site_module.CHART_WIDTH
            if c.liabilities:
                # integer pixels: the bar ends at the 100 % mark exactly when covered exactly
                expected = min(
                    site_module.CHART_WIDTH,
                    c.segregated
                    * 100
                    * site_module.CHART_WIDTH
                    // (c.liabilities * site_module.COVERAGE_SCALE_PERCENT),
                )
                assert bars[c.asset] == expected
        assert "logarithm" not in html


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (1, 1), (2, 2), (3, 5), (10, 10), (11, 20), (21, 25), (26, 50), (51, 100),
     (125_000_000, 200_000_000), (MAX_AMOUNT, 5 * 10**38)],
)  # fmt: skip
def test_nice_ceiling_is_an_integer_at_or_above_the_value(value: int, ceiling: int) -> None:
    assert site_module.nice_ceiling(value) == ceiling


@pytest.mark.parametrize(
    "assets",
    [
        (asset("ZERO", 0, 0, 0, 1),),
        (asset("A", 2, 0, 0, 1), asset("B", 30, 0, 5, 2)),
        (),
    ],
    ids=["one-zero", "all-zero", "no-assets"],
)
def test_zero_totals_and_no_assets_render(
    assets_dir: Path, assets: tuple[AssetLiabilities, ...]
) -> None:
    html = render(attestation(assets)).get("index.html", b"").decode()
    assert len(re.findall(r"<h1\b", html)) == 1
    for a in assets:
        assert f"0 {a.code}" in html


def test_previous_attestation_is_shown(assets_dir: Path) -> None:
    previous = hashlib.sha256(b"last month").hexdigest()
    out = render(attestation(previous=previous))
    for name in ("index.html", "auditor.html"):
        html = out[name].decode()
        assert previous in html and "this is the first epoch" not in html


# --- auditor.html ----------------------------------------------------------------------------


def test_auditor_page_explains_every_file_and_check(assets_dir: Path) -> None:
    html = render(prefix=2, shards=256)["auditor.html"].decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert OPENSSL in html
    assert OPENSSL.replace("attestation.json", "manifest.json") in html
    assert hashlib.sha256(ATTESTATION_JSON).hexdigest() in html
    assert FINGERPRINT in html
    assert "sha256sum" in html and "RFC 8785" in html and "docs/protocol.md" in html
    assert "porsegregate/1" in html and "PSS1" in html
    cli = "porsegregate verify --site URL --account ID --expect-key FINGERPRINT"
    assert cli in html
    assert "--code " not in html  # a code on a command line is seen by every user (ps)
    assert "256 files" in text and "shard_prefix_hex_chars = 2" in text
    for f in (
        "attestation.json",
        "attestation.json.sig",
        "custodian.pub.pem",
        "manifest.json",
        "manifest.json.sig",
        "proofs/",
        "index.html",
        "verify.html",
        "auditor.html",
        "assets/style.css",
        "assets/porverify.js",
    ):
        assert f in text, f
    for field in (
        "format",
        "generator",
        "custodian.name",
        "custodian.legal_entity",
        "segregation.arrangement",
        "epoch.id",
        "epoch.snapshot_time",
        "padded_height",
        "previous_attestation_sha256",
        "liabilities.amount_bytes",
    ):
        assert f"<code>{field}</code>" in html, field
    one = render(prefix=0, shards=1)["auditor.html"].decode()
    assert "proofs/all.bin" in one and "(1 file)" in one


def test_bad_fingerprint_is_refused(assets_dir: Path) -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        render_site(attestation(), ATTESTATION_JSON, "not hex", 1, 1)


# --- the stylesheet ----------------------------------------------------------------------------


def test_stylesheet_covers_what_the_pages_and_verifier_use() -> None:
    css = (resource_dir("site") / "style.css").read_text(encoding="utf-8")
    assert "</style" not in css.lower() and "<!--" not in css
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert "prefers-color-scheme: dark" in css
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none !important;", css)
    assert re.search(r"\.arrangement\s*\{\s*white-space:\s*pre-line;", css)
    assert ":focus-visible" in css and "max-width: 60rem" in css
    for cls in ("pass", "fail", "pending", "coverage-bar", "chart-track", "chart-label", "hash"):
        assert f".{cls}" in css, cls
    for cls in ("pass", "fail", "pending"):
        assert re.search(rf"\.{cls}::before\s*\{{\s*content:", css), f"{cls} needs a symbol"
    assert "overflow-wrap: anywhere" in css
