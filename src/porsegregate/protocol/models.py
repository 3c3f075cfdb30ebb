"""Typed models of what gets signed and published; serialization lives in serialization.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from .bundle import BundleLayout, sum_bytes
from .hashing import FORMAT_V1


@dataclass(frozen=True)
class Asset:
    code: str
    decimals: int


@dataclass(frozen=True)
class Custodian:
    name: str
    legal_entity: str


@dataclass(frozen=True)
class AssetLiabilities:
    code: str
    decimals: int
    root: bytes
    total: int
    padded_height: int
    # porsegregate/2: how many leaves each holder's balance is split into; None in
    # porsegregate/1, which has no such member.
    parts: int | None = None


CATEGORIES = ("client_segregated", "client_dedicated", "proprietary", "third_party")
CLIENT_CATEGORIES = ("client_segregated", "client_dedicated")
# The protocol's table of chain kinds and the proof-of-control formats of each: the
# attestation parser checks against it, and each kind has one family module in chains/
# (named after the kind) that takes its proof types from here. A new chain family is
# that module plus its row here; the chains registry checks at import that they agree.
CHAIN_KINDS = ("evm", "bitcoin", "ed25519")
PROOF_TYPES = {"evm": ("eip191",), "bitcoin": ("bip137", "bip322"), "ed25519": ("ed25519",)}
UNPROVEN = "none"
# Each kind's network in its one spelling, so that one network has one name (T14): an EVM
# chain id in decimal, a Bitcoin network, an Ed25519 chain's own lower-case name.
NETWORK_PATTERNS = {
    "evm": r"[1-9][0-9]{0,15}",
    "bitcoin": r"mainnet|testnet|signet|regtest",
    "ed25519": r"[a-z0-9][a-z0-9._-]{0,63}",
}
# The kinds whose network a verifier can hold a node to (a chain id, a Bitcoin network):
# there a wallet is its network and address. An Ed25519 chain's network is a name nothing
# confirms, so there a key is one wallet on every Ed25519 chain entry (T14).
NETWORK_BOUND_KINDS = ("evm", "bitcoin")
# The kinds whose balances a node can be asked for at a block (chains/ has a reader for
# each); a holding on any other kind (Ed25519 chains) is "declared", never "chain".
READABLE_KINDS = ("evm", "bitcoin")


@dataclass(frozen=True)
class ChainAsset:
    """An asset as it exists on one chain: its native coin (contract None) or a token."""

    code: str
    contract: str | None


@dataclass(frozen=True)
class ChainSnapshot:
    """One chain at the block its balances were taken at."""

    id: str
    kind: str
    network: str
    block_height: int
    block_hash: str
    assets: tuple[ChainAsset, ...]
    explorer_address: str | None = None
    explorer_block: str | None = None

    def asset(self, code: str) -> ChainAsset | None:
        return next((a for a in self.assets if a.code == code), None)


@dataclass(frozen=True)
class ControlProof:
    """Proof that the wallet's key signed the epoch's challenge, or a pointer to other evidence."""

    type: str
    signature: str | None
    public_key: str | None
    evidence: str | None

    @property
    def proven(self) -> bool:
        return self.type != UNPROVEN


@dataclass(frozen=True)
class Holding:
    asset: str
    amount: int
    # "chain": read from a node at the snapshot block when published; "declared": not checked.
    source: str


@dataclass(frozen=True)
class Wallet:
    chain: str
    address: str
    category: str
    holder: str
    label: str
    # client_dedicated only: SHA-256 commitment only the client can open (protocol section 6).
    client_tag: bytes | None
    holdings: tuple[Holding, ...]
    proof: ControlProof

    def amount(self, asset: str) -> int:
        return sum(h.amount for h in self.holdings if h.asset == asset)


@dataclass(frozen=True)
class AssetCoverage:
    """Client liabilities in one asset against the reserves that may be counted for them."""

    asset: str
    decimals: int
    liabilities: int
    client_segregated: int
    client_dedicated: int
    # Dedicated wallets count only up to their own client's liability in the asset.
    client_dedicated_counted: int
    third_party: int
    proprietary: int
    dedicated_shortfalls: int

    @property
    def segregated(self) -> int:
        return self.client_segregated + self.client_dedicated_counted

    @property
    def covered(self) -> bool:
        return self.segregated >= self.liabilities and self.dedicated_shortfalls == 0


@dataclass(frozen=True)
class Reserves:
    chains: tuple[ChainSnapshot, ...]
    wallets: tuple[Wallet, ...]
    coverage: tuple[AssetCoverage, ...]

    @property
    def shortfall(self) -> bool:
        return any(not c.covered for c in self.coverage)

    def chain(self, chain_id: str) -> ChainSnapshot | None:
        return next((c for c in self.chains if c.id == chain_id), None)

    def asset_coverage(self, code: str) -> AssetCoverage | None:
        return next((c for c in self.coverage if c.asset == code), None)


@dataclass(frozen=True)
class Witness:
    """A party that co-signs the log's checkpoints (section 13): a C2SP key name and an
    Ed25519 public key (32 raw bytes)."""

    name: str
    key: bytes


@dataclass(frozen=True)
class Witnesses:
    """The witnesses an attestation names, and how many must co-sign its checkpoint."""

    threshold: int = 0
    keys: tuple[Witness, ...] = ()


# Legal segregation (docs/protocol.md section 7, `legal`): who holds client assets, in what
# capacity, under which documents. A client_segregated or client_dedicated wallet is never
# held by the custodian's own operating company.
ROLES = (
    "custodian",
    "trustee",
    "bankruptcy_remote_vehicle",
    "sub_custodian",
    "operating_company",
    "nominee",
    "other",
)
OPERATING_COMPANY = "operating_company"
DOCUMENT_KINDS = (
    "trust_deed",
    "custody_agreement",
    "legal_opinion",
    "sub_custody_agreement",
    "other",
)


@dataclass(frozen=True)
class Entity:
    """A legal entity of the arrangement; at least one of lei and registration is set."""

    name: str
    role: str
    jurisdiction: str
    lei: str | None
    registration: str | None


@dataclass(frozen=True)
class Document:
    """A document of the arrangement: its SHA-256 is signed; `file` is its published copy
    (documents/<sha256><ext>) or None when only the hash is published."""

    title: str
    kind: str
    date: str
    binds: tuple[str, ...]
    sha256: str
    file: str | None


@dataclass(frozen=True)
class Legal:
    entities: tuple[Entity, ...]
    documents: tuple[Document, ...] = ()

    def entity(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)


@dataclass(frozen=True)
class Attestation:
    format: str
    generator: str
    custodian: Custodian
    segregation_arrangement: str
    epoch_id: str
    snapshot_time: str
    assets: tuple[AssetLiabilities, ...]
    previous_attestation_sha256: str | None
    reserves: Reserves = field(default_factory=lambda: Reserves((), (), ()))
    # When the next attestation is due: a verifier seeing no newer one after that warns (T9).
    # Always set by publish; parsing requires it.
    next_due: str | None = None
    # The witnesses whose co-signatures a verifier requires on the log's checkpoint (T16).
    witnesses: Witnesses = field(default_factory=Witnesses)
    # The legal entities and documents of the arrangement; None when none are declared.
    legal: Legal | None = None

    def asset(self, code: str) -> AssetLiabilities | None:
        for a in self.assets:
            if a.code == code:
                return a
        return None

    @property
    def bundle_layout(self) -> BundleLayout | None:
        """porsegregate/2: the fixed layout of every client's bundle; None for porsegregate/1."""
        return bundle_layout(self.format, self.assets)


def bundle_layout(fmt: str, assets: tuple[AssetLiabilities, ...]) -> BundleLayout | None:
    """The bundle layout the signed liabilities give (one height and one part count for every
    asset in porsegregate/2); None for porsegregate/1, whose bundles have none."""
    if fmt == FORMAT_V1:
        return None
    if not assets:  # no asset: no bundle can fit (a client holds at least one)
        return BundleLayout(0, 0, 1, 1)
    first = assets[0]
    return BundleLayout(
        len(assets), first.padded_height, first.parts or 1, sum_bytes([a.total for a in assets])
    )


@dataclass(frozen=True)
class Manifest:
    format: str
    epoch_id: str
    attestation_sha256: str
    shard_prefix_chars: int  # porsegregate/1 only (0 in porsegregate/2)
    files: dict[str, str] = field(default_factory=dict)
    # porsegregate/2: how many entries the shards hold together, dummies included; the shard
    # bits b (2^b shards) and the root of the shard tree.
    entries: int | None = None
    shard_bits: int | None = None
    shards_root: bytes | None = None


@dataclass(frozen=True)
class ProofFile:
    """What a client downloads to verify offline: the entry stays encrypted.

    `log_files` are the published log files that show the attestation is the newest entry
    of the signed log, by their published names (docs/protocol.md section 10), with their
    exact bytes; None for a porsegregate-proof/1 file, which carries no log.
    """

    attestation: bytes
    attestation_sig: bytes
    public_key_pem: bytes
    lookup: bytes
    entry: bytes
    log_files: dict[str, bytes] | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A signed head of the transparency log: its size and RFC 9162 root at a time."""

    log: str  # the custodian key fingerprint: one log per key
    size: int
    root: bytes
    time: str
    epoch: str  # the epoch whose attestation is the last entry


@dataclass(frozen=True)
class LogEntry:
    index: int
    epoch: str
    attestation_sha256: str


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    attestation_sha256: str
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    path: tuple[bytes, ...]
