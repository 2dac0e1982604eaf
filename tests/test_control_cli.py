"""`ppu-sim journal` and `ppu-sim transactions` against a running simulator, as a person runs them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from tests.control import Pos
from tests.support import Sim, cli, new_id, purchase, with_id


def ppu_sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli(), *args], capture_output=True, text=True, timeout=60)


def lost_and_retried(pos: Pos) -> str:
    pid = new_id()
    body = purchase("EDGELOST504", 5000, pid)
    assert pos.post(f"/tokenPurchases/{pid}", body).status_code == 504
    assert pos.post(f"/tokenPurchases/{pid}/retry", with_id(body, new_id())).status_code == 202
    return pid


def test_journal_prints_one_plain_line_per_exchange_when_piped(sim: Sim) -> None:
    pos = Pos(sim)
    pid = lost_and_retried(pos)
    run = ppu_sim("journal", "--url", sim.base, "--session", pos.session)
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    assert "\033[" not in run.stdout
    assert f" {pos.session} #1 createTokenPurchaseRequest purchaseId={pid} 504 UPSTREAM_UNAVAILABLE " in first
    assert first.endswith("[edge-cases/vend-then-504]")
    assert f" {pos.session} #2 retryPurchaseRequest purchaseId={pid} 202 " in second
    as_json = ppu_sim("journal", "--url", sim.base, "--session", pos.session, "--format", "json")
    assert [json.loads(line)["status"] for line in as_json.stdout.splitlines()] == [504, 202]
    pos.close()


def test_transactions_prints_the_reconciliation_table(sim: Sim) -> None:
    pos = Pos(sim)
    pid = lost_and_retried(pos)
    table = ppu_sim("transactions", "--url", sim.base, "--session", pos.session)
    assert table.returncode == 0, table.stderr
    header, row, total = table.stdout.splitlines()
    assert header.split() == ["PURCHASE", "METER", "STATE", "ASKED", "APPROVED", "RETRIES", "ADVICES"]
    assert row.split() == [pid, "EDGELOST504", "retried", "5000", "5000", "1", "-"]
    assert total == "1 purchase(s): retried 1"
    csv = ppu_sim("transactions", "--url", sim.base, "--session", pos.session, "--format", "csv")
    assert csv.stdout.splitlines()[1].startswith(f"{pid},EDGELOST504,retried,")
    pos.close()


def test_follow_prints_exchanges_as_they_happen(sim: Sim) -> None:
    pos = Pos(sim)
    follower = subprocess.Popen(
        [cli(), "journal", "--url", sim.base, "--session", pos.session, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid = lost_and_retried(pos)
        lines = [follower.stdout.readline(), follower.stdout.readline()]
    finally:
        follower.terminate()
        follower.wait(10)
    assert f"#1 createTokenPurchaseRequest purchaseId={pid} 504" in lines[0]
    assert f"#2 retryPurchaseRequest purchaseId={pid} 202" in lines[1]
    pos.close()


def test_errors_are_one_line_and_a_non_zero_exit(start_sim: Callable[..., Sim]) -> None:
    server = start_sim("--admin-token", "t0k")
    unknown = ppu_sim("journal", "--url", server.base, "--session", "nobody", "--admin-token", "t0k")
    assert unknown.returncode == 1
    assert unknown.stderr == "ppu-sim journal: 404 unknown-session: no live session named 'nobody' (field session)\n"
    refused = ppu_sim("transactions", "--url", server.base)
    assert refused.returncode == 1 and "401 unauthorized" in refused.stderr
