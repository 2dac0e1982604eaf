"""The judge on journals written by hand (as `ppu-sim report --offline` reads them): the corners a
live simulator reaches only slowly or by chance."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from ppu_sim.referee.html import html_page
from ppu_sim.referee.judge import Settings, judge
from ppu_sim.referee.report import build_report

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


def exchange(seq: int, operation: str, body: dict[str, Any], status: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "session": "hand",
        "received": (NOW + timedelta(seconds=seq)).isoformat(timespec="milliseconds"),
        "complete": True,
        "operation": operation,
        "pathIds": {"lookupId": body["id"]} if operation == "createMeterLookup" else {},
        "requestBody": body,
        "status": status,
        **extra,
    }


def verdict(exchanges: list[dict[str, Any]], rule: str) -> tuple[str, list[str]]:
    (found,) = [v for v in judge(exchanges, Settings()) if v.rule.id == rule]
    return found.status, [f.message for f in found.findings]


def lookup_at(seq: int, time: Any) -> dict[str, Any]:
    return exchange(seq, "createMeterLookup", {"id": str(uuid.uuid4()), "time": time}, 201)


def test_message_time_reads_every_rfc3339_form_and_refuses_what_is_not() -> None:
    sound = ["2026-11-29T12:00:01.12+02:00", "2026-11-29t10:00:02z", "2026-11-29T10:00:03.1234567Z"]
    assert verdict([lookup_at(i + 1, t) for i, t in enumerate(sound)], "message-time") == ("pass", [])
    status, messages = verdict([lookup_at(1, "2026-11-29T10:00:01"), lookup_at(2, 1764410402)], "message-time")
    assert status == "fail" and len(messages) == 2
    assert "'2026-11-29T10:00:01' is not an RFC 3339 date-time with an offset" in messages[0]
    assert messages[1].startswith("#2 createMeterLookup 201")


def test_a_purchase_still_held_counts_as_unanswered() -> None:
    pid, meter = str(uuid.uuid4()), {"meterId": "EDGEHOLD"}
    held = exchange(1, "createTokenPurchaseRequest", {"id": pid, "meter": meter}, None, complete=False)
    held |= {"transaction": pid, "meterId": "EDGEHOLD"}
    again = exchange(2, "createTokenPurchaseRequest", {"id": str(uuid.uuid4()), "meter": meter}, 201)
    again |= {"transaction": again["requestBody"]["id"], "meterId": "EDGEHOLD"}
    status, messages = verdict([held, again], "lost-reply-no-new-purchase")
    assert status == "fail" and "#1 createTokenPurchaseRequest no answer" in messages[0]


def purchase_at(seq: int, pid: str, status: int | None, operation: str = "createTokenPurchaseRequest") -> dict:
    body = {"id": pid, "meter": {"meterId": "EDGELOST504"}}
    return exchange(seq, operation, body, status) | {"transaction": pid, "meterId": "EDGELOST504"}


def test_every_unresolved_purchase_of_the_meter_is_remembered() -> None:
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    journal = [
        purchase_at(1, first, 504),
        purchase_at(2, second, 504),  # a double vend
        purchase_at(3, second, 202, "retryPurchaseRequest"),  # the second is resolved, the first is not
        purchase_at(4, third, 201),  # so this is another
    ]
    status, messages = verdict(journal, "lost-reply-no-new-purchase")
    assert status == "fail" and len(messages) == 2
    assert messages[0].startswith(
        f"#2 createTokenPurchaseRequest 504 buys again for meter EDGELOST504 while purchase {first}"
    )
    assert messages[1].startswith(
        f"#4 createTokenPurchaseRequest 201 buys again for meter EDGELOST504 while purchase {first}"
    )


class _Counted(list[int]):
    """A finding's seqs that count how often they are read."""

    reads = 0

    def __iter__(self) -> Iterator[int]:
        _Counted.reads += 1
        return super().__iter__()


def test_the_html_page_reads_each_finding_once_not_once_per_purchase() -> None:
    """5,000 purchases each with a finding took the page some 6 s: every story read every finding."""
    pids = [str(uuid.uuid4()) for _ in range(300)]
    late = [purchase_at(i + 1, pid, 201) for i, pid in enumerate(pids)]
    for e in late:
        e["requestBody"]["time"] = "1999-01-01T00:00:00Z"  # a finding of message-time per purchase
    report = build_report(late, "hand")
    findings = [f for rule in report["rules"] for f in rule["findings"]]
    for f in findings:
        f["seqs"] = _Counted(f["seqs"])
    _Counted.reads = 0
    page = html_page(report, late)
    assert len(findings) >= len(pids)
    assert _Counted.reads <= 2 * len(findings), f"{_Counted.reads} reads of {len(findings)} findings"
    assert page.count('<ul class="findings">') == len(pids)
    assert all(f"#{i + 1} createTokenPurchaseRequest 201: time 1999-01-01T00:00:00Z" in page for i in range(len(pids)))


def _calls(work: Callable[[], object]) -> int:
    """How many functions (Python's and C's) ``work`` calls: a measure of work that no load moves."""
    count = 0

    def counted(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(counted)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _lost_and_reversed(meters: int) -> list[dict[str, Any]]:
    """A purchase per meter whose answer was lost, then each reversed."""
    out = []
    for n in range(meters):
        pid, meter = str(uuid.uuid4()), f"EDGELOST{n:04d}"
        lost = exchange(2 * n + 1, "createTokenPurchaseRequest", {"id": pid, "meter": {"meterId": meter}}, 504)
        reversal = exchange(2 * n + 2, "reverseTokenPurchase", {"id": str(uuid.uuid4())}, 202)
        reversal["pathIds"] = {"purchaseId": pid, "reversalId": reversal["requestBody"]["id"]}
        out += [lost | {"transaction": pid, "meterId": meter}, reversal | {"transaction": pid, "meterId": meter}]
    return out


def test_judging_grows_with_the_journal_not_with_its_square() -> None:
    """Twice the purchases, twice the work: a reversal once looked at every meter's lost purchases."""
    small, large = (_lost_and_reversed(n) for n in (1000, 2000))
    judge(small)  # what is built once (the strict contract's validators) is not counted
    ratio = _calls(lambda: judge(large)) / _calls(lambda: judge(small))
    assert ratio < 2.3, ratio
