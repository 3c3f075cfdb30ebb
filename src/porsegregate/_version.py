"""The package's version (pyproject.toml says the same), apart so any module can import it."""

__version__ = "0.1.0"
