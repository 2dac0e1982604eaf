"""Run-time settings of one simulator instance, from the command line or the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ppu_sim.sts.identity import DEFAULT_VENDING_KEY

ENV_PREFIX = "PPU_SIM_"


@dataclass(frozen=True)
class Settings:
    """Everything that varies between simulator instances; immutable once the server starts."""

    host: str = "127.0.0.1"
    port: int = 8080
    scenario_paths: tuple[Path, ...] = ()
    seed: int = 0
    # Empty means "any credentials are accepted" (but some must be sent).
    users: dict[str, str] = field(default_factory=dict)
    tokens: frozenset[str] = frozenset()
    strict: bool = False
    max_body_bytes: int = 1_048_576
    # Bad-input bounds: a request body nested deeper is a FORMAT_ERROR (the contract's models go
    # about 5 deep); an ErrorDetail lists at most this many offending fields.
    max_json_depth: int = 32
    max_format_errors: int = 50
    # How long a "hold" fault keeps a request before answering or closing (client timeout).
    hold_seconds: float = 60.0
    watch: bool = True
    log_level: str = "info"
    # The STS vending key every meter's decoder key comes from; kept out of repr, so out of logs.
    vending_key: bytes = field(default=DEFAULT_VENDING_KEY, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_json_depth", "max_format_errors"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")

    @property
    def auth_configured(self) -> bool:
        return bool(self.users or self.tokens)


def parse_users(text: str) -> dict[str, str]:
    """Parse ``user:pass,user2:pass2``; a malformed entry is a usage error, not silently dropped."""
    users: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        user, sep, password = entry.partition(":")
        if not sep or not user:
            raise ValueError(f"bad --users entry {entry!r}: expected user:password")
        users[user] = password
    return users


def parse_tokens(text: str) -> frozenset[str]:
    return frozenset(filter(None, (part.strip() for part in text.split(","))))
