"""Delays and transport faults as a real client sees them: raw sockets where the wire itself is the point.

Timings are only ever checked from below (a delay delays at least this long), never from above.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import BASE, Sim, assert_conforms, lookup, new_id, purchase, reprint

HOLD_SECONDS = 0.6  # the server's --hold-seconds, used by a hold without its own seconds

PACK = """
pack: fault-tests
scenarios:
  - {name: reset, match: {meterId: FRESET}, respond: {createMeterLookup: [{fault: reset}]}}
  - {name: close, match: {meterId: FCLOSE}, respond: {createMeterLookup: [{fault: close}]}}
  - {name: empty, match: {meterId: FEMPTY}, respond: {createMeterLookup: [{fault: empty}]}}
  - {name: malformed, match: {meterId: FMALFORMED}, respond: {createMeterLookup: [{fault: malformed}]}}
  - {name: truncated, match: {meterId: FTRUNCATED}, respond: {createMeterLookup: [{fault: truncated}]}}
  - name: dribble
    match: {meterId: FDRIBBLE}
    respond: {createMeterLookup: [{fault: {kind: dribble, chunk: 300, interval: 0.05}}]}
  - name: hold-answer
    match: {meterId: FHOLDANSWER}
    respond: {createMeterLookup: [{fault: {kind: hold, seconds: 0.5}}]}
  - name: hold-close
    match: {meterId: FHOLDCLOSE}
    respond: {createMeterLookup: [{fault: {kind: hold, seconds: 0.5, then: close}}]}
  - {name: hold-default, match: {meterId: FHOLDDEFAULT}, respond: {createMeterLookup: [{fault: hold}]}}
  - name: hold-long
    match: {meterId: FHOLDLONG}
    respond: {"*": [{fault: {kind: hold, seconds: 30}}]}
  - {name: delay-fixed, match: {meterId: FDELAYFIXED}, respond: {createMeterLookup: [{delay: 0.3}]}}
  - name: delay-uniform
    match: {meterId: FDELAYUNIFORM}
    respond: {createMeterLookup: [{delay: {uniform: [0.2, 0.3]}}]}
  - name: delay-lognormal
    match: {meterId: FDELAYLOGNORMAL}
    respond: {createMeterLookup: [{delay: {lognormal: {median: 0.05, sigma: 1}}}]}
  - name: delayed-error
    match: {meterId: FDELAYERROR}
    respond: {createMeterLookup: [{delay: {fixed: 0.2}, error: {status: 503, errorType: UPSTREAM_UNAVAILABLE}}]}
  - name: vend-then-reset
    match: {meterId: FVENDRESET}
    respond: {createTokenPurchaseRequest: [{fault: reset}]}
"""

LATENCY_PACK = """
pack: latency-tests
latency: {uniform: [0.15, 0.3]}
scenarios:
  - {name: plain, match: {meterId: LATENCY1}}
"""


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    pack = tmp_path_factory.mktemp("faults") / "faults.yaml"
    pack.write_text(PACK)
    server = Sim(["--scenarios", str(pack), "--hold-seconds", str(HOLD_SECONDS), "--no-watch"])
    yield server
    server.stop()


@dataclass
class Exchange:
    """What came back on a raw connection: the bytes, how it ended, and how long it took."""

    data: bytes
    ended: str  # "eof" (orderly close), "reset", or "timeout"
    seconds: float

    @property
    def head(self) -> str:
        return self.data.split(b"\r\n\r\n", 1)[0].decode()

    @property
    def body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1]

    def header(self, name: str) -> str:
        found = re.search(rf"^{name}: (.*)$", self.head, re.IGNORECASE | re.MULTILINE)
        assert found, self.head
        return found.group(1).strip()


def open_lookup(sim: Sim, meter: str, timeout: float = 10) -> tuple[socket.socket, str]:
    """A lookup sent over a bare socket (nothing read yet), and its id."""
    id_ = new_id()
    body = json.dumps(lookup(meter, id_)).encode()
    request = (
        f"POST {BASE}/meterLookups/{id_} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        f"Authorization: Basic dGVzdDp0ZXN0\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=timeout)
    sock.sendall(request)
    return sock, id_


def raw_lookup(sim: Sim, meter: str, timeout: float = 10) -> Exchange:
    """A lookup over a bare socket, read until the server closes it (Connection: close)."""
    received = b""
    began = time.monotonic()
    sock, _ = open_lookup(sim, meter, timeout)
    with sock:
        try:
            while chunk := sock.recv(65536):
                received += chunk
            ended = "eof"
        except ConnectionResetError:
            ended = "reset"
        except TimeoutError:
            ended = "timeout"
    return Exchange(received, ended, time.monotonic() - began)


def timed_lookup(sim: Sim, meter: str) -> tuple[httpx.Response, float, str]:
    id_ = new_id()
    began = time.monotonic()
    r = sim.post(f"/meterLookups/{id_}", lookup(meter, id_))
    return r, time.monotonic() - began, id_


def logged_delays(sim: Sim) -> dict[str, float]:
    """Request id -> the delay the server says it applied (from its log)."""
    found = re.findall(r"/([0-9a-f-]{36}): delay ([0-9.]+) s", sim.log.read_text())
    return {id_: float(seconds) for id_, seconds in found}


def assert_quiet(sim: Sim) -> None:
    """Deliberate faults are not errors: the server logs no error and no stack trace for them."""
    text = sim.log.read_text()
    assert " ERROR " not in text and "Traceback" not in text, text


# -- transport faults -----------------------------------------------------------------------------


def test_reset_is_a_tcp_reset(faulty: Sim) -> None:
    got = raw_lookup(faulty, "FRESET")
    assert (got.ended, got.data) == ("reset", b"")
    with pytest.raises(httpx.ReadError):  # what an HTTP client reports for it
        faulty.post(f"/meterLookups/{(id_ := new_id())}", lookup("FRESET", id_))
    assert_quiet(faulty)


def test_close_ends_the_connection_without_a_response(faulty: Sim) -> None:
    got = raw_lookup(faulty, "FCLOSE")
    assert (got.ended, got.data) == ("eof", b"")
    assert_quiet(faulty)


def test_empty_sends_status_and_headers_with_no_body(faulty: Sim) -> None:
    r, _, _ = timed_lookup(faulty, "FEMPTY")
    assert r.status_code == 201
    assert r.headers["content-length"] == "0"
    assert r.headers["content-type"] == "application/json"
    assert r.content == b""
    assert "x-ppu-sim-directive" not in r.headers  # the internal directive never leaves the server


def test_malformed_body_is_not_json(faulty: Sim) -> None:
    r, _, _ = timed_lookup(faulty, "FMALFORMED")
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content) > 0  # complete, just not JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_truncated_body_is_shorter_than_promised_and_the_connection_closes(faulty: Sim) -> None:
    got = raw_lookup(faulty, "FTRUNCATED")
    assert got.ended == "eof"
    assert got.head.startswith("HTTP/1.1 201")
    promised = int(got.header("content-length"))
    assert 0 < len(got.body) < promised
    with pytest.raises(httpx.RemoteProtocolError):
        faulty.post(f"/meterLookups/{(id_ := new_id())}", lookup("FTRUNCATED", id_))
    assert_quiet(faulty)


def test_dribble_is_slow_but_complete(faulty: Sim) -> None:
    id_ = new_id()
    began = time.monotonic()
    with faulty.client.stream("POST", f"{BASE}/meterLookups/{id_}", json=lookup("FDRIBBLE", id_)) as r:
        pieces = [piece for piece in r.iter_raw() if piece]
    took = time.monotonic() - began
    r._content = b"".join(pieces)  # the streamed body, for the contract check
    assert_conforms("createMeterLookup", r)
    writes = -(-len(r.content) // 300)
    assert writes >= 3
    assert len(pieces) > 1
    assert took >= (writes - 1) * 0.05


# -- holds --------------------------------------------------------------------------------------


def test_hold_then_answer(faulty: Sim) -> None:
    r, took, _ = timed_lookup(faulty, "FHOLDANSWER")
    assert took >= 0.5
    assert r.status_code == 201
    assert_conforms("createMeterLookup", r)


def test_hold_then_close(faulty: Sim) -> None:
    got = raw_lookup(faulty, "FHOLDCLOSE")
    assert (got.ended, got.data) == ("eof", b"")
    assert got.seconds >= 0.5
    assert_quiet(faulty)


def test_hold_without_seconds_uses_the_servers_hold_seconds(faulty: Sim) -> None:
    r, took, _ = timed_lookup(faulty, "FHOLDDEFAULT")
    assert r.status_code == 201
    assert took >= HOLD_SECONDS


def test_a_client_giving_up_on_a_hold_is_no_error(faulty: Sim) -> None:
    gave_up = raw_lookup(faulty, "FHOLDANSWER", timeout=0.1)
    assert (gave_up.ended, gave_up.data) == ("timeout", b"")
    # The next hold outlasts the first one, so the first has ended (on the server) by the time this answers.
    r, _, _ = timed_lookup(faulty, "FHOLDANSWER")
    assert r.status_code == 201
    assert_quiet(faulty)


def test_held_requests_take_no_worker_threads(faulty: Sim) -> None:
    """More holds than Connexion's thread pool has threads (40): other traffic still flows."""
    held = []
    try:
        for _ in range(60):
            held.append(open_lookup(faulty, "FHOLDLONG")[0])
        r, _, _ = timed_lookup(faulty, "FDELAYFIXED")  # answered long before any hold ends (30 s)
        assert r.status_code == 201
        for sock in held:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # still held: not a byte yet
                sock.recv(1)
    finally:
        for sock in held:
            sock.close()


def test_stopping_the_server_does_not_wait_out_a_hold(start_sim, tmp_path: Path) -> None:
    pack = tmp_path / "faults.yaml"
    pack.write_text(PACK)
    sim = start_sim("--scenarios", str(pack), "--no-watch")
    sock, id_ = open_lookup(sim, "FHOLDLONG", timeout=20)
    with sock:
        eventually_logged = time.monotonic() + 10
        while f"{id_}: delay" not in sim.log.read_text():  # the request is being held
            assert time.monotonic() < eventually_logged
            time.sleep(0.05)
        sim.proc.terminate()
        sim.proc.wait(10)  # well before the 30 s hold would end
        assert sock.recv(1) == b""  # the held request was closed, not answered
    assert_quiet(sim)


# -- delays -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meter", "low", "high"),
    [("FDELAYFIXED", 0.3, 0.3), ("FDELAYUNIFORM", 0.2, 0.3), ("FDELAYLOGNORMAL", 0.0, float("inf"))],
)
def test_delays_delay_the_reply(faulty: Sim, meter: str, low: float, high: float) -> None:
    applied = []
    for _ in range(3):
        r, took, id_ = timed_lookup(faulty, meter)
        assert r.status_code == 201
        assert_conforms("createMeterLookup", r)
        delay = logged_delays(faulty)[id_]
        assert low <= delay <= high
        assert took >= delay
        applied.append(delay)
    if low < high:
        assert len(set(applied)) > 1, applied  # drawn per reply, not once


def test_a_delayed_error_arrives_late_and_well_formed(faulty: Sim) -> None:
    r, took, _ = timed_lookup(faulty, "FDELAYERROR")
    assert took >= 0.2
    assert r.status_code == 503
    assert r.json()["errorType"] == "UPSTREAM_UNAVAILABLE"
    assert_conforms("createMeterLookup", r)


# -- vend, then lose the reply ---------------------------------------------------------------------


def test_vend_then_reset_then_retry_returns_the_same_tokens(faulty: Sim) -> None:
    pid = new_id()
    with pytest.raises(httpx.ReadError):
        faulty.post(f"/tokenPurchases/{pid}", purchase("FVENDRESET", 5000, pid))
    # The provider vended before the connection broke: the meter's last purchase is on record ...
    rid = new_id()
    printed = faulty.post(f"/tokenReprints/{rid}", reprint("FVENDRESET", pid, rid))
    assert printed.status_code == 200, printed.text
    tokens = [t["token"] for t in printed.json()["tokens"]]
    assert tokens
    # ... and a correct retry gets exactly those tokens back.
    retry_id = new_id()
    r = faulty.post(f"/tokenPurchases/{pid}/retry", purchase("FVENDRESET", 5000, retry_id))
    assert r.status_code == 202, r.text
    assert_conforms("retryPurchaseRequest", r)
    assert [t["token"] for t in r.json()["tokens"]] == tokens


# -- the global latency profile and --seed ---------------------------------------------------------


def _latency_run(start_sim, pack: Path, seed: int) -> list[float]:
    sim = start_sim("--scenarios", str(pack), "--seed", str(seed), "--no-watch", "--log-level", "debug")
    ids = []
    for i in range(4):
        r, took, id_ = timed_lookup(sim, "LATENCY1")
        assert r.status_code == 201
        assert took >= 0.15
        ids.append(id_)
        if i == 1:  # neither /health nor the API's own documentation is the provider: no latency there
            assert sim.client.get("/health").status_code == 200
            assert sim.client.get(f"{BASE}/openapi.json").status_code == 200
    text = sim.log.read_text()
    assert len(re.findall(r": delay [0-9.]+ s", text)) == len(ids), text
    delays = logged_delays(sim)
    return [delays[id_] for id_ in ids]


def test_global_latency_applies_to_the_api_and_seed_replays_it(start_sim, tmp_path: Path) -> None:
    pack = tmp_path / "latency.yaml"
    pack.write_text(LATENCY_PACK)
    first, again, other = (_latency_run(start_sim, pack, seed) for seed in (7, 7, 8))
    assert all(0.15 <= d <= 0.3 for d in first + other)
    assert first == again
    assert first != other
