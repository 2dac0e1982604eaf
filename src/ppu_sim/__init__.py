"""ppu-sim: a contract-testing mock provider for the Prepaid Utility Service Interface v3."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ppu-sim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
