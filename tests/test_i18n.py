"""The site's languages: every catalogue is complete, and a German site has no English left.

A message added to a template (or marked with N_ in publish/site.py) without a translation
in every shipped .po fails here, and so does a stale .pot: run scripts/extract-messages.py.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from porsegregate.errors import ConfigError
from porsegregate.publish.config import load_config
from porsegregate.publish.demo import run_demo
from porsegregate.publish.i18n import languages, locale_dir, translations

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
SHIPPED = [lang for lang in languages() if lang != "en"]


def _extract_script() -> Any:
    spec = importlib.util.spec_from_file_location("extract", ROOT / "scripts/extract-messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _po(language: str) -> Catalog:
    with (locale_dir() / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def _ids(catalog: Catalog) -> set[Any]:
    return {m.id for m in catalog if m.id}


def test_german_ships() -> None:
    assert "de" in SHIPPED and "en" in languages()


def test_pot_is_up_to_date_with_the_templates() -> None:
    with (locale_dir() / "messages.pot").open("rb") as f:
        pot = read_po(f)
    fresh = _extract_script().template_catalog()
    assert _ids(fresh) == _ids(pot), "run scripts/extract-messages.py"


def _problems(catalog: Catalog, fresh: set[Any]) -> list[str]:
    """Messages untranslated, fuzzy, missing from the catalogue, or stale in it."""
    problems = [
        f"untranslated: {m.id}"
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)) or m.fuzzy)
    ]
    problems += [f"missing: {i}" for i in sorted(map(str, fresh - _ids(catalog)))]
    problems += [f"stale: {i}" for i in sorted(map(str, _ids(catalog) - fresh))]
    return problems


@pytest.mark.parametrize("language", SHIPPED)
def test_every_message_is_translated(language: str) -> None:
    fresh = _ids(_extract_script().template_catalog())
    problems = _problems(_po(language), fresh)
    assert not problems, f"{language}: {problems[:10]} (run scripts/extract-messages.py)"


def test_a_missing_or_stale_message_is_caught() -> None:
    """The check above is not vacuous: each kind of gap is reported."""
    fresh = _ids(_extract_script().template_catalog())
    catalog = _po("de")
    first = next(m for m in catalog if m.id and isinstance(m.id, str))
    first.string = ""
    assert _problems(catalog, fresh) == [f"untranslated: {first.id}"]
    catalog = _po("de")
    assert _problems(catalog, fresh | {"A new sentence"}) == ["missing: A new sentence"]
    catalog.add("An old sentence", "Ein alter Satz")
    assert _problems(catalog, fresh) == ["stale: An old sentence"]


@pytest.mark.parametrize("language", SHIPPED)
def test_placeholders_match(language: str) -> None:
    for m in _po(language):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = sorted(PLACEHOLDER.findall(ids[-1]))
        for s in strings:
            assert sorted(PLACEHOLDER.findall(s)) == want, (language, m.id, s)


def _write_config_with(tmp_path: Path, site: str) -> Path:
    config = tmp_path / "porsegregate.toml"
    config.write_text(
        '[custodian]\nname = "C"\nlegal_entity = "C Ltd"\n'
        '[segregation]\narrangement = "held apart"\n'
        '[[assets]]\ncode = "BTC"\ndecimals = 8\n' + site,
        encoding="utf-8",
    )
    return config


def test_config_chooses_the_language(tmp_path: Path) -> None:
    assert load_config(_write_config_with(tmp_path, "")).language == "en"
    assert load_config(_write_config_with(tmp_path, '[site]\nlanguage = "de"\n')).language == "de"
    with pytest.raises(ConfigError, match=r"language 'xx' is not available; choose one of de, en"):
        load_config(_write_config_with(tmp_path, '[site]\nlanguage = "xx"\n'))
    with pytest.raises(ConfigError, match=r"\[site\] has unknown key\(s\) lang"):
        load_config(_write_config_with(tmp_path, '[site]\nlang = "de"\n'))


def _text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<pre>.*?</pre>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _english_phrases() -> list[str]:
    """Every message of 4 words or more, with its placeholders, markup and code cut out."""
    phrases = []
    for m in _po("de"):
        for mid in m.id if isinstance(m.id, tuple) else (m.id,):
            if not mid:
                continue
            prose = re.sub(r"<(code|samp)\b[^>]*>.*?</\1>", "|", mid.replace("%%", "%"))
            for part in re.split(r"%\(\w+\)s|<[^>]+>|\|", prose):
                part = " ".join(part.split()).strip(" .,:;()")
                if len(part.split()) >= 4:
                    phrases.append(part)
    return phrases


@pytest.fixture(scope="module")
def german_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-de")
    run_demo(out, clients=40, seed=3, epochs=2, language="de")
    return out / "site"


def test_german_site_has_no_english_left(german_site: Path) -> None:
    phrases = _english_phrases()
    assert len(phrases) > 100
    pages = sorted(german_site.glob("*.html")) + sorted(german_site.glob("epochs/*/*.html"))
    assert len(pages) >= 8
    for page in pages:
        raw = page.read_text(encoding="utf-8")
        assert '<html lang="de">' in raw, page
        text = _text(raw)
        left = [p for p in phrases if p in text]
        assert not left, f"{page}: English left: {left[:5]}"
        assert "Epoche" in text and "Prüfer" in text


def test_english_is_the_default_and_identity() -> None:
    assert translations("en").gettext("Overview") == "Overview"
    assert translations("de").gettext("Overview") == "Übersicht"


# -- the browser verifier's JSON catalogues -------------------------------------------------------

SITE = ROOT / "site"
JS_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_STR = r'"(?:[^"\\]|\\.)*"'
_T_CALL = re.compile(
    r"\b(?:t|tPlural)\(\s*(?:[\w.]+,\s*)?((?:"
    + _STR
    + r"\s*\+?\s*)+)(?:,\s*((?:"
    + _STR
    + r"\s*\+?\s*)+))?"
)


def _catalogue(language: str) -> dict[str, str]:
    data = json.loads((SITE / "messages" / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _js_keys() -> set[str]:
    """Every message the PAGE part of porverify.js asks t() or tPlural() for."""
    source = (SITE / "porverify.js").read_text(encoding="utf-8")
    page = source[source.index("// PAGE\n") :]
    found = set()
    for m in _T_CALL.finditer(page):
        for group in m.groups():
            if group:
                found.add("".join(json.loads(x) for x in re.findall(_STR, group)))
    return found


def test_verifier_catalogues_match_each_other() -> None:
    english = _catalogue("en")
    assert english and all(k == v for k, v in english.items()), "en.json maps each text to itself"
    for language in SHIPPED:
        other = _catalogue(language)
        assert set(other) == set(english), (language, set(other) ^ set(english))
        for key, text in other.items():
            assert text.strip(), (language, key)
            assert sorted(JS_PLACEHOLDER.findall(text)) == sorted(JS_PLACEHOLDER.findall(key)), (
                language,
                key,
            )


def test_every_verifier_message_is_in_the_catalogue() -> None:
    keys = _js_keys()
    assert len(keys) > 50
    english = _catalogue("en")
    assert keys - set(english) == set(), "add them to site/messages/*.json"
    assert set(english) - keys == set(), "stale messages in site/messages/en.json"


def test_verify_page_embeds_the_catalogue(german_site: Path) -> None:
    page = (german_site / "verify.html").read_text(encoding="utf-8")
    m = re.search(
        r'<script type="application/json" id="porverify-messages">(.*?)</script>', page, re.S
    )
    assert m is not None
    assert json.loads(m.group(1)) == _catalogue("de")
    assert "<" not in m.group(1)
    assert 'id="porverify-messages"' in (german_site / "reserves.html").read_text("utf-8")
