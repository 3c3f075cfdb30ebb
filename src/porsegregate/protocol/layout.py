"""Where every published file lives, and how times are written (docs/protocol.md 7-14).

One module owns the site's layout, so the publisher that writes a site, the
verifiers that read it and the auditor that co-signs it cannot disagree on a
name; and one owns the time format every signed document uses.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime

# -- the epoch's own files ----------------------------------------------------------------------

ATTESTATION = "attestation.json"
PUBLIC_KEY = "custodian.pub.pem"
MANIFEST = "manifest.json"
PAGES = ("index.html", "reserves.html", "verify.html", "auditor.html")
ASSETS = "assets"
PROOFS = "proofs"


def sig(name: str) -> str:
    """The raw Ed25519 signature published beside a signed file."""
    return name + ".sig"


def shard_name(lookup_hex_prefix: str) -> str:
    return f"{PROOFS}/{lookup_hex_prefix or 'all'}.bin"


def shard_file(index: int, bits: int) -> str:
    """porsegregate/2: shard `index` of 2^bits, named by ceil(bits/4) lowercase hex digits
    (proofs/all.bin when bits = 0)."""
    if bits == 0:
        return f"{PROOFS}/all.bin"
    return f"{PROOFS}/{index:0{(bits + 3) // 4}x}.bin"


def shard_file_index(name: str, bits: int) -> int | None:
    """The index of the porsegregate/2 shard `name` is for 2^bits shards (shard_file's
    inverse), or None when it is no such name."""
    stem = name.removeprefix(PROOFS + "/").removesuffix(".bin")
    digits = (bits + 3) // 4
    if bits == 0:
        return 0 if name == f"{PROOFS}/all.bin" else None
    if len(stem) != digits or any(c not in "0123456789abcdef" for c in stem):
        return None
    index = int(stem, 16)
    return index if index < 1 << bits and shard_file(index, bits) == name else None


def shard_prefix(name: str) -> str:
    """The lookup id prefix a shard's name says (shard_name's inverse; "" for all.bin)."""
    stem = name.removeprefix(PROOFS + "/").removesuffix(".bin")
    return "" if stem == "all" else stem


# -- the arrangement's published documents (section 7, `legal`) --------------------------------

KIB = 1024
MIB = 1024 * KIB
DOCUMENTS = "documents"
MAX_DOCUMENT = 64 * MIB  # the largest document a verifier fetches
DOCUMENT_FILE = re.compile(rf"{DOCUMENTS}/([0-9a-f]{{64}})((?:\.[a-z0-9]{{1,8}})?)")
_DOCUMENT_EXT = re.compile(r"(?:\.[a-z0-9]{1,8})?")


def document_name(sha256: str, ext: str) -> str:
    """A published document's name: documents/<sha256><ext> (ext '' or like '.pdf')."""
    if not _DOCUMENT_EXT.fullmatch(ext):
        raise ValueError(f"a document's extension {ext!r} must be '' or '.' and 1-8 of [a-z0-9]")
    return f"{DOCUMENTS}/{sha256}{ext}"


# -- the transparency log (section 13) ---------------------------------------------------------

LOG = "log"
CHECKPOINT = f"{LOG}/checkpoint.json"
ENTRIES = f"{LOG}/entries.json"
CHECKPOINT_FILE = re.compile(rf"{LOG}/checkpoints/([1-9][0-9]*)\.json")
INCLUSION_FILE = re.compile(rf"{LOG}/inclusion/(0|[1-9][0-9]*)\.json")
# The newest checkpoint as a C2SP signed note, and the witnesses' co-signed copies of it.
CHECKPOINT_NOTE = f"{LOG}/checkpoint.note"
WITNESSES = f"{LOG}/witnesses"
WITNESS_COSIGNATURE_FILE = re.compile(rf"{WITNESSES}/([1-9][0-9]*)/[0-9a-f]{{64}}\.note")


def checkpoint_name(size: int) -> str:
    return f"{LOG}/checkpoints/{size}.json"


def witness_cosignature_name(size: int, fingerprint: str) -> str:
    """A witness's co-signed checkpoint note of this size (fingerprint: of its Ed25519 key)."""
    return f"{WITNESSES}/{size}/{fingerprint}.note"


def logged_attestation_name(index: int) -> str:
    return f"{LOG}/attestations/{index}.json"


def inclusion_name(index: int) -> str:
    return f"{LOG}/inclusion/{index}.json"


def consistency_name(size: int) -> str:
    return f"{LOG}/consistency/{size}.json"


# -- earlier epochs and auditors (sections 13, 14) ---------------------------------------------

EPOCHS = "epochs"
AUDITORS = "auditors"
AUDITORS_INDEX = f"{AUDITORS}/index.json"
AUDITOR_KEY = "auditor.pub.pem"
AUDITOR_SIGNATURE = sig(ATTESTATION)
AUDITOR_STATEMENT = "statement.txt"
AUDITOR_DOCUMENT = "auditor.json"
AUDITOR_DOCUMENT_SIG = sig(AUDITOR_DOCUMENT)
AUDITOR_FILES = (
    AUDITOR_KEY,
    AUDITOR_SIGNATURE,
    AUDITOR_STATEMENT,
    AUDITOR_DOCUMENT,
    AUDITOR_DOCUMENT_SIG,
)


def epoch_home(epoch: str) -> str:
    """An epoch's permanent home, relative to the site's root, with a trailing slash."""
    return f"{EPOCHS}/{epoch}/"


def auditor_folder(fingerprint: str) -> str:
    return f"{AUDITORS}/{fingerprint}"


def in_manifest(relative: str, root: bool) -> bool:
    """Whether a folder's manifest must list this file: all but the manifest itself, the
    auditors' and witnesses' co-signatures and, at the site's root, the earlier epochs' homes."""
    top = relative.split("/", 1)[0]
    if relative in (MANIFEST, sig(MANIFEST)) or top == AUDITORS:
        return False
    if relative.startswith(WITNESSES + "/"):
        return False
    return not (root and top == EPOCHS)


def is_epoch_home(location: str) -> bool:
    """A folder or URL that is an earlier epoch's home (…/epochs/<id>/)."""
    path = urllib.parse.urlparse(location).path if "://" in location else location
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return len(parts) >= 2 and parts[-2] == EPOCHS


def safe_relative(relative: str) -> bool:
    """A path a manifest may list: inside its folder ('/'-separated, no '..', '.', '' or '\\')."""
    return (
        bool(relative)
        and "\\" not in relative
        and all(part not in ("", ".", "..") for part in relative.split("/"))
    )


# -- time ---------------------------------------------------------------------------------------

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def format_time(when: datetime) -> str:
    """UTC, to the second: YYYY-MM-DDTHH:MM:SSZ."""
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def now() -> str:
    return format_time(datetime.now(UTC))


def is_time(text: str) -> bool:
    """A real UTC time written YYYY-MM-DDTHH:MM:SSZ (ASCII digits, a date that exists)."""
    if not _TIME.fullmatch(text):
        return False
    try:
        datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return False
    return True


def parse_time(text: str) -> datetime:
    """A time written by format_time, as an aware UTC datetime; ValueError otherwise."""
    if not _TIME.fullmatch(text):
        raise ValueError(f"{text!r} is not a time written YYYY-MM-DDTHH:MM:SSZ")
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


# -- how large a verifier lets each file be (docs/protocol.md, "Fetching a site over HTTP") ----


# (what the file is, its path within a site's root or an epoch's home, the most bytes read).
# First match wins. Each limit is far above what the protocol or a large site needs
# (the reason is beside it), so a limit never decides a verdict, and far below what a
# host could make a verifier hold in memory or wait for.
FETCH_LIMITS: tuple[tuple[str, str, int], ...] = (
    ("a signature", r"[^/]+\.sig", 1 * KIB),  # exactly 64 bytes
    ("a public key", r"[^/]+\.pem", 4 * KIB),  # an Ed25519 SubjectPublicKeyInfo PEM is 113
    # porsegregate/1: ~256 entries a shard on average (section 6), at most 512 in practice;
    # porsegregate/2: ~32 (at most 64 in practice), and 64 MiB is 512 entries of 4 asset slots
    # in 16 parts at height 24 with 16-byte sums (~75 KiB each).
    ("a proof shard", rf"{PROOFS}/[^/]+\.bin", 64 * MIB),
    # 10,000 wallets (~0.7 KiB each with their proof of control) are ~7 MiB.
    ("an attestation", rf"{re.escape(ATTESTATION)}|{LOG}/attestations/[0-9]+\.json", 32 * MIB),
    # porsegregate/1: 16^q shards of ~90 bytes each, q = 4 (up to 16.7M clients) is ~6 MiB;
    # porsegregate/2 lists no shard (its shards root covers them): a few KiB.
    ("a manifest", re.escape(MANIFEST), 32 * MIB),
    ("the log's entries", re.escape(ENTRIES), 16 * MIB),  # ~110 bytes an epoch
    # The small JSON documents: a checkpoint is ~300 bytes; a log proof at most 53 hashes
    # (a log of up to 2^53 entries), ~3.5 KB; the auditors' index at most 100 fingerprints,
    # ~6.6 KB; an auditor's document ~500 bytes; a statement at most 64 KiB.
    ("a checkpoint", rf"{re.escape(CHECKPOINT)}|{LOG}/checkpoints/[0-9]+\.json", 1 * MIB),
    ("a log proof", rf"{LOG}/(?:inclusion|consistency)/[0-9]+\.json", 1 * MIB),
    ("the auditors' index", re.escape(AUDITORS_INDEX), 1 * MIB),
    ("an auditor's statement", rf"{AUDITORS}/[^/]+/{re.escape(AUDITOR_STATEMENT)}", 1 * MIB),
    ("an auditor's document", rf"{AUDITORS}/[^/]+/{re.escape(AUDITOR_DOCUMENT)}", 1 * MIB),
    # The arrangement's published documents (a scanned deed may be large); publish refuses
    # a larger one (publish = false, or a smaller file).
    ("a published document", rf"{DOCUMENTS}/[0-9a-f]{{64}}(?:\.[a-z0-9]{{1,8}})?", MAX_DOCUMENT),
    ("a page", r"[^/]+\.html", 64 * MIB),  # the reserves page lists every wallet
    ("a site asset", rf"{ASSETS}/.+", 4 * MIB),  # the verifier's script is ~120 KiB
)
OTHER_FETCH_LIMIT = ("a file", 16 * MIB)
_FETCH_LIMITS = tuple(
    (what, re.compile(rf"(?:.+/)?(?:{pattern})"), limit) for what, pattern, limit in FETCH_LIMITS
)


def fetch_limit(relative: str) -> tuple[str, int]:
    """(what the file is, the most bytes a verifier reads of it) for a path relative to a
    site's root (an epoch's home `epochs/<id>/...` included)."""
    for what, pattern, limit in _FETCH_LIMITS:
        if pattern.fullmatch(relative):
            return what, limit
    return OTHER_FETCH_LIMIT
