"""The rule catalogue: what the interface asks of a PoS, each rule with the text it comes from.

The quotes are the interface's own words (its operation descriptions and field descriptions,
Electrum Prepaid Utility Service Interface v3), copied here so the project needs nothing else.
docs/referee.md lists the same catalogue; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

_ID_TEXT = (
    'Transaction.id / BasicAdvice.id: "The randomly generated UUID identifying this transaction '
    '(advice), as defined for a variant 4 UUID in RFC 4122."'
)
_ADVICE_REPEAT_TEXT = (
    'confirmTokenPurchase: "A confirmation request must be sent repeatedly until an HTTP response code '
    'indicating a final state has been received (i.e. either 202 or 400)." reverseTokenPurchase: "A reversal '
    "request must be sent repeatedly until an HTTP response code indicating a final state has been received "
    '(i.e. either 202 or 400)."'
)
_RETRY_TEXT = (
    'retryPurchaseRequest: "If no response was received to a purchase request due to a timeout or temporary '
    "communications failure, PoS may retry the same purchase request by calling this resource. The original "
    'purchase request will be resubmitted to the provider." Its body: "The original token purchase request."'
)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    source: str  # the interface text the rule comes from
    exercised_by: str
    judged: str


RULES: tuple[Rule, ...] = (
    Rule(
        "id-format",
        "Every message id is a variant 4 UUID",
        "error",
        _ID_TEXT,
        "any request",
        "Each id the PoS chose (the body's `id`, and the path ids of lookups, purchases, advices, reprints, "
        "fault reports and key change requests) must be an RFC 4122 UUID of version 4, variant 1.",
    ),
    Rule(
        "id-unique",
        "A new message never reuses an id",
        "error",
        _ID_TEXT + " The provider answers 400 DUPLICATE_RECORD to an id it already holds.",
        "two or more messages of one kind (lookups, purchases, reprints, advices, ...)",
        "A new lookup, purchase, trial, reprint, fault report or key change request must not carry the id of an "
        "earlier one of its kind; an advice id names one advice of one transaction. Each reuse, and each "
        "DUPLICATE_RECORD answer to an id the session had seen, is a finding.",
    ),
    Rule(
        "lost-reply-no-new-purchase",
        "No new purchase for a meter while a purchase of it has no final answer",
        "error",
        _RETRY_TEXT + ' "If the provider had received the original request, it will respond by returning any '
        'tokens that were already issued."',
        "a purchase whose answer is lost: a 5xx, reset, close, hold, an empty, malformed or truncated body",
        "From the purchase whose answer was lost until it has a final answer (2xx or 4xx, on a retry) or a "
        "reversal, a purchase for the same meter with a new id is a possible double vend.",
    ),
    Rule(
        "lost-reply-resolved",
        "A purchase without a final answer is retried (or reversed) until it has one",
        "error",
        _RETRY_TEXT
        + ' reverseTokenPurchase: "Notifies that a purchase was not completed successfully. This can occur if '
        'the original request timed out."',
        "a purchase whose answer is lost",
        "After every lost answer to a purchase or its retry, the PoS must send another retry of it or a "
        "reversal; a purchase whose last attempt has no final answer and that was never reversed is a finding.",
    ),
    Rule(
        "retry-unchanged",
        "A retry resubmits the original request unchanged",
        "error",
        _RETRY_TEXT,
        "a retry",
        "The retry's meter, purchaseAmount, tenders and paymentMethods must equal those of the original "
        "purchase request (as the journal shows them, secrets masked alike).",
    ),
    Rule(
        "retry-same-id-and-time",
        "A retry keeps the original request's id and time",
        "warning",
        _RETRY_TEXT,
        "a retry",
        "The interface resubmits the original request, so its `id` and `time` stay those of the purchase; a "
        "different one is reported (the provider matches the retry by the path's purchaseId).",
    ),
    Rule(
        "advice-repeated-until-final",
        "An advice is repeated until a final answer (202 or 4xx)",
        "error",
        _ADVICE_REPEAT_TEXT,
        "a confirmation, reversal or key change confirmation answered 5xx or not at all",
        "For every transaction and kind of advice, the last advice the PoS sent must have a final answer.",
    ),
    Rule(
        "advice-same-id-and-body",
        "A repeated advice keeps its advice id and its body",
        "error",
        _ADVICE_REPEAT_TEXT + " " + _ID_TEXT,
        "an advice sent again after an answer that was not final",
        "An advice sent after a non-final answer to an advice of the same kind and transaction is a repeat: "
        "it must carry the same advice id (path and body) and exactly the same body.",
    ),
    Rule(
        "no-confirm-after-reversal",
        "Never a confirmation after an accepted reversal, or a reversal after an accepted confirmation",
        "error",
        'confirmTokenPurchase: "Confirms that a purchase has been completed successfully (i.e. the tokens have '
        'been issued to the customer and payment has been received by the merchant)." reverseTokenPurchase: '
        '"Notifies that a purchase was not completed successfully."',
        "a confirmation or reversal accepted (202)",
        "Once the provider accepted one kind of advice for a purchase, an advice of the other kind for it is "
        "a finding.",
    ),
    Rule(
        "advice-third-party-ids",
        "Advices carry the purchase response's thirdPartyIdentifiers unaltered",
        "error",
        'BasicAdvice.thirdPartyIdentifiers: "The unaltered thirdPartyIdentifiers array as supplied in the '
        "related BasicResponse message. Required if thirdPartyIdentifiers field was present in the "
        "BasicResponse. If no thirdPartyIdentifiers was received in the BasicResponse or no BasicResponse was "
        'received then this should be set to the thirdPartyIdentifiers sent in the original request."',
        "a confirmation or reversal",
        "The advice's thirdPartyIdentifiers must equal those of the last purchase response the PoS received "
        "whole (or, when none reached it, those of its purchase request).",
    ),
    Rule(
        "confirmation-amount",
        "A confirmation never confirms more than was approved",
        "error",
        'BasicAdvice.amounts: "The approvedAmount in an advice message should be less than or equal to the '
        'approvedAmount of the authorisation response as stand-in transactions are not currently supported."',
        "a confirmation of a purchase whose approved amount is known",
        "The confirmation's amounts.approvedAmount, and the sum of its tenders, must not exceed the purchase "
        "response's approvedAmount.",
    ),
    Rule(
        "purchase-settled",
        "Every purchase that issued tokens is confirmed or reversed",
        "error",
        'confirmTokenPurchase: "It is typical that token providers do not support confirmations (aka advices), '
        'but certain point-of-sale integrations may require support for these."',
        "a purchase that issued tokens, when the provider expects confirmations (the plan's "
        "`expectConfirmations`, or `?confirmations=expected`)",
        "Each purchase whose answers (delivered or lost) carried tokens must be followed by a confirmation or a "
        "reversal; without the setting the rule is not exercised.",
    ),
    Rule(
        "message-time",
        "`time` carries an offset and is near the simulator's clock",
        "warning",
        'Transaction.time / BasicAdvice.time: "The date and time of the message as recorded by the sender. The '
        "format shall be as defined for date-time in RFC 3339 section 5.6. It is recommended that the optional "
        'time-secfrac be included up to millisecond precision."',
        "any request with a body",
        "`time` must be an RFC 3339 date-time with an offset (Z or +hh:mm) within the clock tolerance "
        "(default 300 s) of when the simulator received the message; a retry keeping its original time is "
        "judged against the original's arrival.",
    ),
    Rule(
        "strict-contract",
        "Requests pass the strict contract",
        "warning",
        "The interface's models as published: every field declared, typed and formatted as the contract says "
        "(the production provider tolerates more, so this is a warning).",
        "any request with a JSON body",
        "Each request body is checked against the contract with every model closed (as `--strict` serves it): "
        "unknown fields, numbers sent as strings, wrong formats. The finding lists the offending fields.",
    ),
)

BY_ID = {rule.id: rule for rule in RULES}
