"""Segregated coverage arithmetic, shared by the publisher and both verifiers.

Integers only. Ratios are published as percentages rounded *down* to two
decimals, so a published figure never overstates coverage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .models import AssetCoverage, Wallet


def percent(numerator: int, denominator: int) -> str | None:
    """floor(100 * numerator / denominator) to two decimals, as text; None for nothing owed."""
    if denominator == 0:
        return None
    basis_points = numerator * 10_000 // denominator
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def category_totals(wallets: Iterable[Wallet], asset: str) -> dict[str, int]:
    totals = {
        "client_segregated": 0,
        "client_dedicated": 0,
        "proprietary": 0,
        "third_party": 0,
    }
    for wallet in wallets:
        totals[wallet.category] += wallet.amount(asset)
    return totals


def compute_coverage(
    asset: str,
    decimals: int,
    liabilities: int,
    wallets: Iterable[Wallet],
    dedicated_by_client: Mapping[str, int],
    liability_by_client: Mapping[str, int],
) -> AssetCoverage:
    """Coverage of one asset.

    `dedicated_by_client` maps each client with dedicated wallets holding this
    asset to their total there; `liability_by_client` gives those clients'
    liabilities. A dedicated wallet counts only up to its own client's
    liability (its excess belongs to that client and covers nobody else); a
    client whose dedicated wallets hold less than they are owed is a shortfall.
    """
    totals = category_totals(wallets, asset)
    counted = 0
    shortfalls = 0
    for client, held in dedicated_by_client.items():
        owed = liability_by_client.get(client, 0)
        counted += min(held, owed)
        if held < owed:
            shortfalls += 1
    return AssetCoverage(
        asset=asset,
        decimals=decimals,
        liabilities=liabilities,
        client_segregated=totals["client_segregated"],
        client_dedicated=totals["client_dedicated"],
        client_dedicated_counted=counted,
        third_party=totals["third_party"],
        proprietary=totals["proprietary"],
        dedicated_shortfalls=shortfalls,
    )


def coverage_problems(coverage: AssetCoverage, wallets: Iterable[Wallet]) -> list[str]:
    """What a verifier without the private data can still check about a signed coverage row."""
    totals = category_totals(wallets, coverage.asset)
    problems = []
    for category, signed in (
        ("client_segregated", coverage.client_segregated),
        ("client_dedicated", coverage.client_dedicated),
        ("proprietary", coverage.proprietary),
        ("third_party", coverage.third_party),
    ):
        if totals[category] != signed:
            problems.append(
                f"{coverage.asset}: the {category} wallets add up to {totals[category]}, "
                f"the signed coverage says {signed}"
            )
    if coverage.client_dedicated_counted > coverage.client_dedicated:
        problems.append(
            f"{coverage.asset}: more dedicated reserves counted "
            f"({coverage.client_dedicated_counted}) than dedicated wallets hold "
            f"({coverage.client_dedicated})"
        )
    return problems
