"""Chain-specific proof of control and balance reading.

Each chain module delegates curve and signature work to a well-kept library
made for that chain; nothing here does elliptic-curve arithmetic itself.
The reserves layer (reserves.py) only sees the small API and the three errors
below, so adding a chain means adding one module.
"""

from __future__ import annotations


class AddressError(ValueError):
    """An address that is not valid for its chain or network; the message says why."""


class SignatureError(ValueError):
    """A proof-of-control signature that cannot be parsed or does not verify."""


class ChainError(Exception):
    """A node or API could not give a trustworthy answer (names the URL and the call)."""
