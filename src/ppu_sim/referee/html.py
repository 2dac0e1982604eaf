"""The report as one self-contained HTML page: verdicts first, then each purchase's story.

No external asset (styles inline, diagrams as inline SVG), so the page can be attached to a CI
run and opened anywhere. A story is a sequence diagram: the PoS on the left, the provider on the
right, one arrow per request and one per answer (dashed and red when the PoS never got it), and
under it the findings that name its messages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container
from html import escape
from typing import Any

from ppu_sim.referee.messages import ATTEMPTS, Msg, messages

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.pass{background:#e6f4ea}.fail{background:#fde7e9}.not-exercised,.not-done{background:#f1f1f1;color:#666}
.summary{font-size:1.2em;font-weight:600}.ok{color:#137333}.bad{color:#b3261e}
.evidence{margin:.2em 0 0 1em;font-family:ui-monospace,monospace;font-size:.9em}
.findings{color:#b3261e;font-family:ui-monospace,monospace;font-size:.9em}
svg text{font:12px ui-monospace,monospace}
"""
_ROW = 34
_WIDTH = 760


def html_page(report: dict[str, Any], exchanges: list[dict[str, Any]]) -> str:
    summary = report["summary"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ppu-sim referee: {escape(report['session'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>ppu-sim referee: session {escape(report['session'])}</h1>",
        f'<p id="summary" class="summary {"ok" if report["ok"] else "bad"}">{escape(summary["text"])}</p>',
        "<h2>Verdicts</h2>",
        '<table id="verdicts"><tr><th>rule</th><th>severity</th><th>verdict</th><th>evidence</th></tr>',
    ]
    for rule in report["rules"]:
        evidence = "".join(f'<div class="evidence">{escape(f["message"])}</div>' for f in rule["findings"]) or escape(
            rule["judged"] if rule["status"] == "pass" else f"needs {rule['exercisedBy']}"
        )
        parts.append(
            f'<tr class="verdict {rule["status"].replace(" ", "-")}" data-rule="{escape(rule["rule"])}">'
            f"<td><b>{escape(rule['rule'])}</b><br>{escape(rule['title'])}</td><td>{rule['severity']}</td>"
            f'<td class="status">{rule["status"]}</td><td>{evidence}</td></tr>'
        )
    parts.append("</table>")
    plan = report.get("plan")
    if plan:
        parts.append(f"<h2>Plan {escape(plan['name'])}</h2>")
        parts.append(
            '<table id="exercises"><tr><th>exercise</th><th>meter</th><th>verdict</th><th>what to do</th></tr>'
        )
        for e in plan["exercises"]:
            note = f"<br>missing: {escape(', '.join(e['missing']))}" if e["missing"] else ""
            note += f"<br>failed: {escape(', '.join(e['failedRules']))}" if e["failedRules"] else ""
            parts.append(
                f'<tr class="exercise {e["status"].replace(" ", "-")}" data-exercise="{escape(e["id"])}">'
                f"<td><b>{escape(e['id'])}</b><br>{escape(e['title'])}</td><td>{escape(e['meter'])}</td>"
                f'<td class="status">{e["status"]}{note}</td><td>{escape(e["do"])}</td></tr>'
            )
        parts.append("</table>")
    parts.append("<h2>Purchases</h2>")
    findings = [(rule["rule"], f) for rule in report["rules"] for f in rule["findings"]]
    naming = _naming(findings)
    stories = _stories(messages(exchanges))
    if not stories:
        parts.append("<p>No purchase in this session.</p>")
    for pid, story in stories.items():
        meter = next((m.meter for m in story if m.meter), "?")
        parts.append(
            f'<h3 class="story" data-purchase="{escape(pid)}">Purchase {escape(pid)} (meter {escape(meter)})</h3>'
        )
        parts.append(_diagram(story, naming))
        named = sorted({i for m in story for i in naming.get(m.seq, ())})
        notes = [f"<li><b>{escape(findings[i][0])}</b>: {escape(findings[i][1]['message'])}</li>" for i in named]
        if notes:
            parts.append(f'<ul class="findings">{"".join(notes)}</ul>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _naming(findings: list[tuple[str, dict[str, Any]]]) -> dict[int, list[int]]:
    """Per message, the findings (their places in ``findings``) that name it: a story looks up its
    own messages, rather than every story reading every finding (5,000 purchases each with a
    finding: some 6 s)."""
    out: dict[int, list[int]] = defaultdict(list)
    for i, (_, finding) in enumerate(findings):
        for seq in finding["seqs"]:
            out[seq].append(i)
    return out


def _stories(msgs: list[Msg]) -> dict[str, list[Msg]]:
    """Each purchase's messages (the purchase, its retries and advices), in order."""
    stories: dict[str, list[Msg]] = defaultdict(list)
    for m in msgs:
        advice = m.advice()
        if m.transaction and (m.operation in ATTEMPTS or (advice and advice[0] != "key change confirmation")):
            stories[m.transaction].append(m)
    return stories


def _answer(m: Msg) -> str:
    if m.raw.get("fault") in ("reset", "close", "hold-close"):
        return f"{m.raw['fault']}: no answer"
    text = "held, no answer yet" if m.status is None else str(m.status)
    if m.error_type:
        text += f" {m.error_type}"
    if m.raw.get("fault"):
        text += f" ({m.raw['fault']})"
    return text


def _diagram(story: list[Msg], flagged: Container[int]) -> str:
    left, right = 90, _WIDTH - 90
    height = 50 + _ROW * 2 * len(story)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker></defs>',
        f'<text x="{left}" y="18" text-anchor="middle" font-weight="bold">PoS</text>',
        f'<text x="{right}" y="18" text-anchor="middle" font-weight="bold">provider</text>',
        f'<line x1="{left}" y1="26" x2="{left}" y2="{height}" stroke="#999"/>',
        f'<line x1="{right}" y1="26" x2="{right}" y2="{height}" stroke="#999"/>',
    ]
    y = 26
    for m in story:
        y += _ROW
        colour = "#b3261e" if m.seq in flagged else "#1a4f9c"
        label = f"#{m.seq} {m.operation} {m.advice()[2][:8] if m.advice() else ''}".strip()
        out.append(f'<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="{colour}" marker-end="url(#a)"/>')
        out.append(f'<text x="{left + 8}" y="{y - 5}" fill="{colour}">{escape(label)}</text>')
        y += _ROW
        lost = m.lost
        dash = ' stroke-dasharray="6 4"' if lost else ""
        answer_colour = "#b3261e" if lost else "#137333"
        out.append(
            f'<line x1="{right}" y1="{y}" x2="{left}" y2="{y}" stroke="{answer_colour}"{dash} marker-end="url(#a)"/>'
        )
        shown = _answer(m) + (" (lost)" if lost else "")
        out.append(f'<text x="{right - 8}" y="{y - 5}" text-anchor="end" fill="{answer_colour}">{escape(shown)}</text>')
    out.append("</svg>")
    return "\n".join(out)
