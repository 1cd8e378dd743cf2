"""Synthetic exchange traffic with labelled attacks, in EVENTS.md's labelled-traffic format.

A population of Korean exchange users (small traders, active traders with API bots, whales,
dormant accounts) lives through ``days`` days: logins at their usual hours from home, their
carrier or the office, password typos, trips abroad with real flight times, VPNs, new phones,
salaries bought into crypto, friends sending money. Into some victims' timelines go the
attacks of :data:`ATTACK_KINDS`, each labelled with the event by which it should be noticed.
Everything is drawn from ``random.Random(seed)``: the same arguments give the same bytes.

>>> traffic = generate(users=60, days=3, seed=1, attacks_per_kind=1)
>>> sorted({a["kind"] for a in traffic.labels["attacks"]}) == sorted(ATTACK_KINDS)
True
>>> traffic.events[0]["ts"] <= traffic.events[-1]["ts"]
True
"""

from stream_guard.generator.attacks import ATTACK_KINDS
from stream_guard.generator.simulate import GeneratedTraffic, generate
from stream_guard.generator.writer import write_labelled

__all__ = ["ATTACK_KINDS", "GeneratedTraffic", "generate", "write_labelled"]
