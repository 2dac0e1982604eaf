"""Where the contract and the built-in packs are: the checkout's top-level folders when running
from source (editable installs included), else the copies packaged inside ppu_sim."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_PACKAGED = {"openapi": "openapi", "scenarios": "builtin_scenarios", "plans": "builtin_plans"}


def bundled(folder: str) -> Path:
    """``openapi``, ``scenarios`` or ``plans``."""
    source = _HERE.parents[1] / folder
    if (_HERE.parents[1] / "pyproject.toml").is_file() and source.is_dir():
        return source
    return _HERE / _PACKAGED[folder]
