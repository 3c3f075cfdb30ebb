"""Balance readers: `--rpc CHAIN=URL` turned into something that reads a chain at a block.

Each chain's family makes its reader (see chains/): EVM chains use a JSON-RPC
node; Bitcoin uses a Bitcoin Core node (`scantxoutset`, valid only when the
node's tip is the snapshot block) or, with an `esplora+https://...` URL, an
Esplora-compatible API. A URL with an API key in it is a secret: give
`CHAIN=env:VARIABLE` to read it from the environment instead of the command line.
"""

from __future__ import annotations

from ..chains import BalanceReader, family, parse_rpc_options
from ..errors import InputError
from ..protocol.models import ChainSnapshot

__all__ = ["make_readers", "parse_rpc_options"]


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
