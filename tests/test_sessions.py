"""Sessions: which session a request belongs to, and how idle or surplus sessions go."""

from __future__ import annotations

import base64
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from ppu_sim.app import load_catalogue
from ppu_sim.control.sessions import DEFAULT_SESSION, Sessions, session_name
from tests.support import AUTH, BASE, Sim, lookup, purchase
from tests.test_reload import eventually, first_name, pack

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


# -- isolation over HTTP ------------------------------------------------------------------------

NAMESPACE = uuid.UUID("5f1c2a3e-0000-4000-8000-00000000c0de")


def stateful_script() -> list[tuple[str, dict]]:
    """Requests whose answers depend on earlier ones: running debt, a once-only free token, a counter.

    The ids are fixed, so every run of the script asks exactly the same questions.
    """
    steps: list[tuple[str, dict]] = []

    def add(kind: str, meter: str, amount: int | None, n: int) -> None:
        rid = str(uuid.uuid5(NAMESPACE, f"{kind}-{meter}-{n}"))
        if kind == "lookup":
            steps.append((f"/meterLookups/{rid}", lookup(meter, rid)))
        else:
            steps.append((f"/tokenPurchases/{rid}", purchase(meter, amount, rid)))

    for n in range(3):
        add("purchase", "TST007", 20000, n)  # each recovers debt from what is left
    add("lookup", "TST007", None, 0)  # the arrears still owed
    for n, amount in enumerate((500, 500, 0)):
        add("purchase", "EDGEFREE", amount, n)  # the free token once, then NO_FREE_UNITS_DUE
    for n in range(3):
        add("purchase", "EDGEFLAKY", 5000, n)  # 503, 503, then tokens
    return steps


def run_script(client: httpx.Client, steps: list[tuple[str, dict]], barrier: threading.Barrier | None = None) -> list:
    answers = []
    for path, body in steps:
        if barrier:
            barrier.wait(timeout=60)  # every client sends its step k at the same time
        r = client.post(BASE + path, json=body)
        answers.append((r.status_code, r.json()))
    return answers


def test_eight_sessions_driving_the_same_stateful_meters_at_once_each_see_a_fresh_simulator(
    sim: Sim, start_sim
) -> None:
    steps = stateful_script()
    fresh = start_sim()
    expected = run_script(fresh.client, steps)
    assert [status for status, _ in expected] == [201, 201, 201, 201, 201, 201, 400, 503, 503, 201]
    assert expected[0][1]["debtRecoveryCharges"] != expected[1][1]["debtRecoveryCharges"]  # the state moved

    sessions = [f"iso-{uuid.uuid4().hex[:8]}-{n}" for n in range(8)]
    barrier = threading.Barrier(len(sessions))
    clients = [httpx.Client(base_url=sim.base, auth=AUTH, headers={"X-PPU-Session": s}, timeout=60) for s in sessions]
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(lambda c: run_script(c, steps, barrier), clients))
    for client in clients:
        client.close()
    for session, answers in zip(sessions, results, strict=True):
        assert answers == expected, session
        journal = httpx.get(f"{sim.base}/sim/journal", params={"session": session}).json()
        assert [e["seq"] for e in journal["exchanges"]] == list(range(1, len(steps) + 1))
        assert {e["session"] for e in journal["exchanges"]} == {session}


def test_session_modes_over_http(start_sim) -> None:
    """off: one provider for everyone (a second client's repeated id is a duplicate); user: the header is ignored."""
    off, by_user = start_sim("--sessions", "off"), start_sim("--sessions", "user")
    lid = str(uuid.uuid4())
    for server, second_status in ((off, 400), (by_user, 201)):
        answers = [
            httpx.post(
                f"{server.base}{BASE}/meterLookups/{lid}",
                json=lookup("01234567897", lid),
                auth=(user, "pw"),
                headers={"X-PPU-Session": user},
            ).status_code
            for user in ("till-1", "till-2")
        ]
        assert answers == [201, second_status]
    listed = httpx.get(f"{by_user.base}/sim/sessions").json()["sessions"]
    assert sorted(s["name"] for s in listed) == ["till-1", "till-2"]
    assert [s["name"] for s in httpx.get(f"{off.base}/sim/sessions").json()["sessions"]] == ["default"]


UPLOADED = """
pack: session-upload
scenarios:
  - name: uploaded
    match: {meterId: RELOAD1}
    meter:
      customer: {firstName: Uploaded}
"""


def test_a_session_keeps_its_uploads_on_top_when_files_reload(start_sim, tmp_path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(pack("Alpha"))
    sim = start_sim("--scenarios", str(path))
    mine = {"X-PPU-Session": "mine"}
    assert httpx.post(f"{sim.base}/sim/scenarios", params={"session": "mine"}, content=UPLOADED,
                      headers={"Content-Type": "application/yaml"}).status_code == 201  # fmt: skip
    sim.client.headers.update(mine)
    assert first_name(sim) == "Uploaded"
    path.write_text(pack("Bravo"))
    sim.client.headers.pop("X-PPU-Session")
    eventually(lambda: first_name(sim) == "Bravo", "the file's change in a session without uploads")
    sim.client.headers.update(mine)
    assert first_name(sim) == "Uploaded"  # the upload still ranks above the reloaded file
