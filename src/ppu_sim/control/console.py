"""`ppu-sim journal` and `ppu-sim transactions`: the control API read by a person at a terminal.

One line per exchange (time, session, operation, ids, status, errorType, scenario, fault), in
colour on a terminal and plain when piped; ``--format json`` for tools.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from ppu_sim.testing import ControlClient

FOLLOW_INTERVAL = 0.5
_RESET = "\033[0m"
_COLOURS = {"2": "\033[32m", "4": "\033[33m", "5": "\033[31m"}
_FAULT = "\033[35m"


def exchange_line(e: dict[str, Any], colour: bool) -> str:
    """One readable line, e.g.
    ``10:15:30.123 job-42 #3 createTokenPurchaseRequest purchaseId=... 504 UPSTREAM_UNAVAILABLE [edge/lost]``
    """
    ids = " ".join(f"{k}={v}" for k, v in e.get("pathIds", {}).items())
    status = str(e.get("status", "..."))
    parts = [
        e["received"][11:23],
        e["session"],
        f"#{e['seq']}",
        e.get("operation") or f"{e['method']} {e['path']}",
        ids,
        _paint(status, _COLOURS.get(status[0], ""), colour),
        e.get("errorType", ""),
        f"[{e['pack']}/{e['scenario']}]" if e.get("scenario") else "",
        _paint(f"fault:{e['fault']}", _FAULT, colour) if e.get("fault") else "",
        f"delay:{e['delaySeconds']:g}s" if e.get("delaySeconds") else "",
        "client gone" if e.get("clientGone") else "",
    ]
    return " ".join(p for p in parts if p)


def _paint(text: str, code: str, colour: bool) -> str:
    return f"{code}{text}{_RESET}" if colour and code else text


def print_journal(
    client: ControlClient,
    out: TextIO,
    *,
    as_json: bool,
    follow: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print the session's exchanges; with ``follow``, keep printing new ones as they complete.

    A held exchange is printed once it completes, in its place among the ones after it.
    """
    colour = out.isatty() and not as_json
    since, printed = 0, set()
    while True:
        pending = None
        for e in client.journal(since=since):
            if e["seq"] in printed:
                continue
            if not e["complete"]:
                pending = e["seq"] if pending is None else pending
                continue
            out.write((json.dumps(e) if as_json else exchange_line(e, colour)) + "\n")
            printed.add(e["seq"])
        out.flush()
        if not follow:
            return
        since = pending - 1 if pending is not None else max(printed, default=since)
        printed = {seq for seq in printed if seq > since}
        sleep(FOLLOW_INTERVAL)


def print_transactions(client: ControlClient, out: TextIO, fmt: str) -> None:
    if fmt == "csv":
        out.write(client.transactions_csv())
        return
    table = client.transactions()
    if fmt == "json":
        out.write(json.dumps(table, indent=2) + "\n")
        return
    out.write(f"{'PURCHASE':<36} {'METER':<14} {'STATE':<10} {'ASKED':>8} {'APPROVED':>8} RETRIES ADVICES\n")
    for row in table["transactions"]:
        asked, approved = row.get("requestedAmount") or {}, row.get("approvedAmount") or {}
        advices = ",".join(a["kind"] for a in row["advices"]) or "-"
        out.write(
            f"{row['purchaseId']:<36} {row.get('meterId', ''):<14} {row['state']:<10} "
            f"{asked.get('amount', ''):>8} {approved.get('amount', ''):>8} {row['retries']:>7} {advices}\n"
        )
    totals = ", ".join(f"{state} {n}" for state, n in table["totals"].items() if n)
    out.write(f"{table['count']} purchase(s): {totals or 'none'}\n")
