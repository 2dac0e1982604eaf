"""Run-time settings of one simulator instance, from the command line or the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ppu_sim.sts.identity import DEFAULT_VENDING_KEY

ENV_PREFIX = "PPU_SIM_"
# What names a request's session: the X-PPU-Session header (else the Basic user), the user, or nothing.
SESSION_MODES = ("header", "user", "off")


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
    # What one client may take of the server; past each limit a request gets a 4xx ErrorDetail.
    max_json_depth: int = 32  # nesting of a request body (400 FORMAT_ERROR; the contract's models go about 5 deep)
    max_format_errors: int = 50  # offending fields one FORMAT_ERROR lists
    max_body_bytes: int = 1_048_576  # request body (413)
    max_url_bytes: int = 8_192  # request target with its query (414)
    max_headers: int = 100  # header fields per request (431)
    max_header_bytes: int = 32_768  # all header fields of a request together (431)
    header_timeout: float = 10.0  # seconds from a request's first byte to its last header (408)
    body_timeout: float = 30.0  # seconds from the last header to the end of the body (408)
    idle_timeout: float = 75.0  # seconds a connection may wait for its next request (then closed)
    max_connections: int = 10_000  # open connections; past it a new one is answered 503
    # How long a "hold" fault keeps a request before answering or closing (client timeout).
    hold_seconds: float = 60.0
    # How many purchases, key changes, request ids (per kind) and events a session remembers; 0: all.
    retention: int = 100_000
    watch: bool = True
    # Well-formed requests skip Connexion's per-request layers (interface/fast_path.py); off: all go through them.
    fast_path: bool = True
    log_level: str = "info"
    # Sessions and the control API (docs/sessions.md, docs/control-api.md).
    sessions: str = "header"
    session_ttl: float = 3600.0
    max_sessions: int = 256
    journal_size: int = 10_000
    admin_token: str = ""
    # The STS vending key every meter's decoder key comes from; kept out of repr, so out of logs.
    vending_key: bytes = field(default=DEFAULT_VENDING_KEY, repr=False)

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


def parse_duration(text: str) -> float:
    """Seconds, or a number with s, m or h: ``90``, ``30s``, ``15m``, ``1h``."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    try:
        seconds = float(value[:-1] if scale else value) * (scale or 1)
    except ValueError:
        raise ValueError(f"bad duration {text!r}: expected seconds, or a number with s, m or h") from None
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be more than 0")
    return seconds


def parse_tokens(text: str) -> frozenset[str]:
    return frozenset(filter(None, (part.strip() for part in text.split(","))))
