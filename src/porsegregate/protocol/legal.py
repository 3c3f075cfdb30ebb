"""Legal segregation (docs/protocol.md section 7, `legal`; checks in section 12).

Who holds client assets, in what capacity, under which documents: the
attestation's optional `legal` member, its LEIs (ISO 17442, ISO 7064 MOD
97-10 check digits), the holder rule shared by the publisher and both
verifiers, each asset's holders and their shares, and the changes a
verifier reports from one epoch to the next. Pure functions only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date as _date
from typing import Any

from ..errors import FormatError
from .coverage import percent
from .hashing import text_problem
from .layout import DOCUMENT_FILE
from .models import (
    CLIENT_CATEGORIES,
    DOCUMENT_KINDS,
    OPERATING_COMPANY,
    ROLES,
    Document,
    Entity,
    Legal,
    Wallet,
)

MAX_ENTITIES = 100
MAX_DOCUMENTS = 100
MAX_NAME = 200
MAX_REGISTRATION = 100
LEI_LENGTH = 20
_JURISDICTION = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LEI_CHARS = re.compile(r"[0-9A-Z]{18}[0-9]{2}")


def _mod97(text: str) -> int:
    """ISO 7064 MOD 97-10: letters A=10 .. Z=35, the digits read as one decimal number."""
    return int("".join(str(int(ch, 36)) for ch in text)) % 97


def lei_check_digits(base: str) -> str:
    """The two check digits of an LEI's first 18 characters: 98 - (base + '00' mod 97)."""
    return f"{98 - _mod97(base + '00'):02d}"


def lei_problem(lei: str) -> str | None:
    """Why `lei` is not an ISO 17442 LEI, or None."""
    if len(lei) != LEI_LENGTH:
        return f"LEI {lei!r} must be exactly {LEI_LENGTH} characters (it has {len(lei)})"
    if not _LEI_CHARS.fullmatch(lei):
        return f"LEI {lei!r} must be 18 characters of 0-9 and A-Z (upper case) and 2 check digits"
    if _mod97(lei) != 1:
        return (
            f"LEI {lei!r}: the check digits {lei[18:]} are wrong (ISO 7064 MOD 97-10): "
            f"for {lei[:18]} they are {lei_check_digits(lei[:18])}"
        )
    return None


def jurisdiction_problem(text: str) -> str | None:
    if not _JURISDICTION.fullmatch(text):
        return (
            f"jurisdiction {text!r} must be an ISO 3166-1 alpha-2 code, optionally with a "
            "subdivision (GB, US-DE)"
        )
    return None


def date_problem(text: str) -> str | None:
    if _DATE.fullmatch(text):
        try:
            _date.fromisoformat(text)
            return None
        except ValueError:
            pass
    return f"date {text!r} must be a real calendar date YYYY-MM-DD"


def role_words(role: str) -> str:
    return role.replace("_", " ")


# -- serialization ------------------------------------------------------------------------------


def legal_to_dict(legal: Legal) -> dict[str, Any]:
    return {
        "entities": [
            {
                "name": e.name,
                "role": e.role,
                "jurisdiction": e.jurisdiction,
                "lei": e.lei,
                "registration": e.registration,
            }
            for e in sorted(legal.entities, key=lambda e: e.name)
        ],
        "documents": [
            {
                "title": d.title,
                "kind": d.kind,
                "date": d.date,
                "binds": sorted(d.binds),
                "sha256": d.sha256,
                "file": d.file,
            }
            for d in sorted(legal.documents, key=lambda d: (d.date, d.title))
        ],
    }


def _members(obj: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FormatError(f"{where} must be an object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise FormatError(f"{where}.{missing[0]} is missing")
    extra = sorted(set(obj) - set(keys))
    if extra:
        raise FormatError(f"{where} has unknown member(s) {', '.join(extra)}")
    return obj


def _text(obj: dict[str, Any], key: str, where: str, limit: int, nullable: bool = False) -> Any:
    value = obj[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise FormatError(f"{where}.{key} must be " + ("null or " if nullable else "") + "text")
    problem = text_problem(value, limit)
    if problem:
        raise FormatError(f"{where}.{key} {problem}")
    return value


def _one_of(obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    value = obj[key]
    if not isinstance(value, str) or value not in allowed:
        raise FormatError(f"{where}.{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _list(obj: dict[str, Any], key: str, where: str, low: int, high: int) -> list[Any]:
    value = obj[key]
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise FormatError(f"{where}.{key} must be a list of {low} to {high} items")
    return value


def parse_entity(item: Any, where: str) -> Entity:
    obj = _members(item, ("name", "role", "jurisdiction", "lei", "registration"), where)
    name = _text(obj, "name", where, MAX_NAME)
    role = _one_of(obj, "role", where, ROLES)
    jurisdiction = obj["jurisdiction"]
    if not isinstance(jurisdiction, str) or jurisdiction_problem(jurisdiction):
        raise FormatError(f"{where}.{jurisdiction_problem(str(jurisdiction))}")
    lei = obj["lei"]
    if lei is not None:
        problem = lei_problem(lei) if isinstance(lei, str) else "must be null or text"
        if problem:
            raise FormatError(f"{where}.lei: {problem}")
    registration = _text(obj, "registration", where, MAX_REGISTRATION, nullable=True)
    if lei is None and registration is None:
        raise FormatError(f"{where}: at least one of lei and registration must be set")
    return Entity(name, role, jurisdiction, lei, registration)


def parse_document(item: Any, where: str, names: set[str]) -> Document:
    obj = _members(item, ("title", "kind", "date", "binds", "sha256", "file"), where)
    title = _text(obj, "title", where, MAX_NAME)
    kind = _one_of(obj, "kind", where, DOCUMENT_KINDS)
    day = obj["date"]
    if not isinstance(day, str) or date_problem(day):
        raise FormatError(f"{where}.{date_problem(str(day))}")
    binds = _list(obj, "binds", where, 1, MAX_ENTITIES)
    for name in binds:
        if not isinstance(name, str) or name not in names:
            raise FormatError(f"{where}.binds: {name!r} is not a declared entity")
    if binds != sorted(set(binds)):
        raise FormatError(f"{where}.binds must be sorted without duplicates")
    sha = obj["sha256"]
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise FormatError(f"{where}.sha256 must be 64 lowercase hex digits")
    file = obj["file"]
    if file is not None:
        match = DOCUMENT_FILE.fullmatch(file) if isinstance(file, str) else None
        if match is None or match.group(1) != sha:
            raise FormatError(
                f"{where}.file must be null or documents/<sha256><ext> with this document's "
                "sha256 (ext: '' or '.' and 1-8 of a-z, 0-9)"
            )
    return Document(title, kind, day, tuple(binds), sha, file)


def parse_legal(doc: Any) -> Legal:
    """The attestation's `legal` member; FormatError names the member at fault."""
    obj = _members(doc, ("entities", "documents"), "legal")
    entities = tuple(
        parse_entity(item, f"legal.entities[{i}]")
        for i, item in enumerate(_list(obj, "entities", "legal", 1, MAX_ENTITIES))
    )
    names = [e.name for e in entities]
    if names != sorted(set(names)):
        raise FormatError("legal.entities must be sorted by name without duplicates")
    documents = tuple(
        parse_document(item, f"legal.documents[{i}]", set(names))
        for i, item in enumerate(_list(obj, "documents", "legal", 0, MAX_DOCUMENTS))
    )
    order = [(d.date, d.title) for d in documents]
    if order != sorted(order):
        raise FormatError("legal.documents must be sorted by date, then title")
    if len({d.sha256 for d in documents}) != len(documents):
        raise FormatError("legal.documents lists the same sha256 twice")
    return Legal(entities, documents)


# -- the holder rule (check legal-holders) ------------------------------------------------------


def holder_problem(legal: Legal, category: str, holder: str) -> str | None:
    """Why a wallet of `category` may not have `holder`, or None."""
    entity = legal.entity(holder)
    if entity is None:
        return f"its holder {holder!r} is not a declared entity"
    if category in CLIENT_CATEGORIES and entity.role == OPERATING_COMPANY:
        return (
            f"its holder {holder!r} is the custodian's operating company, which cannot be the "
            f"protective holder of client assets ({category})"
        )
    return None


def wallet_holder_problems(legal: Legal, wallets: Iterable[Wallet]) -> list[str]:
    """Every wallet whose holder breaks the rule, named by chain, address and category."""
    problems = []
    for w in wallets:
        problem = holder_problem(legal, w.category, w.holder)
        if problem:
            problems.append(f"{w.chain} {w.address} ({w.category}): {problem}")
    return problems


# -- each asset's holders -----------------------------------------------------------------------


def client_holders(wallets: Iterable[Wallet], asset: str) -> dict[str, int]:
    """{holder: amount} of the asset in client_segregated and client_dedicated wallets, for
    every such wallet that lists the asset (an amount may be 0)."""
    held: dict[str, int] = {}
    for w in wallets:
        if w.category in CLIENT_CATEGORIES and any(h.asset == asset for h in w.holdings):
            held[w.holder] = held.get(w.holder, 0) + w.amount(asset)
    return held


def holder_shares(wallets: Sequence[Wallet], asset: str) -> list[tuple[str, int, str | None]]:
    """[(holder, amount, percent of the asset's segregated reserves)], sorted by holder; the
    percent is rounded down to two decimals (None when nothing is held)."""
    held = client_holders(wallets, asset)
    total = sum(held.values())
    return [(name, amount, percent(amount, total)) for name, amount in sorted(held.items())]


# -- changes from one epoch to the next (warnings) ----------------------------------------------


def _named(legal: Legal | None, name: str) -> str:
    entity = legal.entity(name) if legal is not None else None
    return name if entity is None else f"{name} ({role_words(entity.role)})"


def _holders_text(legal: Legal | None, names: set[str]) -> str:
    return ", ".join(_named(legal, n) for n in sorted(names)) or "none"


def _id(value: str | None) -> str:
    return "none" if value is None else value


def legal_changes(
    previous: Legal | None,
    previous_wallets: Sequence[Wallet],
    current: Legal | None,
    current_wallets: Sequence[Wallet],
    assets: Sequence[str],
    yours: bool = True,
) -> list[str]:
    """What changed in the legal arrangement since the previous epoch's attestation, as the
    warnings a verifier shows (docs/protocol.md section 12), for the client's `assets`;
    `yours=False` for the history page ("the trustee of BTC", every asset)."""
    changes: list[str] = []
    before = {e.name: e for e in (previous.entities if previous else ())}
    after = {e.name: e for e in (current.entities if current else ())}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            changes.append(
                f"entity added since the previous epoch: {name} ({role_words(new.role)}, "
                f"{new.jurisdiction})"
            )
        elif new is None and old is not None:
            changes.append(
                f"entity removed since the previous epoch: {name} ({role_words(old.role)})"
            )
        elif old is not None and new is not None and old != new:
            parts = [
                f"{what} {_id(a)} -> {_id(b)}"
                for what, a, b in (
                    ("role", role_words(old.role), role_words(new.role)),
                    ("jurisdiction", old.jurisdiction, new.jurisdiction),
                    ("LEI", old.lei, new.lei),
                    ("registration", old.registration, new.registration),
                )
                if a != b
            ]
            changes.append(f"entity {name} changed since the previous epoch: {'; '.join(parts)}")
    old_docs = {d.sha256: d for d in (previous.documents if previous else ())}
    new_docs = {d.sha256: d for d in (current.documents if current else ())}
    gone = [d for sha, d in old_docs.items() if sha not in new_docs]
    for d in sorted(new_docs.values(), key=lambda d: (d.date, d.title)):
        if d.sha256 in old_docs:
            continue
        replaced = next((o for o in gone if (o.kind, o.title) == (d.kind, d.title)), None)
        if replaced is not None:
            gone.remove(replaced)
            changes.append(
                f"document replaced since the previous epoch: {d.title} "
                f"({role_words(d.kind)}): sha256 {replaced.sha256} -> {d.sha256}"
            )
        else:
            changes.append(
                f"document added since the previous epoch: {d.title} ({role_words(d.kind)}, "
                f"{d.date}, sha256 {d.sha256})"
            )
    for d in sorted(gone, key=lambda d: (d.date, d.title)):
        changes.append(
            f"document removed since the previous epoch: {d.title} ({role_words(d.kind)}, {d.date})"
        )
    for asset in assets:
        old_set = set(client_holders(previous_wallets, asset))
        new_set = set(client_holders(current_wallets, asset))
        if old_set == new_set and all(_named(previous, n) == _named(current, n) for n in new_set):
            continue
        shown, legal = (new_set, current) if new_set else (old_set, previous)
        entity = legal.entity(next(iter(shown))) if legal is not None and len(shown) == 1 else None
        word = role_words(entity.role) if entity is not None else "holders"
        changes.append(
            f"the {word} of {'your ' if yours else ''}{asset} changed since the previous epoch: "
            f"{_holders_text(previous, old_set)} -> {_holders_text(current, new_set)}"
        )
    return changes
