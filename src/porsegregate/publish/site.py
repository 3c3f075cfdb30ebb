"""The human side of a published site: three pages, the stylesheet and the browser verifier.

`render_site` turns a signed attestation into `index.html` (the overview),
`auditor.html` (every published file explained) and `verify.html` (the
client's check). `verify.html` is self-contained -- the stylesheet and the
verifier are inlined and allowed by their SHA-256 in the page's own
Content-Security-Policy -- so a client can save that one file and verify a
downloaded proof offline. Output is a pure function of the inputs.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from markupsafe import Markup

from .. import _crypto
from ..errors import ConfigError
from ..protocol import layout
from ..protocol.amounts import format_decimal
from ..protocol.bundle import shard_bits
from ..protocol.coverage import percent
from ..protocol.hashing import LABEL
from ..protocol.legal import holder_shares, legal_changes, role_words
from ..protocol.models import Attestation
from ..protocol.serialization import liabilities_sha256
from .history import HistoryPoint
from .i18n import DEFAULT_LANGUAGE, check_language, translations, verifier_messages

__all__ = [
    "INFO_CSP",
    "OPENSSL_VERIFY",
    "OPENSSL_VERIFY_MANIFEST",
    "csp_hash",
    "render_site",
    "resource_dir",
]

OPENSSL_VERIFY = (
    "openssl pkeyutl -verify -pubin -inkey custodian.pub.pem -rawin "
    "-in attestation.json -sigfile attestation.json.sig"
)
OPENSSL_VERIFY_MANIFEST = (
    "openssl pkeyutl -verify -pubin -inkey custodian.pub.pem -rawin "
    "-in manifest.json -sigfile manifest.json.sig"
)
INFO_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)
_VERIFY_CSP = (
    "default-src 'none'; script-src '{script}'; style-src '{style}'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
STYLE = "style.css"
SCRIPT = "porverify.js"
# The audited secp256k1 and Keccak code (@noble/curves, @noble/hashes) the verifier uses for
# EIP-191, BIP-137 and BIP-322 signatures, built by scripts/build-vendor.mjs; inlined first.
VENDOR = "vendor/noble.js"

# What would end (or change the parsing of) an inline <script>/<style> element early, and
# the NUL the HTML parser would replace (breaking the CSP hash).
_SCRIPT_FORBIDDEN = re.compile(r"</script|<!--|\x00", re.IGNORECASE)
_STYLE_FORBIDDEN = re.compile(r"</style|<!--|\x00", re.IGNORECASE)
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")

# The charts are drawn at 1 SVG unit = 1 CSS pixel and narrow enough (CHART_WIDTH) to fit a
# 360 px wide phone without scaling their text below 12 px. Amounts stay integers: pixel
# positions are integer divisions, every number written on a chart is formatted exactly.
CHART_WIDTH = 320
# The coverage chart: one row per asset, a label line above a bar, 100 % marked across.
CHART_ROW = 44
CHART_LABEL_Y = 16
CHART_BAR_Y = 23
CHART_BAR_HEIGHT = 14
CHART_AXIS = 22  # below the rows: the 0 %, 100 % and top-of-scale labels


def resource_dir(name: str) -> Path:
    """The folder `templates` or `site`: inside the installed package, else in the checkout."""
    package = Path(__file__).resolve().parents[1]
    candidates = (package / name, package.parents[1] / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = " and ".join(str(c) for c in candidates)
    raise ConfigError(
        f"porsegregate's {name!r} folder is missing (looked in {tried}); reinstall porsegregate "
        "(pip install porsegregate) or run it from a complete source checkout"
    )


@lru_cache(maxsize=8)
def _environment(templates: str, language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(["html", "htm", "xml"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def N_(message: str) -> str:
    """Marks a message for extraction; the template translates it when shown."""
    return message


def csp_hash(text: str) -> str:
    """The CSP source expression allowing an inline element whose text content is `text`."""
    digest = _crypto.sha256(text.encode("utf-8"))
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _read(directory: Path, name: str) -> bytes:
    path = directory / name
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}; reinstall porsegregate or restore "
            "the file from the source checkout"
        ) from exc


def _inline(data: bytes, path: Path, forbidden: re.Pattern[str], tag: str) -> Markup:
    """Text safe to place verbatim between <tag> and </tag>, byte-identical to what is hashed.

    Line endings are normalised to LF because the HTML parser does so before the
    browser hashes the element's content for the Content-Security-Policy.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = forbidden.search(text)
    if found is not None:
        raise ConfigError(
            f"{path} contains {found.group(0)!r}, which cannot appear inside an inline "
            f"<{tag}> element of verify.html; remove it (e.g. write '<\\/{tag}' in a string)"
        )
    return Markup(text)  # noqa: S704 - checked above; inlined verbatim, exactly as hashed


def _csp_markup(policy: str) -> Markup:
    if any(c in policy for c in '"<>&'):
        raise ValueError(f"unexpected character in Content-Security-Policy {policy!r}")
    return Markup(policy)  # noqa: S704 - checked above


@dataclass(frozen=True)
class AssetRow:
    code: str
    decimals: int
    display: str
    units: str
    padded_height: int
    capacity: str
    root: str


def group_hex(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def _asset_rows(attestation: Attestation) -> list[AssetRow]:
    rows = []
    for asset in attestation.assets:
        rows.append(
            AssetRow(
                code=asset.code,
                decimals=asset.decimals,
                display=format_decimal(asset.total, asset.decimals),
                units=str(asset.total),
                padded_height=asset.padded_height,
                capacity=f"{1 << asset.padded_height:,}",
                root=asset.root.hex(),
            )
        )
    return rows


# The coverage chart: one row per asset; the bar spans 0-200 %, with a mark at 100 %.
COVERAGE_SCALE_PERCENT = 200
CATEGORY_TITLES = {
    "client_segregated": N_("Client-segregated wallets (omnibus, client assets only)"),
    "client_dedicated": N_("Client-dedicated wallets (each held for one client)"),
    "proprietary": N_("The custodian's own wallets (never counted for clients)"),
    "third_party": N_("Held at third-party custodians (counted only in the third-party figure)"),
}
# Roles of entities and kinds of documents, as shown on the pages.
ROLE_WORDS = {
    "custodian": N_("custodian"),
    "trustee": N_("trustee"),
    "bankruptcy_remote_vehicle": N_("bankruptcy remote vehicle"),
    "sub_custodian": N_("sub custodian"),
    "operating_company": N_("operating company"),
    "nominee": N_("nominee"),
    "other": N_("other"),
    "trust_deed": N_("trust deed"),
    "custody_agreement": N_("custody agreement"),
    "legal_opinion": N_("legal opinion"),
    "sub_custody_agreement": N_("sub custody agreement"),
}


def _words(key: str, gettext: Callable[[str], str]) -> str:
    return gettext(ROLE_WORDS[key]) if key in ROLE_WORDS else role_words(key)


PROOF_TITLES = {
    "eip191": N_("EIP-191 signature"),
    "bip137": N_("Bitcoin signed message (BIP-137)"),
    "bip322": N_("BIP-322 signature"),
    "ed25519": N_("Ed25519 signature"),
    "none": N_("Unproven: no key signature"),
}


@dataclass(frozen=True)
class CoverageRow:
    code: str
    liabilities: str
    segregated: str
    client_segregated: str
    dedicated_counted: str
    third_party: str
    proprietary: str
    percent: str | None
    including_third_party_percent: str | None
    covered: bool
    dedicated_shortfalls: int
    short_by: str
    bar_width: int
    mark_x: int
    label_y: int
    bar_y: int


@dataclass(frozen=True)
class WalletRow:
    chain: str
    address: str
    address_url: str | None
    label: str
    holdings: list[tuple[str, str, str]]  # (asset, amount shown, source)
    proof: str
    proven: bool
    evidence: str | None
    client_tag: str | None


@dataclass(frozen=True)
class ChainRow:
    id: str
    kind: str
    network: str
    height: int
    block_hash: str
    block_url: str | None
    assets: list[tuple[str, str | None]]
    # Holdings of the chain whose balance the custodian's node read, and those only declared.
    read: int = 0
    declared: int = 0


def _fill(template: str | None, placeholder: str, value: str) -> str | None:
    """An explorer link; templates are https:// only (checked on input), values URL-quoted."""
    if template is None or not template.startswith("https://"):
        return None
    return template.replace("{" + placeholder + "}", urllib.parse.quote(value, safe=""))


def _coverage_rows(attestation: Attestation) -> list[CoverageRow]:
    decimals = {a.code: a.decimals for a in attestation.assets}
    rows = []
    for i, c in enumerate(attestation.reserves.coverage):
        d = decimals[c.asset]
        ratio = percent(c.segregated, c.liabilities)
        scaled = (
            CHART_WIDTH
            if c.liabilities == 0
            else min(
                CHART_WIDTH,
                c.segregated * 100 * CHART_WIDTH // (c.liabilities * COVERAGE_SCALE_PERCENT),
            )
        )
        top = i * CHART_ROW
        rows.append(
            CoverageRow(
                code=c.asset,
                liabilities=format_decimal(c.liabilities, d),
                segregated=format_decimal(c.segregated, d),
                client_segregated=format_decimal(c.client_segregated, d),
                dedicated_counted=format_decimal(c.client_dedicated_counted, d),
                third_party=format_decimal(c.third_party, d),
                proprietary=format_decimal(c.proprietary, d),
                percent=ratio,
                including_third_party_percent=percent(c.segregated + c.third_party, c.liabilities),
                covered=c.covered,
                dedicated_shortfalls=c.dedicated_shortfalls,
                short_by=format_decimal(max(c.liabilities - c.segregated, 0), d),
                bar_width=scaled,
                mark_x=CHART_WIDTH * 100 // COVERAGE_SCALE_PERCENT,
                label_y=top + CHART_LABEL_Y,
                bar_y=top + CHART_BAR_Y,
            )
        )
    return rows


def _wallet_groups(
    attestation: Attestation,
) -> list[tuple[str, str, list[tuple[str, list[WalletRow]]]]]:
    """[(category, title, [(holder, [wallets])])] in the attestation's order."""
    reserves = attestation.reserves
    decimals = {a.code: a.decimals for a in attestation.assets}
    groups: list[tuple[str, str, list[tuple[str, list[WalletRow]]]]] = []
    for category, title in CATEGORY_TITLES.items():
        holders: dict[str, list[WalletRow]] = {}
        for w in reserves.wallets:
            if w.category != category:
                continue
            chain = reserves.chain(w.chain)
            holders.setdefault(w.holder, []).append(
                WalletRow(
                    chain=w.chain,
                    address=w.address,
                    address_url=_fill(
                        chain.explorer_address if chain else None, "address", w.address
                    ),
                    label=w.label,
                    holdings=[
                        (h.asset, format_decimal(h.amount, decimals[h.asset]), h.source)
                        for h in w.holdings
                    ],
                    proof=PROOF_TITLES.get(w.proof.type, w.proof.type),
                    proven=w.proof.proven,
                    evidence=w.proof.evidence,
                    client_tag=w.client_tag.hex() if w.client_tag else None,
                )
            )
        if holders:
            groups.append((category, title, list(holders.items())))
    return groups


@dataclass(frozen=True)
class EntityRow:
    name: str
    role: str
    jurisdiction: str
    lei: str | None
    registration: str | None


@dataclass(frozen=True)
class DocumentRow:
    title: str
    kind: str
    date: str
    binds: tuple[str, ...]
    sha256: str
    file: str | None  # the published copy's path, relative to the page; None: hash only


@dataclass(frozen=True)
class HolderShare:
    name: str
    role: str | None
    amount: str
    percent: str | None


def _legal(
    attestation: Attestation,
    gettext: Callable[[str], str] = str,
) -> tuple[list[EntityRow], list[DocumentRow], list[tuple[str, list[HolderShare]]]]:
    """Who holds client assets: the entities, the documents, and for each asset the holders
    of its client_segregated and client_dedicated wallets with their share (rounded down)."""
    legal = attestation.legal
    if legal is None:
        return [], [], []
    entities = [
        EntityRow(e.name, _words(e.role, gettext), e.jurisdiction, e.lei, e.registration)
        for e in legal.entities
    ]
    documents = [
        DocumentRow(d.title, _words(d.kind, gettext), d.date, d.binds, d.sha256, d.file)
        for d in legal.documents
    ]
    holders = []
    for asset in attestation.assets:
        shares = holder_shares(attestation.reserves.wallets, asset.code)
        if shares:
            holders.append(
                (
                    asset.code,
                    [
                        HolderShare(
                            name,
                            _words(entity.role, gettext)
                            if (entity := legal.entity(name)) is not None
                            else None,
                            format_decimal(amount, asset.decimals),
                            share,
                        )
                        for name, amount, share in shares
                    ],
                )
            )
    return entities, documents, holders


def _chain_rows(attestation: Attestation) -> list[ChainRow]:
    return [
        ChainRow(
            id=c.id,
            kind=c.kind,
            network=c.network,
            height=c.block_height,
            block_hash=c.block_hash,
            block_url=_fill(c.explorer_block, "block", str(c.block_height)),
            assets=[(a.code, a.contract) for a in c.assets],
            read=sum(
                h.source == "chain"
                for w in attestation.reserves.wallets
                if w.chain == c.id
                for h in w.holdings
            ),
            declared=sum(
                h.source != "chain"
                for w in attestation.reserves.wallets
                if w.chain == c.id
                for h in w.holdings
            ),
        )
        for c in attestation.reserves.chains
    ]


@dataclass(frozen=True)
class HistoryRow:
    epoch: str
    snapshot_time: str
    next_due: str | None
    href: str
    attestation_sha256: str
    latest: bool
    shortfall: bool
    log_index: int
    # What changed in the legal arrangement since the epoch before (None for the first).
    legal_changes: list[str] | None = None


def _history_rows(points: Sequence[HistoryPoint], root_prefix: str) -> list[HistoryRow]:
    """Newest first, each linking to its epoch's home; `root_prefix` leads from this page to
    the site's root ("" at the root, "../../" in epochs/<id>/)."""
    return [
        HistoryRow(
            epoch=p.epoch,
            snapshot_time=p.attestation.snapshot_time,
            next_due=p.attestation.next_due,
            href=f"{root_prefix}epochs/{p.epoch}/index.html",
            attestation_sha256=p.attestation_sha256,
            latest=p.latest,
            shortfall=p.attestation.reserves.shortfall,
            log_index=p.index,
            legal_changes=None if i == 0 else _epoch_changes(points[i - 1].attestation, p),
        )
        for i, p in reversed(list(enumerate(points)))
    ]


def _epoch_changes(previous: Attestation, point: HistoryPoint) -> list[str]:
    a = point.attestation
    if previous.legal is None and a.legal is None:
        return []
    codes = [x.code for x in a.assets]
    return legal_changes(
        previous.legal, previous.reserves.wallets, a.legal, a.reserves.wallets, codes, False
    )


# History charts: one small chart per asset (side by side on a wide screen, stacked on a
# phone): client liabilities and segregated reserves over the epochs, in the asset's units.
HISTORY_TITLE_Y = 16
HISTORY_PLOT_TOP = 40
HISTORY_PLOT_HEIGHT = 110
HISTORY_EPOCH_Y = HISTORY_PLOT_TOP + HISTORY_PLOT_HEIGHT + 18
HISTORY_HEIGHT = HISTORY_EPOCH_Y + 8
HISTORY_LEFT = 6
HISTORY_RIGHT = 6
HISTORY_MAX_EPOCH_LABELS = 5


@dataclass(frozen=True)
class SeriesPoint:
    x: int
    y: int
    epoch: str
    label: str


@dataclass(frozen=True)
class Series:
    kind: str  # "liabilities" or "reserves"
    points: list[SeriesPoint]
    polyline: str


@dataclass(frozen=True)
class AxisTick:
    y: int
    label: str


@dataclass(frozen=True)
class EpochTick:
    x: int
    label: str
    anchor: str  # text-anchor: the first label starts at the left, the last ends at the right


@dataclass(frozen=True)
class HistoryPanel:
    code: str
    latest: str
    series: list[Series]
    ticks: list[AxisTick]
    epochs: list[EpochTick]
    baseline_y: int
    summary: str
    values: list[tuple[str, str, str]]  # (epoch, owed, reserves), each with its unit or "—"


def nice_ceiling(value: int) -> int:
    """The least of 1, 2, 2.5 or 5 times a power of ten that is >= value (1 for 0); integers."""
    if value < 0:
        raise ValueError("negative value")
    if value <= 1:
        return 1
    power: int = 10 ** (len(str(value)) - 1)
    for numerator, denominator in ((1, 1), (2, 1), (5, 2), (5, 1), (10, 1)):
        candidate: int = power * numerator // denominator
        if candidate >= value and candidate * denominator == power * numerator:
            return candidate
    return 10 * power  # unreachable: 10 * power > value


def _x_positions(count: int) -> list[int]:
    span = CHART_WIDTH - HISTORY_LEFT - HISTORY_RIGHT
    if count == 1:
        return [HISTORY_LEFT + span // 2]
    return [HISTORY_LEFT + span * i // (count - 1) for i in range(count)]


def _epoch_ticks(epochs: list[str], xs: list[int]) -> list[EpochTick]:
    """Every epoch's label, or every k-th (always the first and last) when there are many."""
    count = len(epochs)
    step = max(1, -(-(count - 1) // (HISTORY_MAX_EPOCH_LABELS - 1))) if count > 1 else 1
    shown = set(range(0, count, step)) | {count - 1}
    if count > 1 and (count - 1) % step and (count - 1) - ((count - 1) // step) * step < step:
        shown.discard(((count - 1) // step) * step)  # too close to the last label
    ticks = []
    for i in sorted(shown):
        anchor = "middle"
        if count > 1 and i == 0:
            anchor = "start"
        elif count > 1 and i == count - 1:
            anchor = "end"
        x = xs[i] if anchor == "middle" else (HISTORY_LEFT if i == 0 else xs[i])
        ticks.append(EpochTick(x, epochs[i], anchor))
    return ticks


def _history_panel(
    code: str,
    decimals: int,
    epochs: list[str],
    series: dict[str, list[int | None]],
    gettext: Callable[[str], str] = str,
) -> HistoryPanel:
    xs = _x_positions(len(epochs))
    top = nice_ceiling(max((v for vs in series.values() for v in vs if v is not None), default=0))
    bottom = HISTORY_PLOT_TOP + HISTORY_PLOT_HEIGHT

    def y_of(value: int) -> int:
        return bottom - min(value, top) * HISTORY_PLOT_HEIGHT // top

    drawn = []
    for kind, amounts in series.items():
        points = [
            SeriesPoint(x, y_of(v), e, f"{format_decimal(v, decimals)} {code}")
            for x, e, v in zip(xs, epochs, amounts, strict=True)
            if v is not None
        ]
        drawn.append(Series(kind, points, " ".join(f"{p.x},{p.y}" for p in points)))
    levels = [0, top // 2, top] if top % 2 == 0 and top >= 2 else [0, top]
    ticks = [AxisTick(y_of(v), f"{format_decimal(v, decimals)} {code}") for v in levels]

    def shown(value: int | None) -> str:
        return "—" if value is None else f"{format_decimal(value, decimals)} {code}"

    values = [
        (e, shown(o), shown(r))
        for e, o, r in zip(epochs, series["liabilities"], series["reserves"], strict=True)
    ]
    latest = gettext("%(epoch)s: owed %(owed)s; segregated reserves %(held)s") % {
        "epoch": values[-1][0],
        "owed": values[-1][1],
        "held": values[-1][2],
    }
    summary = "; ".join(
        gettext("%(epoch)s: owed %(owed)s, reserves %(held)s") % {"epoch": e, "owed": o, "held": r}
        for e, o, r in values
    )
    return HistoryPanel(
        code=code,
        latest=latest,
        series=drawn,
        ticks=ticks,
        epochs=_epoch_ticks(epochs, xs),
        baseline_y=bottom,
        summary=summary,
        values=values,
    )


def _history_panels(
    points: Sequence[HistoryPoint], gettext: Callable[[str], str] = str
) -> list[HistoryPanel]:
    """Per asset: client liabilities and segregated reserves over the published epochs."""
    codes = sorted({a.code for p in points for a in p.attestation.assets})
    epochs = [p.epoch for p in points]
    panels = []
    for code in codes:
        owed: list[int | None] = []
        held: list[int | None] = []
        decimals = 0
        for p in points:
            asset = p.attestation.asset(code)
            row = p.attestation.reserves.asset_coverage(code)
            owed.append(None if asset is None else asset.total)
            held.append(None if row is None else row.segregated)
            if asset is not None:
                decimals = asset.decimals
        panels.append(
            _history_panel(code, decimals, epochs, {"liabilities": owed, "reserves": held}, gettext)
        )
    return panels


def render_site(
    attestation: Attestation,
    attestation_json: bytes,
    fingerprint: str,
    shard_prefix_chars: int,
    shard_count: int,
    history: Sequence[HistoryPoint] = (),
    root_prefix: str = "",
    language: str = DEFAULT_LANGUAGE,
    entries: int | None = None,
) -> dict[str, bytes]:
    """Every non-proof file of the site's user interface: relative path -> bytes. `entries`
    is what the shards hold in a porsegregate/2 epoch (dummies included)."""
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise ValueError("fingerprint must be 64 lowercase hex digits (SHA-256 of the raw key)")
    templates = resource_dir("templates")
    assets = resource_dir("site")
    style_bytes = _read(assets, STYLE)
    script_bytes = _read(assets, SCRIPT)
    vendor_bytes = _read(assets, VENDOR)
    inline_style = _inline(style_bytes, assets / STYLE, _STYLE_FORBIDDEN, "style")
    # One inline module: the vendored bundle (a classic script defining globalThis.porNoble),
    # then the verifier; one CSP hash covers both, and a saved page needs nothing else.
    inline_script = Markup(  # noqa: S704 - both parts checked by _inline
        _inline(vendor_bytes, assets / VENDOR, _SCRIPT_FORBIDDEN, "script")
        + Markup("\n")
        + _inline(script_bytes, assets / SCRIPT, _SCRIPT_FORBIDDEN, "script")
    )
    verify_csp = _VERIFY_CSP.format(script=csp_hash(inline_script), style=csp_hash(inline_style))
    # Our own constants and base64 digests: nothing to escape, so the meta tag reads as sent.
    info_csp, verify_csp_markup = _csp_markup(INFO_CSP), _csp_markup(verify_csp)

    rows = _asset_rows(attestation)
    coverage = _coverage_rows(attestation)
    gettext = translations(check_language(language, "[site] language")).gettext
    legal_entities, legal_documents, legal_holders = _legal(attestation, gettext)
    history_panels = _history_panels(history, gettext)
    context: dict[str, object] = {
        "coverage": coverage,
        "coverage_chart_height": max(1, len(coverage)) * CHART_ROW + CHART_AXIS,
        "coverage_axis_y": max(1, len(coverage)) * CHART_ROW + CHART_AXIS - 6,
        "coverage_rows_height": max(1, len(coverage)) * CHART_ROW,
        "coverage_mark_x": CHART_WIDTH * 100 // COVERAGE_SCALE_PERCENT,
        "coverage_scale": COVERAGE_SCALE_PERCENT,
        "shortfall": attestation.reserves.shortfall,
        "short_assets": [c for c in coverage if not c.covered],
        "wallet_groups": _wallet_groups(attestation),
        "legal_entities": legal_entities,
        "legal_documents": legal_documents,
        "legal_holders": legal_holders,
        "chains": _chain_rows(attestation),
        "wallet_count": len(attestation.reserves.wallets),
        "history": _history_rows(history, root_prefix),
        "history_panels": history_panels,
        "history_height": HISTORY_HEIGHT,
        "history_title_y": HISTORY_TITLE_Y,
        "history_epoch_y": HISTORY_EPOCH_Y,
        "history_labels": [p.epoch for p in history],
        "next_due": attestation.next_due,
        "liabilities_sha256": liabilities_sha256(attestation.assets),
        "protocol": attestation.format,
        "label": LABEL,
        "format": attestation.format,
        "generator": attestation.generator,
        "custodian_name": attestation.custodian.name,
        "legal_entity": attestation.custodian.legal_entity,
        "arrangement": attestation.segregation_arrangement,
        "epoch_id": attestation.epoch_id,
        "snapshot_time": attestation.snapshot_time,
        "previous": attestation.previous_attestation_sha256,
        "assets": rows,
        "chart_width": CHART_WIDTH,
        "chart_bar_height": CHART_BAR_HEIGHT,
        "fingerprint": fingerprint,
        "fingerprint_grouped": group_hex(fingerprint),
        "attestation_sha256": _crypto.sha256_hex(attestation_json),
        "attestation_bytes": len(attestation_json),
        "shard_prefix_chars": shard_prefix_chars,
        "shard_count": shard_count,
        # porsegregate/2 (entries set): shards by the lookup id's first b bits (section 6).
        "shard_bits": None if entries is None else shard_bits(entries),
        "entries": f"{entries:,}" if entries is not None else None,
        "openssl_verify": OPENSSL_VERIFY,
        "openssl_verify_manifest": OPENSSL_VERIFY_MANIFEST,
        "info_csp": info_csp,
        "verify_csp": verify_csp_markup,
        "inline_style": inline_style,
        "inline_script": inline_script,
        "language": language,
        # The verifier's catalogue: JSON in a <script type="application/json">, never run (so
        # the CSP needs no hash for it); "</" escaped so it cannot close the element.
        "verifier_messages": Markup(  # noqa: S704 - JSON with every "<" escaped
            verifier_messages(assets, language).replace("<", "\\u003c")
        ),
    }
    env = _environment(str(templates), check_language(language, "[site] language"))
    out: dict[str, bytes] = {}
    for name in layout.PAGES:
        try:
            template = env.get_template(name)
        except TemplateNotFound as exc:
            raise ConfigError(
                f"template {exc.name} is missing from {templates}; reinstall porsegregate"
            ) from exc
        except TemplateSyntaxError as exc:
            raise ConfigError(f"template {exc.filename}:{exc.lineno}: {exc.message}") from exc
        out[name] = template.render(page=name, **context).encode("utf-8")
    out[f"{layout.ASSETS}/{STYLE}"] = style_bytes
    out[f"{layout.ASSETS}/{SCRIPT}"] = script_bytes
    out[f"{layout.ASSETS}/{VENDOR}"] = vendor_bytes
    return out
