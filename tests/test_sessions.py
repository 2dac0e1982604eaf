"""Sessions: which session a request belongs to, and how idle or surplus sessions go."""

from __future__ import annotations

import base64

from ppu_sim.app import load_catalogue
from ppu_sim.control.sessions import DEFAULT_SESSION, Sessions, session_name

BASIC = b"Basic " + base64.b64encode(b"till-7:pw")


def test_the_header_names_the_session_then_the_user_then_default():
    assert session_name([(b"x-ppu-session", b"job-1"), (b"authorization", BASIC)], "header") == "job-1"
    assert session_name([(b"authorization", BASIC)], "header") == "till-7"
    assert session_name([(b"authorization", b"Bearer t")], "header") == DEFAULT_SESSION
    assert session_name([(b"x-ppu-session", b"job-1"), (b"authorization", BASIC)], "user") == "till-7"
    assert session_name([(b"x-ppu-session", b"job-1"), (b"authorization", BASIC)], "off") == DEFAULT_SESSION


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_idle_sessions_expire_and_the_oldest_idle_goes_first():
    clock = Clock()
    sessions = Sessions(load_catalogue(), ttl=10, max_sessions=2, clock=clock)
    a = sessions.get("a")
    clock.t = 5
    sessions.get("b")
    clock.t = 6
    assert sessions.get("a") is a  # used again: now b is the oldest idle
    clock.t = 8
    sessions.get("c")
    assert [s.name for s in sessions] == ["a", "c"] and sessions.evicted == 1
    clock.t = 16.5
    assert [s.name for s in sessions] == ["c"]
    assert sessions.find("a") is None and sessions.evicted == 2


def test_each_session_has_its_own_store_but_shares_generated_data():
    sessions = Sessions(load_catalogue(), seed=3)
    one, two = sessions.get("one"), sessions.get("two")
    assert one.provider.store is not two.provider.store
    assert one.provider.data.meter_profile("01234567897") == two.provider.data.meter_profile("01234567897")
    fresh = sessions.reset("one")
    assert fresh is not one and fresh.journal is not one.journal
