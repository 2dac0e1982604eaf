"""Token identifiers: whole minutes since one of the three STS base dates, in 24 bits."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from functools import lru_cache

TID_BITS = 24
TID_LIMIT = 1 << TID_BITS


class BaseDate(IntEnum):
    """The base dates IEC 62055-41:2014 allows; the value is the year."""

    Y1993 = 1993
    Y2014 = 2014
    Y2035 = 2035

    @property
    def start(self) -> datetime:
        return _STARTS[self]

    @property
    def code(self) -> str:
        """The two digits DKGA04 uses for the base date ("93", "14", "35")."""
        return f"{self.value % 100:02d}"

    @classmethod
    def of(cls, value: int | str) -> BaseDate:
        """A base date from its year (1993) or its two-digit code ("93")."""
        year = int(value)
        for base in cls:
            if year in (base.value, base.value % 100):
                return base
        raise ValueError(f"base date {value!r} is not one of 1993, 2014, 2035")


_STARTS = {base: datetime(base.value, 1, 1) for base in BaseDate}  # every token's TID is counted from one


def this_minute() -> datetime:
    """The start of the current minute, UTC, naive: all a TID keeps of the time a token is issued.

    One object per minute: reading the clock as a datetime was a fortieth of a purchase, and
    :func:`tid_of` remembers what it made of the minute's object."""
    return _minute_start(int(time.time() // 60))


@lru_cache(maxsize=2)
def _minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, timezone.utc).replace(tzinfo=None)


def tid_of(issued: datetime, base: BaseDate) -> int:
    """Minutes from the base date to ``issued``; seconds are dropped, as the standard does.

    Times are naive local times: the standard counts minutes of the issuing system's clock.
    """
    if issued.tzinfo is not None:
        issued = issued.replace(tzinfo=None)
    return _minutes_since(issued, base)


@lru_cache(maxsize=64)
def _minutes_since(issued: datetime, base: BaseDate) -> int:
    """Cached for :func:`this_minute`'s object, which every token of a minute shares. Only naive
    times: aware ones equal at the same instant, yet name different wall-clock minutes."""
    minutes = int((issued - _STARTS[base]).total_seconds() // 60)
    if not 0 <= minutes < TID_LIMIT:
        raise ValueError(f"{issued.isoformat()} does not fit a 24-bit TID from base date {base.value}")
    return minutes


def issued_at(tid: int, base: BaseDate) -> datetime:
    """The start of the minute a TID names."""
    if not 0 <= tid < TID_LIMIT:
        raise ValueError(f"TID {tid} is not a 24-bit number")
    return base.start + timedelta(minutes=tid)
