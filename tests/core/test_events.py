"""The wire contract (EVENTS.md): every valid shape accepted, every invalid case named precisely."""

from __future__ import annotations

import orjson
import pytest
from event_cases import INVALID, LOGIN, TRANSFER, raw

from stream_guard.core.errors import EventError
from stream_guard.core.events import event_json_schema, event_to_dict, parse_event, parse_obj


def test_the_examples_of_events_md_parse():
    e = parse_event(raw(LOGIN))
    assert (e.type, e.action, e.success, e.asn, e.mfa_used) == ("login", "login", True, 4766, True)
    t = parse_event(raw(TRANSFER))
    assert (t.direction, t.amount, t.value_krw) == ("withdrawal", 0.85, 112000000.0)
    assert t.ts.utcoffset().total_seconds() == 9 * 3600


def test_defaults_and_optional_fields():
    e = parse_event(raw(LOGIN, action=..., country=None, lat=..., lon=..., locale=...))
    assert e.action == "login" and e.country is None and e.lat is None
    t = parse_event(raw(TRANSFER, status=..., address=None))
    assert t.status == "requested" and t.address is None


@pytest.mark.parametrize("ts", ["2026-11-24T00:15:02Z", "2026-11-24T09:15:02.123+09:00",
                                "2026-11-24t00:15:02z", "2026-11-24T09:15:02.123456789+09:00",
                                "2026-11-24 09:15:02+09:00"])
def test_rfc3339_forms(ts):
    assert parse_event(raw(LOGIN, ts=ts)).ts.tzinfo is not None


@pytest.mark.parametrize("amount", [1, 0.5, "0.85", "12", "1e-3", " 3.5 "])
def test_amount_number_or_decimal_string(amount):
    assert parse_event(raw(TRANSFER, amount=amount)).amount > 0


def test_extra_fields_are_kept_and_carried_along():
    e = parse_event(raw(LOGIN, risk_hint="vip", session={"id": 7}))
    assert e.model_extra == {"risk_hint": "vip", "session": {"id": 7}}
    assert event_to_dict(e)["session"] == {"id": 7}


def test_ipv6_and_ipv4_mapped_addresses():
    assert parse_event(raw(LOGIN, ip="2001:db8::1")).ip == "2001:db8::1"
    assert parse_event(raw(LOGIN, ip="::ffff:203.0.113.7")).ip == "::ffff:203.0.113.7"


# -- what is not valid (EVENTS.md), each with the field and the reason ------------------------



@pytest.mark.parametrize(("message", "field", "code", "words"), INVALID, ids=[f"case{i}" for i in range(len(INVALID))])
def test_invalid_messages_are_rejected_with_field_and_reason(message, field, code, words):
    with pytest.raises(EventError) as info:
        parse_event(message)
    err = info.value
    assert (err.field, err.code) == (field, code), str(err)
    assert all(w in err.reason for w in words), err.reason
    assert str(err).startswith(f"{field}: " if field else err.reason[:10])


def test_parse_obj_applies_the_same_contract():
    assert parse_obj(LOGIN).event_id == "l-7f3a"
    with pytest.raises(EventError) as info:
        parse_obj({**LOGIN, "success": "yes"})
    assert info.value.field == "success"


def test_events_are_immutable():
    e = parse_event(raw(LOGIN))
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        e.user_id = "someone-else"  # type: ignore[misc]


def test_json_schema_covers_both_types():
    schema = event_json_schema()
    text = orjson.dumps(schema).decode()
    assert "LoginEvent" in text and "TransferEvent" in text
    assert schema["discriminator"]["propertyName"] == "type"
