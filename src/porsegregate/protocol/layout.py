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


# -- the transparency log (section 13) ---------------------------------------------------------

LOG = "log"
CHECKPOINT = f"{LOG}/checkpoint.json"
ENTRIES = f"{LOG}/entries.json"
CHECKPOINT_FILE = re.compile(rf"{LOG}/checkpoints/([1-9][0-9]*)\.json")
# The newest checkpoint as a C2SP signed note, and the witnesses' co-signed copies of it.
CHECKPOINT_NOTE = f"{LOG}/checkpoint.note"
WITNESSES = f"{LOG}/witnesses"


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
