"""porsegregate: proof of reserves, liabilities and client-asset segregation."""

from .protocol.hashing import PROTOCOL_VERSION

__version__ = "0.1.0"

__all__ = ["PROTOCOL_VERSION", "__version__"]
