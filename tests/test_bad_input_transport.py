"""Bad input at the HTTP level, sent over raw sockets (no HTTP client would send most of it).

For every case: the status, that an error's body is the contract's ErrorDetail (a success's
body the operation's response), and that /health still answers promptly while the bad request
is in flight. Body and parameter validation cases live in test_bad_input.py.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.support import AUTH, BASE, Sim, _registry, assert_conforms, cli, lookup, purchase, sts_meter

METER = sts_meter("7777777777")
TIMEOUT = 1.0  # the server's --header-timeout and --body-timeout here
HEALTH_WITHIN = 0.1
ERROR_DETAIL = jsonschema.Draft4Validator({"$ref": "spec#/components/schemas/ErrorDetail"}, registry=_registry())
BASIC = b"Authorization: Basic " + base64.b64encode(":".join(AUTH).encode()) + b"\r\n"

HOLD_PACK = """
pack: transport-tests
scenarios:
  - name: held-beyond-timeouts
    match: {meterId: HOLDPASTTIMEOUTS}
    respond: {createMeterLookup: [{fault: {kind: hold, seconds: 2.5}}]}
"""


@pytest.fixture(scope="module")
def guarded() -> Iterator[Sim]:
    server = Sim(["--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT)])
    yield server
    server.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def read_answer(sock: socket.socket) -> Answer:
    """One response from the socket (after any 100 Continue), by its Content-Length; it reads no
    further, so the next call gets the next response."""
    while True:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)
            assert byte, f"connection closed before a complete answer: {head!r}"
            head += byte
        lines = head.decode("latin-1").strip().split("\r\n")
        status = int(lines[0].split()[1])
        if status != 100:
            break
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    body = b""
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(int(headers["content-length"]) - len(body))
        assert chunk, "connection closed inside the body"
        body += chunk
    return Answer(status, headers, body)


def health_latency(sim: Sim) -> float:
    """The best of three /health round trips (a server blocked by one request cannot do any fast)."""
    times = []
    for _ in range(3):
        start = time.monotonic()
        assert httpx.get(f"{sim.base}/health", timeout=5).status_code == 200
        times.append(time.monotonic() - start)
    return min(times)


def exchange(sim: Sim, request: bytes) -> tuple[Answer, float]:
    """Send the request (or the part of it a slow client sends), check /health meanwhile, read the answer."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=30) as sock:
        sock.sendall(request)
        latency = health_latency(sim)
        return read_answer(sock), latency


def post(path: str, *headers: bytes) -> bytes:
    """The head of a POST to the interface, with credentials and the given header lines."""
    lines = b"".join(h + b"\r\n" for h in headers)
    return f"POST {BASE}{path} HTTP/1.1\r\nHost: sim\r\n".encode() + BASIC + lines + b"\r\n"


def new_path() -> str:
    return f"/meterLookups/{uuid.uuid4()}"


JSON = b"Content-Type: application/json"
# What Java's HttpClient sends on a first request over cleartext when HTTP/2 is its preferred version.
H2C_UPGRADE = (b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA")
CHUNKED = b"Transfer-Encoding: chunked"


def fresh_lookup(*headers: bytes, content_type: bytes | None = b"application/json") -> bytes:
    lid = str(uuid.uuid4())
    body = json.dumps(lookup(METER, lid)).encode()
    typed = [b"Content-Type: " + content_type] if content_type is not None else []
    return post(f"/meterLookups/{lid}", *typed, *headers, b"Content-Length: %d" % len(body)) + body


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def chunked_lookup() -> bytes:
    lid = str(uuid.uuid4())
    body = json.dumps(lookup(METER, lid)).encode()
    return post(f"/meterLookups/{lid}", JSON, CHUNKED) + chunked([body[:100], body[100:200], body[200:]])


def chunked_too_large() -> bytes:
    """17 chunks of 64 KiB: past the 1 MiB limit with no Content-Length to tell in advance."""
    return post(new_path(), JSON, CHUNKED) + chunked([b"x" * 65536] * 17)


def many_headers(count: int) -> bytes:
    return b"GET /health HTTP/1.1\r\nHost: sim\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(count)) + b"\r\n"


CORPUS: dict[str, tuple[Callable[[], bytes], int]] = {
    "unknown method": (lambda: b"FOO /health HTTP/1.1\r\nHost: sim\r\n\r\n", 501),
    "malformed request line": (lambda: b"GARBAGE\r\n\r\n", 400),
    "raw non-ASCII in the path": (lambda: "GET /café HTTP/1.1\r\nHost: sim\r\n\r\n".encode(), 400),
    "control character in the path": (lambda: b"GET /a\x01b HTTP/1.1\r\nHost: sim\r\n\r\n", 400),
    "unknown HTTP version": (lambda: b"GET /health HTTP/3.0\r\nHost: sim\r\n\r\n", 400),
    "HTTP/2 preface": (lambda: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "1 MB query string": (lambda: b"GET /health?q=" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: sim\r\n\r\n", 414),
    "one 200 KB header": (lambda: b"GET /health HTTP/1.1\r\nHost: sim\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n", 431),
    "40,000 small headers": (lambda: many_headers(40_000), 431),
    "header line without a colon": (lambda: b"GET /health HTTP/1.1\r\nHost sim\r\n\r\n", 400),
    "NUL in a header value": (lambda: b"GET /health HTTP/1.1\r\nHost: sim\r\nX-A: a\x00b\r\n\r\n", 400),
    "Content-Length and chunked": (lambda: post(new_path(), JSON, CHUNKED, b"Content-Length: 5") + b"0\r\n\r\n", 400),
    "bad chunk size": (lambda: post(new_path(), JSON, CHUNKED) + b"zz\r\n", 400),
    "slowloris headers": (lambda: b"GET /health HTTP/1.1\r\nHost: sim\r\nX-Slow: ", 408),
    "slow body": (lambda: post(new_path(), JSON, b"Content-Length: 500") + b"{", 408),
    "declared body over the limit": (lambda: post(new_path(), JSON, b"Content-Length: 2000000"), 413),
    "chunked body over the limit": (chunked_too_large, 413),
    "missing Content-Type": (lambda: fresh_lookup(content_type=None), 415),
    "non-JSON Content-Type": (lambda: fresh_lookup(content_type=b"text/plain"), 415),
    "upper-case JSON Content-Type": (lambda: fresh_lookup(content_type=b"APPLICATION/JSON"), 201),
    "JSON Content-Type with a charset": (lambda: fresh_lookup(content_type=b"Application/Json; Charset=UTF-8"), 201),
    "JSON Content-Type, unknown charset": (lambda: fresh_lookup(content_type=b"application/json;charset=nope"), 201),
    "valid body, chunked": (chunked_lookup, 201),
    "valid body after 100-continue": (lambda: fresh_lookup(b"Expect: 100-continue"), 201),
    "valid body asking to upgrade to h2c": (lambda: fresh_lookup(*H2C_UPGRADE), 201),
    "valid body asking for WebSocket": (lambda: fresh_lookup(b"Connection: Upgrade", b"Upgrade: websocket"), 201),
    "chunked body asking to upgrade": (lambda: post(new_path(), JSON, CHUNKED, *H2C_UPGRADE) + chunked([b"{}"]), 400),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_bad_transport_input_is_answered_as_the_contract_says(guarded: Sim, case: str) -> None:
    build, status = CORPUS[case]
    answer, latency = exchange(guarded, build())
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    if status >= 400:
        body = answer.json()
        errors = sorted(ERROR_DETAIL.iter_errors(body), key=str)
        assert not errors, f"not an ErrorDetail: {errors[0]}"
    else:
        assert_conforms("createMeterLookup", httpx.Response(status, content=answer.body))
    assert latency < HEALTH_WITHIN, f"/health took {latency:.3f} s while {case!r} was in flight"


def test_a_long_header_list_is_copied_in_linear_time(start_sim: Callable[..., Sim]) -> None:
    """With the header limits raised, 40,000 headers are answered before a client's 10 s timeout
    (copying them with dict(request.headers) took over 13 s)."""
    server = start_sim("--max-headers", "50000", "--max-header-bytes", "10000000")
    request = fresh_lookup(*(b"X-H%d: v" % i for i in range(40_000)))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        assert read_answer(sock).status == 201


def test_a_connection_that_asked_to_upgrade_goes_on_as_http_1_1(guarded: Sim) -> None:
    """The Upgrade is ignored (RFC 9110 §7.8) and the next request on the connection is answered too."""
    first = b"GET /health HTTP/1.1\r\nHost: sim\r\n" + b"".join(h + b"\r\n" for h in H2C_UPGRADE) + b"\r\n"
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(first + fresh_lookup())
        assert read_answer(sock).status == 200
        assert read_answer(sock).status == 201


def test_limits_are_settings(start_sim: Callable[..., Sim]) -> None:
    """Options and their environment variables; httpx sends 5 header fields of its own."""
    server = start_sim("--max-headers", "10", "--max-url-bytes", "100", env={"PPU_SIM_MAX_HEADER_BYTES": "200"})
    assert httpx.get(f"{server.base}/health", headers={f"X-{i}": "v" for i in range(3)}).status_code == 200
    assert httpx.get(f"{server.base}/health", headers={f"X-{i}": "v" for i in range(6)}).status_code == 431
    assert httpx.get(f"{server.base}/health", headers={"X-Big": "v" * 300}).status_code == 431
    assert httpx.get(f"{server.base}/health?q=" + "a" * 50).status_code == 200
    assert httpx.get(f"{server.base}/health?q=" + "a" * 100).status_code == 414


@pytest.mark.parametrize(
    ("option", "env"), [(["--max-headers", "0"], {}), ([], {"PPU_SIM_BODY_TIMEOUT": "soon"})], ids=["option", "env"]
)
def test_a_bad_limit_is_a_usage_error(option: list[str], env: dict[str, str]) -> None:
    environment = {**os.environ, **env}
    run = subprocess.run([cli(), "serve", *option], capture_output=True, text=True, timeout=60, env=environment)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert "at least 1: 0" in last or "above 0: soon" in last, run.stderr


def test_a_held_request_is_not_a_slow_client(start_sim: Callable[..., Sim], tmp_path: Path) -> None:
    """A hold is the provider's choice: it outlasts the client timeouts and still answers. A slow
    request pipelined behind it is timed only once the held one is answered, and then gets 408."""
    pack = tmp_path / "hold.yaml"
    pack.write_text(HOLD_PACK)
    server = start_sim("--scenarios", str(pack), "--header-timeout", "1", "--body-timeout", "1", "--no-watch")
    lid = str(uuid.uuid4())
    body = json.dumps(lookup("HOLDPASTTIMEOUTS", lid)).encode()
    held = post(f"/meterLookups/{lid}", JSON, b"Content-Length: %d" % len(body)) + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(held + b"GET /health HTTP/1.1\r\nHost: sim\r\nX-Never-Ends: ")
        assert read_answer(sock).status == 201
        assert read_answer(sock).status == 408


def test_past_the_connection_limit_a_new_client_gets_503(start_sim: Callable[..., Sim]) -> None:
    """Past --max-connections a request is refused before it is processed, and says so: 503
    with Retry-After (a closed connection would leave the PoS unsure whether it was)."""
    server = start_sim("--max-connections", "3")
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        time.sleep(0.2)  # let the server accept them
        pid = str(uuid.uuid4())
        r = httpx.post(f"{server.base}{BASE}/tokenPurchases/{pid}", json=purchase(METER, 1000, pid), auth=AUTH)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and r.headers["connection"] == "close"
        assert_conforms("createTokenPurchaseRequest", r)
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)  # let the server see them go
    r = httpx.post(f"{server.base}{BASE}/tokenPurchases/{pid}", json=purchase(METER, 1000, pid), auth=AUTH)
    assert r.status_code == 201, r.text  # the refused attempt was not processed: the id is still free


def test_a_connection_that_never_sends_is_closed_after_the_idle_timeout(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--idle-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        assert sock.recv(1) == b""


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--idle-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: sim\r\n\r\n")
        assert read_answer(sock).status == 200
        assert sock.recv(1) == b""


def test_a_connection_in_steady_use_outlives_every_timeout(start_sim: Callable[..., Sim]) -> None:
    """Each request sets the connection's deadlines afresh: requests spaced under the timeouts,
    on one connection for three times as long, are all answered."""
    server = start_sim("--idle-timeout", "1", "--header-timeout", "1", "--body-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for _ in range(10):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: sim\r\n\r\n")
            assert read_answer(sock).status == 200
            time.sleep(0.3)


def test_a_head_begun_on_an_idle_connection_gets_the_header_timeout(start_sim: Callable[..., Sim]) -> None:
    """The idle deadline passes while a head is arriving: the client is then slow, not idle, and
    hears 408 when its header time is up instead of being dropped without an answer."""
    server = start_sim("--idle-timeout", "1", "--header-timeout", "2.5")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        time.sleep(0.5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: sim\r\nX-Slow: ")
        began = time.monotonic()
        answer = read_answer(sock)
        assert answer.status == 408, answer.body
        assert time.monotonic() - began >= 2.0  # not the idle deadline, 0.5 s after the head began
