#!/usr/bin/env python3
"""Re-extract the site's messages and update every language's catalogue.

    python3 scripts/extract-messages.py            # writes messages.pot, updates each .po
    python3 scripts/extract-messages.py --init xx  # also starts a new language xx

Sources: every template under templates/ (jinja2's extractor, with the i18n extension's
trimmed policy the site uses) and the `N_("...")` marks in src/porsegregate/publish/site.py.
New messages arrive in each .po with an empty translation: tests/test_i18n.py fails until
they are translated.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "src" / "porsegregate" / "locale"
POT = LOCALE / "messages.pot"
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}


def template_catalog() -> Catalog:
    catalog = Catalog(project="porsegregate", charset="utf-8", fuzzy=False)
    sources = [
        (ROOT / "templates", [("**.html", "jinja2.ext.babel_extract")], JINJA_OPTIONS),
        (ROOT / "src" / "porsegregate" / "publish", [("site.py", "python")], {}),
    ]
    for folder, method_map, options in sources:
        keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
        for filename, lineno, message, comments, _context in extract_from_dir(
            str(folder), method_map, options_map={"**": options}, keywords=keywords
        ):
            where = f"{folder.relative_to(ROOT)}/{filename}"
            catalog.add(message, None, [(where, lineno)], auto_comments=comments)
    return catalog


def dump(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=True)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", metavar="LANG", help="start a catalogue for a new language")
    args = parser.parse_args()
    template = template_catalog()
    POT.parent.mkdir(parents=True, exist_ok=True)
    POT.write_bytes(dump(template))
    print(f"{POT.relative_to(ROOT)}: {len(template)} messages")
    if args.init:
        path = LOCALE / args.init / "LC_MESSAGES" / "messages.po"
        if path.exists():
            print(f"{path} exists already", file=sys.stderr)
            return 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dump(Catalog(locale=args.init, project="porsegregate")))
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        po.write_bytes(dump(catalog))
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{po.relative_to(ROOT)}: {missing} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
