"""Reading the custodian's reserves declaration: chains, tokens and every wallet.

One TOML or JSON file per epoch names each chain's snapshot block and the
assets it carries (native coin or token contract), then lists the wallets;
thousands of wallets can live in CSV files the declaration points to. Every
problem is collected with its file and line (or wallet number), like the
liabilities reader. Nothing here is published as is: `client` account ids of
dedicated wallets stay private and become tags (protocol section 6).
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chains import family, normalize_address, wallet_identity
from ..errors import AddressError, InputError
from ..protocol.amounts import parse_decimal
from ..protocol.control import counted_twice_problems, shared_network_problems
from ..protocol.hashing import account_id_problem, check_chain_id, text_problem
from ..protocol.models import (
    CATEGORIES,
    CHAIN_KINDS,
    PROOF_TYPES,
    UNPROVEN,
    Asset,
    ChainAsset,
    ChainSnapshot,
)
from ..protocol.serialization import json_loads

CSV_HEADER = [
    "chain",
    "address",
    "category",
    "holder",
    "label",
    "client",
    "asset",
    "balance",
    "proof",
    "signature",
    "evidence",
]
MAX_PROBLEMS = 30
MAX_FIELD = 4096
MAX_EVIDENCE = 2000
_URL_TEMPLATE = re.compile(r"https://[^\s\"'<>]+")


@dataclass(frozen=True)
class DeclaredWallet:
    """One wallet as the custodian declares it (with private fields) before any check."""

    where: str
    chain: str
    address: str
    category: str
    holder: str
    label: str
    client: str | None
    balances: dict[str, int]
    proof: str
    signature: str | None
    evidence: str | None


@dataclass(frozen=True)
class ReservesDeclaration:
    path: Path
    chains: tuple[ChainSnapshot, ...]
    wallets: tuple[DeclaredWallet, ...]

    def chain(self, chain_id: str) -> ChainSnapshot:
        return next(c for c in self.chains if c.id == chain_id)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(message)
        else:
            self.more += 1

    def raise_if_any(self, path: Path) -> None:
        if not self.items:
            return
        items = list(self.items)
        if self.more:
            items.append(f"... and {self.more} more problems")
        count = len(self.items) + self.more
        raise InputError(f"{path}: {count} problem(s) in the reserves declaration", items)


def _load_document(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: no such reserves file (see README, 'The reserves file')"
        ) from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected a TOML or JSON file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    try:
        doc = json_loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the top level must be a table / object")
    return doc


def _url_template(value: Any, placeholder: str, where: str, problems: _Problems) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) > 300
        or not _URL_TEMPLATE.fullmatch(value)
        or value.count("{") != 1
        or value.count("}") != 1
        or "{" + placeholder + "}" not in value
    ):
        problems.add(f"{where}: must be an https:// URL template containing {{{placeholder}}} once")
        return None
    return value


def _parse_chain(
    name: str, table: Any, assets: dict[str, Asset], where: str, problems: _Problems
) -> ChainSnapshot | None:
    try:
        check_chain_id(name)
    except ValueError as exc:
        problems.add(f"{where}: {exc}")
        return None
    if not isinstance(table, dict):
        problems.add(f"{where}: must be a table")
        return None
    kind = table.get("kind")
    if kind not in CHAIN_KINDS:
        problems.add(f"{where}: kind must be one of {', '.join(CHAIN_KINDS)} (got {kind!r})")
        return None
    chain_family = family(kind)
    try:
        network = chain_family.network(table)
    except ValueError as exc:
        problems.add(f"{where}: {exc}")
        return None
    height = table.get("block")
    if isinstance(height, bool) or not isinstance(height, int) or not 0 <= height < 2**53:
        problems.add(f"{where}: block must be the snapshot block height (an integer)")
        return None
    block_hash = table.get("block_hash")
    if not isinstance(block_hash, str):
        problems.add(f"{where}: block_hash (the hash of block {height}) is missing")
        return None
    try:
        block_hash = chain_family.block_hash(block_hash.strip())
    except ValueError as exc:
        problems.add(f"{where}: {exc}")
        return None
    chain_assets: list[ChainAsset] = []
    raw_assets = table.get("assets")
    if not isinstance(raw_assets, dict) or not raw_assets:
        problems.add(
            f'{where}.assets: list the assets on this chain, e.g. ETH = "native", '
            'USDC = "0x<token contract>"'
        )
        return None
    natives = 0
    for code, spec in raw_assets.items():
        if code not in assets:
            problems.add(f"{where}.assets: {code!r} is not an asset in porsegregate.toml")
            continue
        if spec == "native":
            natives += 1
            chain_assets.append(ChainAsset(code, None))
            continue
        if not chain_family.tokens or not isinstance(spec, str):
            problems.add(
                f'{where}.assets.{code}: must be "native"'
                + (" or the token's contract / mint address" if chain_family.tokens else "")
            )
            continue
        probe = ChainSnapshot(name, kind, network, height, block_hash, ())
        try:
            contract = normalize_address(probe, spec)
        except AddressError as exc:
            problems.add(f"{where}.assets.{code}: token contract: {exc}")
            continue
        chain_assets.append(ChainAsset(code, contract))
    if natives > 1:
        problems.add(f"{where}.assets: only one asset can be the chain's native coin")
    contracts = [a.contract for a in chain_assets if a.contract]
    if len(contracts) != len(set(contracts)):
        problems.add(f"{where}.assets: two assets name the same token contract")
    return ChainSnapshot(
        id=name,
        kind=kind,
        network=network,
        block_height=height,
        block_hash=block_hash,
        assets=tuple(sorted(chain_assets, key=lambda a: a.code)),
        explorer_address=_url_template(
            table.get("explorer_address"), "address", f"{where}.explorer_address", problems
        ),
        explorer_block=_url_template(
            table.get("explorer_block"), "block", f"{where}.explorer_block", problems
        ),
    )


def _text_field(value: Any, name: str, where: str, problems: _Problems, required: bool) -> str:
    if value is None or value == "":
        if required:
            problems.add(f"{where}: {name} is missing")
        return ""
    if not isinstance(value, str):
        problems.add(f"{where}: {name} must be text")
        return ""
    why = text_problem(value)
    if why:
        problems.add(f"{where}: {name} {why}")
        return ""
    return value


def _wallet(
    raw: dict[str, Any],
    balances: dict[str, str],
    where: str,
    chains: dict[str, ChainSnapshot],
    assets: dict[str, Asset],
    problems: _Problems,
    signed: bool,
) -> DeclaredWallet | None:
    before = len(problems.items) + problems.more
    chain = chains.get(str(raw.get("chain") or ""))
    if chain is None:
        problems.add(
            f"{where}: chain {raw.get('chain')!r} is not declared under [chains] "
            f"(declared: {', '.join(chains) or 'none'})"
        )
        return None
    address = ""
    try:
        address = normalize_address(chain, str(raw.get("address") or ""))
    except AddressError as exc:
        problems.add(f"{where}: address: {exc}")
    category = raw.get("category")
    if category not in CATEGORIES:
        problems.add(f"{where}: category must be one of {', '.join(CATEGORIES)} (got {category!r})")
    holder = _text_field(raw.get("holder"), "holder", where, problems, True)
    label = _text_field(raw.get("label"), "label", where, problems, False)
    client = raw.get("client") or None
    if category == "client_dedicated":
        if not isinstance(client, str):
            problems.add(f"{where}: a client_dedicated wallet names its client's account id")
        elif account_id_problem(client):
            problems.add(f"{where}: client: {account_id_problem(client)}")
    elif client is not None:
        problems.add(f"{where}: only a client_dedicated wallet names a client")
    amounts: dict[str, int] = {}
    if not balances:
        problems.add(f"{where}: no balances")
    for code, text in balances.items():
        on_chain = chain.asset(code)
        if on_chain is None:
            problems.add(
                f"{where}: asset {code!r} is not declared on chain {chain.id} "
                f"(add it under [chains.{chain.id}.assets])"
            )
            continue
        try:
            amounts[code] = parse_decimal(str(text), assets[code].decimals)
        except ValueError as exc:
            problems.add(f"{where}: {code} balance: {exc}")
    proof = raw.get("proof")
    signature = raw.get("signature") or None
    evidence = raw.get("evidence") or None
    if proof == UNPROVEN:
        if category in ("client_segregated", "client_dedicated"):
            problems.add(
                f"{where}: a {category} wallet needs a key proof "
                f"({' or '.join(PROOF_TYPES[chain.kind])}); only third_party and proprietary "
                "wallets may be unproven"
            )
        if not isinstance(evidence, str) or text_problem(evidence, MAX_EVIDENCE):
            problems.add(
                f'{where}: an unproven wallet (proof = "none") needs evidence: a reference to '
                "the external statement that shows the balance"
            )
        if signature is not None:
            problems.add(f'{where}: proof = "none" but a signature is given')
    elif proof in PROOF_TYPES[chain.kind]:
        if signature is None and not signed:
            pass  # `reserves challenge` runs before the signatures exist
        elif not isinstance(signature, str) or not signature.strip() or len(signature) > 4000:
            problems.add(
                f"{where}: signature is missing: sign the message `porsegregate reserves "
                "challenge` prints for this wallet"
            )
        if evidence is not None:
            problems.add(f'{where}: evidence is only for unproven wallets (proof = "none")')
    else:
        allowed = ", ".join((*PROOF_TYPES[chain.kind], UNPROVEN))
        problems.add(f"{where}: proof must be one of {allowed} on a {chain.kind} chain")
    if len(problems.items) + problems.more != before:
        return None
    return DeclaredWallet(
        where=where,
        chain=chain.id,
        address=address,
        category=str(category),
        holder=holder,
        label=label,
        client=client,
        balances=amounts,
        proof=str(proof),
        signature=signature.strip() if isinstance(signature, str) else None,
        evidence=evidence,
    )


def _canonical(chain: ChainSnapshot | None, address: str) -> str:
    if chain is None:
        return address
    try:
        return normalize_address(chain, address)
    except AddressError:
        return address


def _csv_wallets(
    path: Path,
    chains: dict[str, ChainSnapshot],
    assets: dict[str, Asset],
    problems: _Problems,
    signed: bool,
) -> list[DeclaredWallet]:
    groups: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, str]]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as f:
            previous_limit = csv.field_size_limit(MAX_FIELD)
            try:
                reader = csv.reader(f, strict=True)
                header = next(reader, None)
                if header is None or [h.strip() for h in header] != CSV_HEADER:
                    problems.add(f"{path}:1: the header must be {','.join(CSV_HEADER)}")
                    return []
                for row in reader:
                    line = f"{path}:{reader.line_num}"
                    if len(row) != len(CSV_HEADER):
                        problems.add(f"{line}: expected {len(CSV_HEADER)} fields, got {len(row)}")
                        continue
                    raw = dict(zip(CSV_HEADER, (x.strip() for x in row), strict=True))
                    key = (raw["chain"], _canonical(chains.get(raw["chain"]), raw["address"]))
                    asset, balance = raw.pop("asset"), raw.pop("balance")
                    if key not in groups:
                        groups[key] = (line, raw, {asset: balance})
                        continue
                    first_line, first, balances = groups[key]
                    differs = [k for k in raw if raw[k] and first[k] and raw[k] != first[k]]
                    if differs:
                        problems.add(
                            f"{line}: {', '.join(differs)} differ from the same wallet's row "
                            f"at {first_line}"
                        )
                    for k in raw:
                        first[k] = first[k] or raw[k]
                    if asset in balances:
                        problems.add(f"{line}: {asset} is listed twice for {raw['address']}")
                    balances[asset] = balance
            finally:
                csv.field_size_limit(previous_limit)
    except FileNotFoundError:
        problems.add(f"{path}: no such wallets CSV file")
        return []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add(f"{path}: cannot read: {exc}")
        return []
    wallets = []
    for line, raw, balances in groups.values():
        wallet = _wallet(raw, balances, line, chains, assets, problems, signed)
        if wallet is not None:
            wallets.append(wallet)
    return wallets


def read_reserves(
    path: Path, config_assets: tuple[Asset, ...], signed: bool = True
) -> ReservesDeclaration:
    """The declaration, or InputError listing every problem; `signed=False` allows no signatures."""
    doc = _load_document(path)
    problems = _Problems()
    assets = {a.code: a for a in config_assets}
    chains: dict[str, ChainSnapshot] = {}
    raw_chains = doc.get("chains")
    if not isinstance(raw_chains, dict) or not raw_chains:
        problems.add(f"{path}: [chains] is missing: declare each chain's snapshot block")
        raw_chains = {}
    for name, table in raw_chains.items():
        chain = _parse_chain(str(name), table, assets, f"{path}: [chains.{name}]", problems)
        if chain is not None:
            chains[chain.id] = chain
    for problem in shared_network_problems(chains.values()):
        problems.add(f"{path}: {problem}")
    wallets: list[DeclaredWallet] = []
    raw_wallets = doc.get("wallets", [])
    if not isinstance(raw_wallets, list):
        problems.add(f"{path}: wallets must be a list of [[wallets]] tables")
        raw_wallets = []
    for i, raw in enumerate(raw_wallets, 1):
        where = f"{path}: wallet {i}"
        if not isinstance(raw, dict):
            problems.add(f"{where}: must be a table")
            continue
        balances = raw.get("balances")
        if not isinstance(balances, dict) or not all(isinstance(v, str) for v in balances.values()):
            problems.add(f'{where}: balances must be a table of decimal strings, e.g. ETH = "1.5"')
            continue
        wallet = _wallet(raw, balances, where, chains, assets, problems, signed)
        if wallet is not None:
            wallets.append(wallet)
    csv_files = doc.get("wallets_csv", [])
    if isinstance(csv_files, str):
        csv_files = [csv_files]
    if not isinstance(csv_files, list) or not all(isinstance(x, str) for x in csv_files):
        problems.add(f"{path}: wallets_csv must be a file name or a list of them")
        csv_files = []
    for name in csv_files:
        wallets.extend(_csv_wallets(path.parent / name, chains, assets, problems, signed))
    seen: dict[tuple[str, str], DeclaredWallet] = {}
    identities: list[tuple[str, str]] = []
    for w in wallets:
        key = (w.chain, w.address)
        first = seen.setdefault(key, w)
        if first is w:
            with contextlib.suppress(AddressError):  # an invalid address is reported already
                identity = wallet_identity(chains[w.chain], w.address)
                identities.append((f"{w.where} ({w.chain} {w.address})", identity))
            continue
        if first.category != w.category:
            problems.add(
                f"{w.where}: commingling: {w.chain} {w.address} is declared as {w.category} here "
                f"and as {first.category} at {first.where}; a wallet has one category"
            )
        else:
            problems.add(f"{w.where}: {w.chain} {w.address} is already declared at {first.where}")
    for problem in counted_twice_problems(identities):
        problems.add(problem.replace(f" as {path}: ", " as "))
    if not wallets and not problems.items:
        problems.add(f"{path}: no wallets declared")
    problems.raise_if_any(path)
    return ReservesDeclaration(path, tuple(chains.values()), tuple(wallets))
