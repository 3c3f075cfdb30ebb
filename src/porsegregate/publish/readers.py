"""Balance readers: `--rpc CHAIN=URL` turned into something that reads a chain at a block.

Each chain's family makes its reader (see chains/): EVM chains use a JSON-RPC
node; Bitcoin uses a Bitcoin Core node (`scantxoutset`, valid only when the
node's tip is the snapshot block) or, with an `esplora+https://...` URL, an
Esplora-compatible API. A URL with an API key in it is a secret: give
`CHAIN=env:VARIABLE` to read it from the environment instead of the command line.
"""

from __future__ import annotations

import os
import re

from ..chains import BalanceReader, family
from ..errors import InputError
from ..protocol.models import ChainSnapshot

_SPEC = re.compile(r"([a-z0-9][a-z0-9._-]{0,31})=(.+)")


def parse_rpc_options(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    """['ethereum=http://...', 'bitcoin=env:BTC_RPC'] -> {'ethereum': url, 'bitcoin': url}."""
    urls: dict[str, str] = {}
    for option in options:
        match = _SPEC.fullmatch(option.strip())
        if not match:
            raise InputError(f"--rpc {option!r}: expected CHAIN=URL or CHAIN=env:VARIABLE")
        name, url = match.groups()
        if url.startswith("env:"):
            variable = url[4:]
            value = os.environ.get(variable)
            if not value:
                raise InputError(f"--rpc {name}: the environment variable {variable} is not set")
            url = value
        if name in urls:
            raise InputError(f"--rpc {name} is given twice")
        if not re.match(r"(esplora\+)?https?://", url):
            raise InputError(f"--rpc {name}: the URL must start with http:// or https://")
        urls[name] = url
    return urls


def make_readers(
    urls: dict[str, str], chains: tuple[ChainSnapshot, ...]
) -> dict[str, BalanceReader]:
    """A balance reader for each `--rpc CHAIN=URL`, made by the chain's family."""
    by_id = {c.id: c for c in chains}
    readers: dict[str, BalanceReader] = {}
    for name, url in urls.items():
        chain = by_id.get(name)
        if chain is None:
            known = ", ".join(by_id) or "none"
            raise InputError(
                f"--rpc {name}: no such chain in the reserves file (declared: {known})"
            )
        try:
            readers[name] = family(chain.kind).balance_reader(chain, url)
        except InputError as exc:
            raise InputError(f"--rpc {name}: {exc}") from exc
    return readers
