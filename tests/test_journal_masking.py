"""Masking rules one by one (the HTTP tests in test_journal.py check that nothing leaks end to end)."""

from __future__ import annotations

import base64
import json

from ppu_sim.control.journal import BODY_LIMIT, Body, Exchange, Journal, now
from ppu_sim.control.masking import MASK, credential_owner, mask_body, mask_headers, mask_pan, mask_text

PAN = "4111111111111111"
AN32 = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
PIN_BLOCK = "0123456789ABCDEF"


def payment_request() -> dict:
    return {
        "id": "x",
        "meter": {"meterId": "01234567897", "track2Data": "1234567890123456=7890123456789012"},
        "paymentMethods": [
            {
                "type": "CARD",
                "amount": {"amount": 100, "currency": "710"},
                "pan": PAN,
                "expiryDate": "2712",
                "pin": {
                    "type": "ENCRYPTED_PIN",
                    "pinBlock": PIN_BLOCK,
                    "encryptionParameters": {"accountNumber": "1" * 12},
                },
                "encryptedPin": {"pinBlock": PIN_BLOCK},
            },
            {
                "type": "CARD",
                "amount": {"amount": 1, "currency": "710"},
                "pan": PAN,
                "pin": {"type": "CLEAR_PIN", "pin": "1234"},
            },
            {"type": "AN_32_TOKEN", "amount": {"amount": 1, "currency": "710"}, "token": AN32, "proxy": "27821234567"},
            {"type": "LOYALTY_CARD", "amount": {"amount": 1, "currency": "710"}, "cardNumber": "6" * 16},
            {
                "type": "CARD",
                "amount": {"amount": 1, "currency": "710"},
                "pan": PAN,
                "pin": {"type": "HASHED_PIN", "hash": "ABCDEF"},
            },
        ],
        "tenders": [{"tenderType": "CREDIT_CARD", "cardNumber": PAN, "amount": {"amount": 1, "currency": "710"}}],
        "tokens": [{"token": "12345678901234567890"}],
    }


def test_every_secret_field_is_masked_and_nothing_else():
    masked = mask_body(payment_request())
    text = json.dumps(masked)
    for secret in (
        PAN,
        AN32,
        PIN_BLOCK,
        "1234567890123456=7890123456789012",
        "27821234567",
        "2712",
        "1" * 12,
        "6" * 16,
    ):
        assert secret not in text
    card, clear, an32, loyalty, hashed = masked["paymentMethods"]
    assert card["pan"] == "411111******1111"
    assert card["pin"]["pinBlock"] == MASK and card["encryptedPin"]["pinBlock"] == MASK
    assert card["pin"]["encryptionParameters"]["accountNumber"] == MASK
    assert clear["pin"] == {"type": "CLEAR_PIN", "pin": MASK}
    assert an32["token"] == MASK and an32["proxy"] == MASK
    assert loyalty["cardNumber"] == "666666******6666"
    assert hashed["pin"]["hash"] == MASK
    assert masked["tenders"][0]["cardNumber"] == "411111******1111"
    # an STS token outside a payment method is what the PoS prints, not a secret
    assert masked["tokens"][0]["token"] == "12345678901234567890"
    assert masked["meter"]["meterId"] == "01234567897"


def test_the_original_body_is_left_alone():
    body = payment_request()
    mask_body(body)
    assert body["paymentMethods"][0]["pan"] == PAN


def test_validation_errors_do_not_echo_a_secret():
    error = {
        "formatErrors": [
            {"field": "paymentMethods[0].pan", "msg": "bad", "value": PAN},
            {"field": "id", "value": "abc"},
        ]
    }
    masked = mask_body(error)
    assert masked["formatErrors"][0]["value"] == "411111******1111"
    assert masked["formatErrors"][1]["value"] == "abc"


def test_text_bodies_and_short_pans():
    broken = '{"pan": "' + PAN + '", "token": "' + AN32 + '", "pin": "12'
    masked = mask_text(broken)
    assert PAN not in masked and AN32 not in masked and "12" not in masked.split("pin")[1]
    assert mask_pan("12345") == MASK


def test_credentials_become_their_owner():
    basic = "Basic " + base64.b64encode(b"till-7:s3cret").decode()
    assert credential_owner(basic) == "till-7"
    assert credential_owner("Bearer abc.def") == "bearer"
    assert credential_owner("Digest xyz") == MASK
    headers = mask_headers([(b"Authorization", basic.encode()), (b"Cookie", b"a=b"), (b"X-Other", b"1")])
    assert headers == {"authorization": "till-7", "cookie": MASK, "x-other": "1"}


def test_bodies_are_cut_with_a_flag():
    body = Body(b'{"a": "' + b"x" * BODY_LIMIT + b'"}')
    assert body.truncated and isinstance(body.value, str) and len(body.value) == BODY_LIMIT
    assert Body(b"not json").value == "not json"
    assert Body(b"").value is None


def test_journal_drops_the_oldest_and_counts_them():
    journal = Journal(3)
    for _ in range(5):
        journal.add(Exchange("s", now(), "POST", "/p", "", {}, None, {}, Body(b"")))
    assert [e.seq for e in journal] == [3, 4, 5]
    assert journal.dropped == 2
    assert journal.get(4).seq == 4 and journal.get(2) is None and journal.get(6) is None


def test_a_secret_named_with_an_escape_is_masked_before_it_is_kept():
    """JSON reads "p\\u0061n" as "pan": such a body is parsed and masked at once like any other."""
    raw = json.dumps({"card": {"pan": PAN}}).replace('"pan"', '"p\\u0061n"').encode()
    kept = repr(Body(raw).packed())
    assert PAN not in kept and "411111******1111" in kept
