"""The SDK's version, in a module of its own so any part of the package can name it without
importing the package's facade (``gameapi_async/__init__``), which re-exports those parts."""

__version__ = "0.1.0.dev0"
"""The SDK's version (PEP 440), the same as the installed distribution's."""
