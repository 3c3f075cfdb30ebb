"""porsegregate: proof of reserves, liabilities and client-asset segregation."""

__version__ = "0.1.0"
PROTOCOL_VERSION = "porsegregate/1"

__all__ = ["PROTOCOL_VERSION", "__version__"]
