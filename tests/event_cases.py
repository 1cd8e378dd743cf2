"""Example events and every invalid case of EVENTS.md: shared by the core and the streaming tests."""

from __future__ import annotations

import orjson

LOGIN = {
    "event_id": "l-7f3a", "type": "login", "ts": "2026-11-24T09:15:02+09:00", "user_id": "u-1029",
    "action": "login", "success": True, "ip": "203.0.113.7", "country": "KR", "city": "Seoul",
    "lat": 37.57, "lon": 126.98, "asn": 4766, "device_id": "d-91ab", "channel": "ios",
    "mfa_used": True, "locale": "ko",
}
TRANSFER = {
    "event_id": "t-0c11", "type": "transfer", "ts": "2026-11-24T09:21:40+09:00", "user_id": "u-1029",
    "direction": "withdrawal", "status": "requested", "asset": "BTC", "amount": "0.85",
    "value_krw": 112000000, "network": "bitcoin", "address": "bc1qexampleaddress0000000000000000000",
    "ip": "203.0.113.7", "device_id": "d-91ab",
}


def raw(base: dict, **changes) -> bytes:
    d = {**base, **changes}
    return orjson.dumps({k: v for k, v in d.items() if v is not ...})


INVALID = [
    # (message, field, code, words in the reason)
    (b"{not json", None, "not-json", ["not valid JSON"]),
    (b"", None, "not-json", ["not valid JSON"]),
    (b"[1, 2]", None, "not-an-object", ["an array"]),
    (b'"login"', None, "not-an-object", ["a string"]),
    (b"42", None, "not-an-object", ["a number"]),
    (b"null", None, "not-an-object", ["null"]),
    (raw(LOGIN, type=...), "type", "missing-field", ["missing"]),
    (raw(LOGIN, type="trade"), "type", "bad-type", ["'trade'"]),
    (raw(LOGIN, event_id=...), "event_id", "missing-field", ["missing"]),
    (raw(LOGIN, user_id=...), "user_id", "missing-field", ["missing"]),
    (raw(LOGIN, success=...), "success", "missing-field", ["missing"]),
    (raw(LOGIN, ip=...), "ip", "missing-field", ["missing"]),
    (raw(LOGIN, ts=...), "ts", "missing-field", ["missing"]),
    (raw(TRANSFER, direction=...), "direction", "missing-field", ["missing"]),
    (raw(TRANSFER, asset=...), "asset", "missing-field", ["missing"]),
    (raw(TRANSFER, amount=...), "amount", "missing-field", ["missing"]),
    (raw(TRANSFER, value_krw=...), "value_krw", "missing-field", ["missing"]),
    (raw(LOGIN, user_id=1029), "user_id", "bad-field", ["1029"]),
    (raw(LOGIN, success="true"), "success", "bad-field", ["'true'"]),
    (raw(LOGIN, success=1), "success", "bad-field", ["1"]),
    (raw(LOGIN, asn="4766"), "asn", "bad-field", ["'4766'"]),
    (raw(LOGIN, lat="37.5"), "lat", "bad-field", ["'37.5'"]),
    (raw(LOGIN, lat=91), "lat", "bad-field", ["91"]),
    (raw(LOGIN, ts="2026-11-24T09:15:02"), "ts", "bad-field", ["offset"]),
    (raw(LOGIN, ts="2026-11-24"), "ts", "bad-field", ["RFC 3339"]),
    (raw(LOGIN, ts="yesterday"), "ts", "bad-field", ["RFC 3339"]),
    (raw(LOGIN, ts="2026-02-30T00:00:00Z"), "ts", "bad-field", ["2026-02-30"]),
    (raw(LOGIN, ts=1764000000), "ts", "bad-field", ["1764000000"]),
    (raw(LOGIN, action="hack"), "action", "bad-field", ["'hack'"]),
    (raw(LOGIN, channel="fax"), "channel", "bad-field", ["'fax'"]),
    (raw(LOGIN, ip="203.0.113.999"), "ip", "bad-field", ["IPv4 or IPv6"]),
    (raw(LOGIN, country="Korea"), "country", "bad-field", ["alpha-2"]),
    (raw(LOGIN, locale="korean language"), "locale", "bad-field", ["BCP 47"]),
    (raw(TRANSFER, direction="sideways"), "direction", "bad-field", ["'sideways'"]),
    (raw(TRANSFER, status="pending"), "status", "bad-field", ["'pending'"]),
    (raw(TRANSFER, amount=-1), "amount", "bad-field", ["greater than 0"]),
    (raw(TRANSFER, amount="-0.5"), "amount", "bad-field", ["greater than 0"]),
    (raw(TRANSFER, amount=0), "amount", "bad-field", ["greater than 0"]),
    (raw(TRANSFER, amount="NaN"), "amount", "bad-field", ["'NaN'"]),
    (raw(TRANSFER, amount="Infinity"), "amount", "bad-field", ["'Infinity'"]),
    (raw(TRANSFER, amount="1_000"), "amount", "bad-field", ["'1_000'"]),
    (raw(TRANSFER, amount=True), "amount", "bad-field", ["True"]),
    (b'{"event_id":"t","type":"transfer","ts":"2026-11-24T09:15:02Z","user_id":"u","direction":"deposit","asset":"BTC","amount":NaN,"value_krw":5}', "amount", "bad-field", ["finite"]),
    (raw(TRANSFER, value_krw=-5), "value_krw", "bad-field", ["-5"]),
    (raw(TRANSFER, value_krw="5000"), "value_krw", "bad-field", ["'5000'"]),
    (b'{"event_id":"t","type":"transfer","ts":"2026-11-24T09:15:02Z","user_id":"u","direction":"deposit","asset":"BTC","amount":1,"value_krw":NaN}', "value_krw", "bad-field", ["finite"]),
    (b'{"event_id":"t","type":"transfer","ts":"2026-11-24T09:15:02Z","user_id":"u","direction":"deposit","asset":"BTC","amount":1,"value_krw":Infinity}', "value_krw", "bad-field", ["finite"]),
    (b'{"event_id":"t","type":"transfer","ts":"2026-11-24T09:15:02Z","user_id":"u","direction":"deposit","asset":"BTC","amount":1,"value_krw":1e999}', "value_krw", "bad-field", ["finite"]),
]
