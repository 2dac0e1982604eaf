"""The judge: a session's journal in, one verdict per rule out (pass, fail with evidence, not exercised)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from ppu_sim.interface.validation import UUID_V4
from ppu_sim.referee.contract import strict_problems
from ppu_sim.referee.messages import ATTEMPTS, NEW_MESSAGES, PURCHASE, RETRIES, Msg, messages
from ppu_sim.referee.rules import RULES, Rule

RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
RETRY_KEPT = ("meter", "purchaseAmount", "tenders", "paymentMethods")


@dataclass(frozen=True)
class Settings:
    """What the judge cannot read from the journal: the provider's expectations."""

    expect_confirmations: bool = False
    clock_tolerance_s: float = 300.0


@dataclass(frozen=True)
class Finding:
    seqs: tuple[int, ...]
    ids: tuple[str, ...]
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seqs": list(self.seqs), "ids": list(self.ids), "message": self.message}


@dataclass
class Verdict:
    rule: Rule
    exercised: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.findings:
            return "fail"
        return "pass" if self.exercised else "not exercised"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "severity": self.rule.severity,
            "status": self.status,
            "findings": [f.as_json() for f in self.findings],
        }


class Session:
    """The journal sorted into what the rules ask about: purchases, their attempts, their advices."""

    def __init__(self, exchanges: Iterable[dict[str, Any]], settings: Settings) -> None:
        self.settings = settings
        self.all = messages(exchanges)
        self.attempts: dict[str, list[Msg]] = defaultdict(list)
        self.advices: dict[tuple[str, str], list[Msg]] = defaultdict(list)  # (kind, transaction)
        self.owners: dict[str, list[Msg]] = defaultdict(list)  # what an advice's transaction was
        for m in self.all:
            if m.operation in ATTEMPTS and m.transaction:
                self.attempts[m.transaction].append(m)
            if m.operation in (*ATTEMPTS, "createKeyChangeTokenRequest") and m.transaction:
                self.owners[m.transaction].append(m)
            if found := m.advice():
                self.advices[(found[0], found[1])].append(m)

    def original(self, purchase_id: str) -> Msg | None:
        attempts = self.attempts.get(purchase_id, [])
        return next((m for m in attempts if m.operation == PURCHASE), attempts[0] if attempts else None)

    def reversals(self, purchase_id: str) -> list[Msg]:
        return self.advices.get(("reversal", purchase_id), [])


Check = Callable[[Session, Verdict], None]
CHECKS: dict[str, Check] = {}


def check(rule_id: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[rule_id] = fn
        return fn

    return register


def judge(exchanges: Iterable[dict[str, Any]], settings: Settings | None = None) -> list[Verdict]:
    """Every rule of the catalogue, in its order, judged on the exchanges."""
    session = Session(exchanges, settings or Settings())
    verdicts = []
    for rule in RULES:
        verdict = Verdict(rule)
        CHECKS[rule.id](session, verdict)
        verdicts.append(verdict)
    return verdicts


def _ids(m: Msg) -> dict[str, str]:
    """The ids of a message as the PoS wrote them: body `id` and every path id."""
    found = {f"path {k}": v for k, v in m.path_ids.items()}
    if m.body_id is not None:
        found["body id"] = m.body_id
    return found


@check("id-format")
def _id_format(s: Session, v: Verdict) -> None:
    for m in s.all:
        ids = _ids(m)
        v.exercised |= bool(ids)
        bad = {where: value for where, value in ids.items() if not UUID_V4.fullmatch(value)}
        if bad:
            shown = ", ".join(f"{where} {value!r}" for where, value in bad.items())
            v.findings.append(
                Finding((m.seq,), tuple(dict.fromkeys(bad.values())), f"{m.label()}: {shown} is not a variant 4 UUID")
            )


@check("id-unique")
def _id_unique(s: Session, v: Verdict) -> None:
    first: dict[tuple[str, str], Msg] = {}
    advice_owner: dict[tuple[str, str], Msg] = {}
    seen_ids: set[str] = set()
    for m in s.all:
        reported = False
        param = NEW_MESSAGES.get(m.operation or "")
        if param and (own := m.path_ids.get(param)):
            v.exercised = True
            earlier = first.setdefault((m.operation or "", own), m)
            if earlier is not m:
                reported = True
                v.findings.append(
                    Finding((earlier.seq, m.seq), (own,), f"{m.label()} reuses the id {own} of #{earlier.seq}")
                )
        if found := m.advice():
            kind, _, own = found
            v.exercised = True
            earlier = advice_owner.setdefault((kind, own), m)
            if earlier.advice() != found:
                reported = True
                v.findings.append(
                    Finding(
                        (earlier.seq, m.seq),
                        (own,),
                        f"{m.label()} uses the {kind} id {own} of #{earlier.seq}, about {earlier.transaction}",
                    )
                )
        ids = set(_ids(m).values())
        if m.error_type == "DUPLICATE_RECORD" and not reported and ids & seen_ids:
            v.findings.append(
                Finding((m.seq,), tuple(sorted(ids & seen_ids)), f"{m.label()} DUPLICATE_RECORD: a used id")
            )
        seen_ids |= ids


@check("lost-reply-no-new-purchase")
def _no_new_purchase(s: Session, v: Verdict) -> None:
    unresolved: dict[str, dict[str, Msg]] = defaultdict(dict)  # meter -> purchase id -> its lost answer
    lost_on: dict[str, set[str]] = defaultdict(set)  # purchase id -> the meters it is unresolved on
    for m in s.all:
        pid, meter = m.transaction or "", m.meter or ""
        if m.operation == PURCHASE:
            for other, lost in unresolved[meter].items():
                if other != pid:
                    v.findings.append(
                        Finding(
                            (lost.seq, m.seq),
                            (other, pid),
                            f"{m.label()} buys again for meter {meter} while purchase {other} ({lost.label()}) "
                            "has no final answer: a possible double vend; retry it or reverse it first",
                        )
                    )
        if m.operation in ATTEMPTS:
            if m.lost:
                v.exercised = True
                unresolved[meter][pid] = m
                lost_on[pid].add(meter)
            else:
                unresolved[meter].pop(pid, None)
        elif m.operation == "reverseTokenPurchase":  # only the meters it is lost on: not every meter's
            for where in lost_on.pop(pid, ()):
                unresolved[where].pop(pid, None)


@check("lost-reply-resolved")
def _resolved(s: Session, v: Verdict) -> None:
    for pid, attempts in s.attempts.items():
        if not any(m.lost for m in attempts):
            continue
        v.exercised = True
        last = attempts[-1]
        if last.lost and not any(r.seq > last.seq for r in s.reversals(pid)):
            v.findings.append(
                Finding(
                    (last.seq,),
                    (pid,),
                    f"purchase {pid}: its last attempt {last.label()} got no final answer and the PoS neither "
                    "retried it again nor reversed it",
                )
            )


def _changed(m: Msg, original: Msg, fields: Iterable[str]) -> list[str]:
    before, after = original.body, m.body
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    return [f for f in fields if before.get(f) != after.get(f)]


def _retries(s: Session) -> Iterable[tuple[Msg, Msg]]:
    for pid, attempts in s.attempts.items():
        original = s.original(pid)
        for m in attempts:
            if m.operation in RETRIES and original is not None and original is not m:
                yield m, original


@check("retry-unchanged")
def _retry_unchanged(s: Session, v: Verdict) -> None:
    for m, original in _retries(s):
        v.exercised = True
        if changed := _changed(m, original, RETRY_KEPT):
            v.findings.append(
                Finding(
                    (original.seq, m.seq),
                    (m.transaction or "",),
                    f"{m.label()} changes {', '.join(changed)} of the original purchase #{original.seq}; a retry "
                    "resubmits the original request",
                )
            )


@check("retry-same-id-and-time")
def _retry_same(s: Session, v: Verdict) -> None:
    for m, original in _retries(s):
        v.exercised = True
        if changed := _changed(m, original, ("id", "time")):
            v.findings.append(
                Finding(
                    (original.seq, m.seq),
                    (m.transaction or "",),
                    f"{m.label()} sends a different {' and '.join(changed)} from the original purchase #{original.seq}",
                )
            )


@check("advice-repeated-until-final")
def _until_final(s: Session, v: Verdict) -> None:
    for (kind, owner), chain in s.advices.items():
        if not any(m.lost for m in chain):
            continue
        v.exercised = True
        last = chain[-1]
        if not last.final:
            v.findings.append(
                Finding(
                    (last.seq,),
                    (owner, last.advice()[2]),  # type: ignore[index]
                    f"the {kind} of {owner} was last sent as {last.label()} and never repeated until 202 or 4xx",
                )
            )


@check("advice-same-id-and-body")
def _same_advice(s: Session, v: Verdict) -> None:
    for (kind, owner), chain in s.advices.items():
        for before, after in pairwise(chain):
            if before.final:
                continue
            v.exercised = True
            old_id, new_id = before.advice()[2], after.advice()[2]  # type: ignore[index]
            if old_id != new_id:
                why = f"a new {kind} id {new_id} instead of {old_id}"
            elif before.body != after.body:
                both = isinstance(before.body, dict) and isinstance(after.body, dict)
                fields = sorted({*before.body, *after.body}) if both else []
                why = f"a different body ({', '.join(_changed(after, before, fields)) or 'not JSON'})"
            else:
                continue
            v.findings.append(
                Finding(
                    (before.seq, after.seq),
                    (owner, old_id, new_id) if old_id != new_id else (owner, old_id),
                    f"{after.label()} repeats the {kind} of {owner} ({before.label()}) with {why}",
                )
            )


@check("no-confirm-after-reversal")
def _no_flip(s: Session, v: Verdict) -> None:
    for pid in s.attempts:
        chains = {kind: s.advices.get((kind, pid), []) for kind in ("confirmation", "reversal")}
        for kind, other in (("confirmation", "reversal"), ("reversal", "confirmation")):
            accepted = next((m for m in chains[kind] if m.accepted), None)
            if accepted is None:
                continue
            v.exercised = True
            for m in chains[other]:
                if m.seq > accepted.seq:
                    v.findings.append(
                        Finding(
                            (accepted.seq, m.seq),
                            (pid,),
                            f"{m.label()} sends a {other} of {pid} after its {kind} was accepted ({accepted.label()})",
                        )
                    )


def _response_before(s: Session, owner: str, seq: int) -> Msg | None:
    """The last answer to the advice's transaction that reached the PoS whole before the advice."""
    delivered = [m for m in s.owners.get(owner, []) if m.seq < seq and m.accepted and isinstance(m.answer, dict)]
    return delivered[-1] if delivered else None


@check("advice-third-party-ids")
def _third_party(s: Session, v: Verdict) -> None:
    for (_, owner), chain in s.advices.items():
        request = next(iter(s.owners.get(owner, [])), None)
        for m in chain:
            response = _response_before(s, owner, m.seq)
            source = response.answer if response else (request.body if request else None)
            if not isinstance(source, dict) or "thirdPartyIdentifiers" not in source or not isinstance(m.body, dict):
                continue
            v.exercised = True
            expected, sent = source["thirdPartyIdentifiers"], m.body.get("thirdPartyIdentifiers")
            if sent != expected:
                origin = f"the purchase response {response.label()}" if response else "the purchase request"
                v.findings.append(
                    Finding(
                        (m.seq,) + ((response.seq,) if response else ()),
                        (owner,),
                        f"{m.label()} carries thirdPartyIdentifiers {sent!r}, not {origin}'s {expected!r} unaltered",
                    )
                )


def _amount(value: Any) -> int | None:
    amount = value.get("amount") if isinstance(value, dict) else None
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


@check("confirmation-amount")
def _confirmed_amount(s: Session, v: Verdict) -> None:
    for (kind, owner), chain in s.advices.items():
        if kind != "confirmation":
            continue
        for m in chain:
            response = _response_before(s, owner, m.seq)
            amounts = (response.answer.get("amounts") or {}) if response else {}
            approved = _amount(amounts.get("approvedAmount"))
            if approved is None or not isinstance(m.body, dict):
                continue
            v.exercised = True
            confirmed = _amount((m.body.get("amounts") or {}).get("approvedAmount"))
            tenders = [_amount(t.get("amount")) for t in m.body.get("tenders") or () if isinstance(t, dict)]
            paid = sum(t for t in tenders if t is not None)
            over = []
            if confirmed is not None and confirmed > approved:
                over.append(f"amounts.approvedAmount {confirmed}")
            if paid > approved:
                over.append(f"tenders totalling {paid}")
            if over:
                v.findings.append(
                    Finding(
                        (response.seq, m.seq),  # type: ignore[union-attr]
                        (owner,),
                        f"{m.label()} confirms {' and '.join(over)}, more than the {approved} approved in "
                        f"{response.label()}",  # type: ignore[union-attr]
                    )
                )


def _issued_tokens(m: Msg) -> bool:
    return isinstance(m.answer, dict) and bool(m.answer.get("tokens"))


@check("purchase-settled")
def _settled(s: Session, v: Verdict) -> None:
    if not s.settings.expect_confirmations:
        return
    for pid, attempts in s.attempts.items():
        vended = next((m for m in attempts if _issued_tokens(m)), None)
        if vended is None:
            continue
        v.exercised = True
        if not s.advices.get(("confirmation", pid)) and not s.reversals(pid):
            v.findings.append(
                Finding(
                    (vended.seq,),
                    (pid,),
                    f"purchase {pid} issued tokens ({vended.label()}) but was never confirmed or reversed",
                )
            )


def _parsed(value: str) -> datetime | None:
    """An RFC 3339 date-time as Python 3.10 reads it: "Z" as +00:00, the fraction as microseconds."""
    found = RFC3339.fullmatch(value)
    if found is None:
        return None
    fraction = (found.group(1) or ".")[1:]
    offset = found.group(2).upper().replace("Z", "+00:00")
    plain = f"{value[:19].replace('t', 'T')}.{fraction[:6].ljust(6, '0')}{offset}"
    try:
        return datetime.fromisoformat(plain)
    except ValueError:  # a 25th hour, a 31st of February
        return None


@check("message-time")
def _time(s: Session, v: Verdict) -> None:
    first_seen: dict[tuple[str, str], datetime] = {}  # a resent message keeps the time it was first sent
    for m in s.all:
        sent = m.body.get("time") if isinstance(m.body, dict) else None
        if sent is None:
            continue
        v.exercised = True
        when = _parsed(sent) if isinstance(sent, str) else None
        if when is None:
            v.findings.append(
                Finding((m.seq,), (), f"{m.label()}: time {sent!r} is not an RFC 3339 date-time with an offset")
            )
            continue
        reference = first_seen.setdefault((m.transaction or m.body_id or "", sent), m.received)
        skew = abs((when - reference).total_seconds())
        if skew > s.settings.clock_tolerance_s:
            v.findings.append(
                Finding(
                    (m.seq,),
                    (),
                    f"{m.label()}: time {sent} is {skew:.0f} s from the simulator's clock "
                    f"(tolerance {s.settings.clock_tolerance_s:.0f} s)",
                )
            )


@check("strict-contract")
def _strict(s: Session, v: Verdict) -> None:
    for m in s.all:
        if not isinstance(m.body, dict):
            continue
        v.exercised = True
        if problems := strict_problems(m.operation or "", m.body):
            v.findings.append(Finding((m.seq,), (), f"{m.label()}: {'; '.join(problems)}"))
