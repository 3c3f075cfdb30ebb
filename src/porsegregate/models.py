"""Typed models of what gets signed and published; serialization lives in serialization.py."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def asset(self, code: str) -> AssetLiabilities | None:
        for a in self.assets:
            if a.code == code:
                return a
        return None


@dataclass(frozen=True)
class Manifest:
    format: str
    epoch_id: str
    attestation_sha256: str
    shard_prefix_chars: int
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProofFile:
    """What a client downloads to verify offline: the entry stays encrypted."""

    attestation: bytes
    attestation_sig: bytes
    public_key_pem: bytes
    lookup: bytes
    entry: bytes
