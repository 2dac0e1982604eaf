"""ErrorDetail: the one error shape the contract allows, for every failure the simulator reports.

Domain code raises :class:`ProviderError`; the contract adapter and the HTTP error handlers turn
it (and framework errors) into an ErrorDetail body, so no other error shape ever reaches a client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The contract caps errorMessage at 20 characters; detail goes into detailMessage.
MAX_ERROR_MESSAGE = 20

REQUEST_TYPES: dict[str, str] = {
    "createMeterLookup": "METER_LOOKUP_REQUEST",
    "createTokenPurchaseRequest": "TOKEN_PURCHASE_REQUEST",
    "confirmTokenPurchase": "CONFIRMATION_ADVICE",
    "retryPurchaseRequest": "TOKEN_PURCHASE_RETRY_REQUEST",
    "retryPurchaseRequestByRetryId": "TOKEN_PURCHASE_RETRY_REQUEST",
    "reverseTokenPurchase": "REVERSAL_ADVICE",
    "trialTokenPurchaseRequest": "TOKEN_PURCHASE_TRIAL_REQUEST",
    "requestTokenReprint": "TOKEN_REPRINT_REQUEST",
    "createFaultReport": "FAULT_REPORT_REQUEST",
    "createKeyChangeTokenRequest": "KEY_CHANGE_TOKEN_REQUEST",
    "confirmKeyChange": "CONFIRMATION_ADVICE",
    "notifyTokenPurchase": "NOTIFY_TOKEN_PURCHASE",
}

# The path parameter naming the request an advice or retry is about: ErrorDetail.originalId.
ORIGINAL_ID_PARAMS: dict[str, str] = {
    "confirmTokenPurchase": "purchaseId",
    "reverseTokenPurchase": "purchaseId",
    "retryPurchaseRequest": "purchaseId",
    "retryPurchaseRequestByRetryId": "purchaseId",
    "confirmKeyChange": "requestId",
}

# Default short messages per errorType, each within the contract's 20 characters.
DEFAULT_MESSAGES: dict[str, str] = {
    "DUPLICATE_RECORD": "Duplicate record",
    "FORMAT_ERROR": "Bad formatting",
    "FUNCTION_NOT_SUPPORTED": "Not supported",
    "GENERAL_ERROR": "General error",
    "INVALID_AMOUNT": "Invalid amount",
    "ROUTING_ERROR": "No such route",
    "TRANSACTION_NOT_SUPPORTED": "Not supported",
    "UNABLE_TO_LOCATE_RECORD": "Record not found",
    "UPSTREAM_UNAVAILABLE": "Upstream unavailable",
    "UNKNOWN_METER_ID": "Unknown meter ID",
    "TRANSACTION_DECLINED": "Declined",
    "INVALID_MERCHANT": "Invalid merchant",
    "INVALID_AN32_TOKEN": "Invalid AN32 token",
    "DO_NOT_HONOR": "Do not honor",
    "INVALID_MSISDN": "Invalid MSISDN",
    "INVALID_LOYALTY_CARD": "Invalid loyalty card",
    "UTILITY_INVALID": "Utility invalid",
    "SYSTEM_MALFUNCTION": "System malfunction",
    "METER_KEY_INVALID": "Meter key invalid",
    "AMOUNT_TOO_LOW": "Amount too low",
    "AMOUNT_TOO_HIGH": "Amount too high",
    "NO_FREE_UNITS_DUE": "No free units due",
    "INSUFFICIENT_FUNDS": "Insufficient funds",
    "LIMIT_EXCEEDED": "Limit exceeded",
    "METER_ID_BLOCKED": "Meter ID blocked",
    "OUTCOME_UNKNOWN": "Outcome unknown",
}
ERROR_TYPES = frozenset(DEFAULT_MESSAGES)


@dataclass
class ProviderError(Exception):
    """A provider answer that is an ErrorDetail: raised by domain code, rendered by the adapter."""

    status: int
    error_type: str
    detail: dict[str, Any] = field(default_factory=dict)
    message: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.error_type}: {self.detail}"


def format_error(errors: list[dict[str, Any]], message: str | None = None) -> ProviderError:
    """A FORMAT_ERROR listing every offending field as {field, msg, value}."""
    return ProviderError(400, "FORMAT_ERROR", {"formatErrors": errors}, message)


def error_detail(
    error_type: str,
    request_type: str,
    request_id: str,
    *,
    message: str | None = None,
    original_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an ErrorDetail body that always satisfies the contract's constraints."""
    body: dict[str, Any] = {
        "errorType": error_type,
        "errorMessage": (message or DEFAULT_MESSAGES.get(error_type, "Error"))[:MAX_ERROR_MESSAGE],
        "requestType": request_type,
        "id": request_id,
    }
    if original_id is not None:
        body["originalId"] = original_id
    if detail:
        body["detailMessage"] = detail
    return body
