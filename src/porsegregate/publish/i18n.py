"""The site's languages: gettext catalogues for the pages, JSON catalogues for the verifier.

The `.po` files under `porsegregate/locale/<lang>/LC_MESSAGES/messages.po` are the source
of truth; they are compiled to `.mo` in memory when loaded, so no build step is needed.
English is the language of the templates themselves (its catalogue is the identity).
`scripts/extract-messages.py` re-extracts `messages.pot` and updates every `.po`.
"""

from __future__ import annotations

import gettext
import io
import json
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


def locale_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "locale"


def languages() -> tuple[str, ...]:
    """English and every language with a shipped catalogue, sorted."""
    found = {DEFAULT_LANGUAGE}
    folder = locale_dir()
    if folder.is_dir():
        found.update(
            p.name for p in folder.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
        )
    return tuple(sorted(found))


def check_language(language: object, where: str) -> str:
    """The language code, or a ConfigError naming the available ones."""
    available = languages()
    if not isinstance(language, str) or language not in available:
        raise ConfigError(
            f"{where}: language {language!r} is not available; choose one of {', '.join(available)}"
        )
    return language


@lru_cache(maxsize=8)
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language` (the identity for English)."""
    check_language(language, "site")
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = locale_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=language, domain=DOMAIN)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def verifier_messages(site_dir: Path, language: str) -> str:
    """The verifier's JSON catalogue of `language`, as compact JSON text."""
    path = site_dir / "messages" / f"{language}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: the verifier has no catalogue for {language!r}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the verifier's catalogue: {exc}") from exc
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
