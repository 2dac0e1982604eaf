"""Token vending arithmetic: how an approved amount becomes tokens, charges, units and VAT.

The contract's rule, which every breakdown here keeps: a TaxableAmount's ``amount`` excludes its
``tax``, and over all tokens, debt recovery charges and service charges, amount + tax equals the
approved purchase amount. Tokens that cost nothing (free, key change, refund, power limit) carry 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Protocol

from ppu_sim.provider.draws import Draws

TOKEN_TYPES = ("STD", "BSST", "REFUND", "KC", "PWRLMT")
ZERO_VALUE_TOKENS = frozenset({"BSST", "REFUND", "KC", "PWRLMT"})


@dataclass(frozen=True)
class TariffBlock:
    """``units`` is the block's size (None: unbounded); ``rate`` is minor units per unit, VAT inclusive."""

    rate: Decimal
    units: Decimal | None = None


@dataclass(frozen=True)
class TokenSpec:
    type: str
    units: Decimal = Decimal(0)


@dataclass(frozen=True)
class ChargeSpec:
    """A deduction from the purchase; ``amount`` is VAT inclusive, or ``percent`` of the approved amount."""

    description: str
    amount: int | None = None
    percent: Decimal | None = None
    balance: int | None = None

    def wanted(self, approved: int) -> int:
        """What the charge asks of this purchase, before it is capped by the money left (and the balance)."""
        if self.amount is not None:
            return self.amount
        return int((Decimal(approved) * (self.percent or Decimal(0)) / 100).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class VendSpec:
    tokens: tuple[TokenSpec, ...] = (TokenSpec("STD"),)
    tariff: tuple[TariffBlock, ...] = (TariffBlock(Decimal("250.00")),)
    vat_rate: Decimal = Decimal(15)
    debt_recovery: tuple[ChargeSpec, ...] = ()
    service_charges: tuple[ChargeSpec, ...] = ()


@dataclass
class Breakdown:
    """The money-carrying part of a PurchaseResponse."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    debt_recovery: list[dict[str, Any]] = field(default_factory=list)
    service_charges: list[dict[str, Any]] = field(default_factory=list)
    purchase_total: int = 0
    tax_total: int = 0

    def as_response_fields(self, currency: str) -> dict[str, Any]:
        return {
            "purchaseTotal": {"amount": self.purchase_total, "currency": currency},
            "taxTotal": {"amount": self.tax_total, "currency": currency},
            "tokens": self.tokens,
            "debtRecoveryCharges": self.debt_recovery,
            "serviceCharges": self.service_charges,
        }


class TokenIssuer(Protocol):
    def issue(self, token_type: str, units: Decimal) -> list[tuple[str, Decimal]]:
        """The token(s) of one type, as 20 digits ("" in a trial) with the units each really carries."""


@dataclass
class RandomTokens:
    """Tokens that are only numbers: the TST meters' tokens, and a trial's empty ones."""

    rng: Draws | None  # None: a trial, which issues no numbers

    def issue(self, token_type: str, units: Decimal) -> list[tuple[str, Decimal]]:
        count = 2 if token_type == "KC" else 1  # a key change is a pair: one token per key register
        return [(token_number(self.rng) if self.rng else "", units) for _ in range(count)]


def token_number(rng: Draws) -> str:
    """A 20-digit STS token number."""
    return f"{rng.randrange(10**20):020d}"


def receipt_number(rng: Draws, prefix: str = "RCT") -> str:
    return f"{prefix}{rng.randrange(10**9):09d}"


@lru_cache(maxsize=4096)
def split_vat(gross: int, rate: Decimal) -> tuple[int, int]:
    """Split a VAT-inclusive amount into (amount excluding tax, tax), in whole minor units.

    Cached, like :func:`units_for`: a PoS buys the same few amounts over and over, and the
    decimal arithmetic costs more than the lookup."""
    tax = int((Decimal(gross) * rate / (Decimal(100) + rate)).quantize(Decimal(1), ROUND_HALF_UP))
    return gross - tax, tax


@lru_cache(maxsize=4096)
def units_for(gross: int, tariff: tuple[TariffBlock, ...]) -> tuple[Decimal, list[dict[str, Any]]]:
    """Units bought by a VAT-inclusive amount, filling tariff blocks in order (0.1 unit resolution).

    The breakdown is shared by every answer for the same amount and tariff, and never edited."""
    left = Decimal(gross)
    total = Decimal(0)
    calc: list[dict[str, Any]] = []
    for block in tariff:
        if left <= 0:
            break
        affordable = (left / block.rate).quantize(Decimal("0.1"), ROUND_DOWN)
        units = affordable if block.units is None else min(affordable, block.units)
        if units <= 0:
            break
        calc.append({"units": float(units), "rate": float(block.rate)})
        total += units
        left -= units * block.rate
    return total, calc


def taxable(amount: int, tax: int, currency: str, rate: Decimal) -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "tax": tax, "taxType": "VAT", "taxRate": float(rate)}


def vend(approved: int, currency: str, spec: VendSpec, rng: Draws, issuer: TokenIssuer) -> Breakdown:
    """Turn an approved amount into charges first, then tokens for what is left.

    A token with no number (a trial's) gets no receipt number either.
    """
    out = Breakdown()
    left = approved
    for charge in spec.service_charges:
        gross = min(charge.wanted(approved), left)
        left -= gross
        net, tax = split_vat(gross, spec.vat_rate)
        out.service_charges.append(
            {"amount": taxable(net, tax, currency, spec.vat_rate), "description": charge.description}
        )
        out.tax_total += tax
    for charge in spec.debt_recovery:
        wanted = charge.wanted(approved)
        owed = charge.balance if charge.balance is not None else wanted
        gross = max(0, min(wanted, left, owed))
        left -= gross
        net, tax = split_vat(gross, spec.vat_rate)
        out.debt_recovery.append(
            {
                "amount": taxable(net, tax, currency, spec.vat_rate),
                "description": charge.description,
                "balance": {"amount": owed - gross, "currency": currency},
                "receiptNum": receipt_number(rng, "DRC"),
            }
        )
        out.tax_total += tax
    for token in spec.tokens:
        out.tokens.extend(_tokens_of(token, left, currency, spec, rng, issuer))
        if token.type == "STD":
            left = 0  # one standard token takes all that is left
    out.purchase_total = sum(t["amount"]["amount"] for t in out.tokens)
    out.tax_total += sum(t["amount"]["tax"] for t in out.tokens)
    return out


def _tokens_of(
    token: TokenSpec, left: int, currency: str, spec: VendSpec, rng: Draws, issuer: TokenIssuer
) -> list[dict[str, Any]]:
    def made(units: Decimal, amount: dict[str, Any], calc: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        out = []
        for digits, carried in issuer.issue(token.type, units):
            entry: dict[str, Any] = {
                "tokenType": token.type,
                "units": float(carried),
                "amount": amount,
                "token": digits,
            }
            if digits:
                entry["receiptNum"] = receipt_number(rng)
            entry["tariffCalc"] = calc or []  # a list Jackson always writes, empty or not
            out.append(entry)
        return out

    if token.type == "STD":
        if left <= 0:
            return []
        units, calc = units_for(left, spec.tariff)
        net, tax = split_vat(left, spec.vat_rate)
        return made(units, taxable(net, tax, currency, spec.vat_rate), calc)
    return made(token.units, taxable(0, 0, currency, spec.vat_rate))
