"""The traffic generator: valid events, deterministic bytes, every attack kind labelled and real."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import datetime, timedelta

import orjson
import pytest

import stream_guard.generator as gen
from stream_guard.core.clock import parse_ts
from stream_guard.core.events import parse_event
from stream_guard.generator import ATTACK_KINDS, GeneratedTraffic, generate, write_labelled
from stream_guard.generator.sanctions import load_sanctioned
from stream_guard.generator.simulate import simulate

USERS, DAYS, SEED, PER_KIND = 300, 7, 3, 2


@pytest.fixture(scope="module")
def run():
    return simulate(users=USERS, days=DAYS, seed=SEED, attacks_per_kind=PER_KIND)


@pytest.fixture(scope="module")
def traffic(run) -> GeneratedTraffic:
    return run[0]


@pytest.fixture(scope="module")
def population(run):
    return run[1]


@pytest.fixture(scope="module")
def by_id(traffic):
    return {e["event_id"]: e for e in traffic.events}


def _km(a: dict, b: dict) -> float:
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _hours(a: dict, b: dict) -> float:
    return (parse_ts(b["ts"]) - parse_ts(a["ts"])).total_seconds() / 3600


def _is_login(e: dict) -> bool:
    return e["type"] == "login" and e.get("action", "login") == "login"


def test_public_api():
    assert gen.__all__ == sorted(gen.__all__)
    assert ATTACK_KINDS == (
        "brute_force", "credential_stuffing", "impossible_travel", "new_device_new_country",
        "account_takeover", "large_withdrawal", "security_change_withdrawal",
        "sanctioned_address", "structuring", "rapid_in_out", "fan_in", "dormant_reactivation",
    )


def test_every_event_is_valid(traffic):
    assert len(traffic.events) > 1000
    for e in traffic.events:
        parse_event(orjson.dumps(e))


def test_sorted_by_time_and_ids_unique(traffic):
    times = [parse_ts(e["ts"]) for e in traffic.events]
    assert times == sorted(times)
    ids = [e["event_id"] for e in traffic.events]
    assert len(set(ids)) == len(ids)
    for e in traffic.events:
        prefix = "l-" if e["type"] == "login" else "t-"
        assert e["event_id"].startswith(prefix) and len(e["event_id"]) == 14
        int(e["event_id"][2:], 16)


def test_times_are_kst_mostly_with_milliseconds(traffic):
    assert all(e["ts"].endswith("+09:00") for e in traffic.events)
    with_ms = sum("." in e["ts"] for e in traffic.events)
    assert 0.8 < with_ms / len(traffic.events) < 1.0


def test_period_covers_start_and_dormant_history(traffic):
    start = datetime.fromisoformat("2026-11-01T00:00:00+09:00")
    times = [parse_ts(e["ts"]) for e in traffic.events]
    in_period = [t for t in times if t >= start]
    assert in_period[-1] < start + timedelta(days=DAYS)
    history = [t for t in times if t < start]
    assert history and all(200 <= (start - t).days <= 400 for t in history)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate(users=80, days=3, seed=11, attacks_per_kind=1)
    b = generate(users=80, days=3, seed=11, attacks_per_kind=1)
    c = generate(users=80, days=3, seed=12, attacks_per_kind=1)
    pa = write_labelled(a, tmp_path / "a")
    pb = write_labelled(b, tmp_path / "b")
    pc = write_labelled(c, tmp_path / "c")
    assert pa[0].read_bytes() == pb[0].read_bytes()
    assert pa[1].read_bytes() == pb[1].read_bytes()
    assert pa[0].read_bytes() != pc[0].read_bytes()


def test_labels_shape(traffic, population):
    labels = traffic.labels
    assert set(labels) == {"benign_users", "attacks"}
    assert labels["benign_users"] == sorted(labels["benign_users"])
    counts = Counter(a["kind"] for a in labels["attacks"])
    assert counts == {k: PER_KIND for k in ATTACK_KINDS}
    for a in labels["attacks"]:
        assert {"kind", "user_id", "key_ts"} <= set(a)
        parse_ts(a["key_ts"])
    everyone = {u.uid for u in population}
    attacked = {a["user_id"] for a in labels["attacks"] if a["user_id"] is not None}
    assert not attacked & set(labels["benign_users"])
    assert attacked | set(labels["benign_users"]) == everyone
    assert len(attacked) == PER_KIND * (len(ATTACK_KINDS) - 1)


def test_key_events_exist_and_belong_to_the_victim(traffic, by_id):
    for a in traffic.labels["attacks"]:
        key = by_id[a["key_event_id"]]
        assert key["ts"] == a["key_ts"]
        if a["user_id"] is not None:
            assert key["user_id"] == a["user_id"], a


def test_credential_stuffing_names_ip_and_victims(traffic, by_id, population):
    everyone = {u.uid for u in population}
    benign = set(traffic.labels["benign_users"])
    for a in traffic.labels["attacks"]:
        if a["kind"] != "credential_stuffing":
            continue
        assert a["user_id"] is None
        assert a["victims"] and set(a["victims"]) <= everyone
        assert len(set(a["victims"]) & benign) >= len(a["victims"]) - PER_KIND * 11
        # (benign VPN users and API bots may share the hosting /24 but not the web channel)
        tries = [e for e in traffic.events if e["type"] == "login" and e["ip"] in a["detail"]["ips"]
                 and e.get("channel", "web") == "web"
                 and abs(_hours(e, by_id[a["key_event_id"]])) < 2]
        accounts = {e["user_id"] for e in tries}
        assert len(accounts) >= 30
        assert sum(not e["success"] for e in tries) > 0.8 * len(tries)
        assert any(e.get("failure_reason") == "unknown_user" for e in tries)
        # the key is the first attempt on the 10th distinct account
        first_seen = list(dict.fromkeys(e["user_id"] for e in tries))
        assert by_id[a["key_event_id"]]["user_id"] == first_seen[9]


def test_brute_force_key_is_the_tenth_failure(traffic, by_id):
    for a in traffic.labels["attacks"]:
        if a["kind"] != "brute_force":
            continue
        key = by_id[a["key_event_id"]]
        assert key["type"] == "login" and key["success"] is False
        ips = set(a["detail"]["ips"])
        fails = [e for e in traffic.events if e["user_id"] == a["user_id"] and e["type"] == "login"
                 and not e["success"] and e["ip"] in ips]
        assert fails.index(key) == 9


def test_impossible_travel_is_far_and_fast(traffic, by_id):
    for a in traffic.labels["attacks"]:
        if a["kind"] != "impossible_travel":
            continue
        key = by_id[a["key_event_id"]]
        before = [e for e in traffic.events if e["user_id"] == a["user_id"] and _is_login(e)
                  and e["success"] and "lat" in e and parse_ts(e["ts"]) < parse_ts(key["ts"])]
        prev = before[-1]
        assert _km(prev, key) >= 5_000
        assert 0 < _hours(prev, key) <= 3
        assert key.get("device_id") not in {e.get("device_id") for e in before} - {None}


def test_travellers_fly_no_faster_than_planes(traffic, population):
    stuffed = {v for a in traffic.labels["attacks"] for v in a.get("victims") or ()}
    benign = set(traffic.labels["benign_users"]) - stuffed
    travellers = {u.uid for u in population if u.trip is not None and u.uid in benign}
    assert travellers
    logins: dict[str, list[dict]] = {}
    for e in traffic.events:
        # the person's own logins (their API bots, without a device, stay home)
        if e["user_id"] in travellers and _is_login(e) and "lat" in e and e.get("device_id"):
            logins.setdefault(e["user_id"], []).append(e)
    legs = 0
    for seq in logins.values():
        for a, b in itertools.pairwise(seq):
            if a.get("country") == "KR" and b.get("country") == "KR":
                continue  # carriers' GeoIP jumps within Korea are not flights
            km, h = _km(a, b), _hours(a, b)
            if km > 300:
                legs += 1
                assert km / max(h, 1e-9) <= 1_000, (a, b)
    assert legs > 0


def test_attack_kinds_do_what_they_say(traffic, by_id):
    stuffing_ips = {ip for a in traffic.labels["attacks"] if a["kind"] == "credential_stuffing"
                    for ip in a["detail"]["ips"]}
    for a in traffic.labels["attacks"]:
        key = by_id[a["key_event_id"]]
        mine = [e for e in traffic.events if e["user_id"] == a["user_id"]
                and e.get("ip") not in stuffing_ips]
        kind = a["kind"]
        if kind == "structuring":
            wd = [e for e in mine if e["type"] == "transfer" and e["direction"] == "withdrawal"
                  and e.get("status", "requested") == "requested"
                  and 900_000 <= e["value_krw"] < 1_000_000]
            assert key in wd and sum(0 <= _hours(w, key) <= 20 for w in wd) >= 4
        elif kind == "large_withdrawal":
            assert 30e6 <= key["value_krw"] <= 500e6 and key["direction"] == "withdrawal"
        elif kind == "fan_in":
            deps = [e for e in mine if e["type"] == "transfer" and e["direction"] == "deposit"
                    and abs(_hours(e, key)) <= 24]
            assert len(deps) >= 8
        elif kind == "sanctioned_address":
            listed = load_sanctioned()
            pool = {x.lower() for x in (*listed.bitcoin, *listed.evm, *listed.tron, *listed.ripple)}
            assert key["address"].lower() in pool
        elif kind == "dormant_reactivation":
            start = datetime.fromisoformat("2026-11-01T00:00:00+09:00")
            history = [e for e in mine if parse_ts(e["ts"]) < start]
            period = [e for e in mine if parse_ts(e["ts"]) >= start]
            assert history and 200 <= _hours(history[-1], period[0]) / 24 <= 420
            assert all(0 <= _hours(e, key) <= 13 for e in period
                       if parse_ts(e["ts"]) <= parse_ts(key["ts"]))
            assert key["direction"] == "withdrawal"
        elif kind in ("account_takeover", "rapid_in_out", "security_change_withdrawal"):
            assert key["type"] == "transfer" and key["direction"] == "withdrawal"
            earlier = {e.get("address") for e in mine if e is not key and e["type"] == "transfer"
                       and parse_ts(e["ts"]) < parse_ts(key["ts"])}
            assert key["address"] not in earlier
        elif kind in ("new_device_new_country", "impossible_travel"):
            assert key["type"] == "login" and key["success"]


def test_write_labelled_round_trip(traffic, tmp_path):
    events_path, labels_path = write_labelled(traffic, tmp_path / "set")
    lines = events_path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(traffic.events)
    assert [orjson.loads(x) for x in lines[:-1]] == traffic.events
    assert orjson.loads(labels_path.read_bytes()) == traffic.labels


def test_too_few_users_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        generate(users=20, days=2, attacks_per_kind=3)


def test_missing_sanction_lists_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="XBT"):
        load_sanctioned(tmp_path)
