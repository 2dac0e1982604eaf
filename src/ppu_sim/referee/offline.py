"""`ppu-sim report`: fetch a session's journal (or read a saved one), judge it, write the outputs.

The journal is judged here, not by the server, so a plan file of your own works as well as a
shipped one, and ``--offline`` gives exactly what the live session would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from ppu_sim.referee.html import html_page
from ppu_sim.referee.junit import junit_xml
from ppu_sim.referee.plan import PlanError, find_plan
from ppu_sim.referee.report import build_report, settings_for, text_summary


class ReportError(Exception):
    """A plan, journal file or server that cannot be used: one line, exit status 2."""


def read_journal(path: Path) -> tuple[list[dict[str, Any]], int]:
    """A saved journal and how many exchanges it had dropped: the /sim/journal answer, a JSON array
    of exchanges, or one exchange per line (the last two do not say)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise ReportError(f"{path}: not a journal (JSON, or one JSON exchange per line): {exc}") from None
    exchanges = data.get("exchanges") if isinstance(data, dict) else data
    if not isinstance(exchanges, list) or not all(isinstance(e, dict) and "seq" in e for e in exchanges):
        raise ReportError(f"{path}: not a journal: expected exchanges with a seq each")
    dropped = data.get("dropped", 0) if isinstance(data, dict) else 0
    return exchanges, dropped if isinstance(dropped, int) else 0


def _live(args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    from ppu_sim.testing import ControlClient, ControlError

    client = ControlClient(args.url, args.session, args.admin_token or None)
    try:
        exchanges = client.journal()
        live = client.sessions()["sessions"]
    except ControlError as exc:
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ReportError(f"cannot reach {args.url}: {exc}") from None
    return exchanges, next((s["dropped"] for s in live if s["name"] == args.session), 0)


def write_report(args: argparse.Namespace, out: TextIO) -> int:
    """Print the summary, write the files asked for; 1 when an error-severity rule failed."""
    try:
        plan = find_plan(args.plan) if args.plan else None
    except PlanError as exc:
        raise ReportError("\n".join(exc.problems)) from None
    exchanges, dropped = read_journal(args.offline) if args.offline else _live(args)
    session = exchanges[0]["session"] if args.offline and exchanges else args.session
    expect = None if args.confirmations is None else args.confirmations == "expected"
    report = build_report(exchanges, session, plan, settings_for(plan, expect), dropped)
    outputs = (
        (args.junit, lambda: junit_xml(report)),
        (args.html, lambda: html_page(report, exchanges)),
        (args.json, lambda: json.dumps(report, indent=2) + "\n"),
    )
    for path, render in outputs:
        if path is not None:
            try:
                path.write_text(render(), "utf-8")
            except OSError as exc:
                raise ReportError(f"cannot write {path}: {exc.strerror}") from None
    print(text_summary(report), file=out)
    return 0 if report["ok"] else 1
