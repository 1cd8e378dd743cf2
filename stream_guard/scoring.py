"""Score decisions against labelled traffic, exactly as ../shared/EVENTS.md defines it.

- An attack is **caught** when an *enforced* decision names its user within two hours of
  ``key_ts``; an attack on many accounts from one source (``ip`` + ``victims``) is caught
  when a decision names that IP, or at least half of the victims, within two hours.
- A benign user is a **false positive** when any enforced decision names it, outside the
  two-hour window of an attack that lists it as a victim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.clock import parse_ts

WINDOW = 2 * 3600.0


@dataclass
class Score:
    recall_by_kind: dict[str, float]
    caught_by_kind: dict[str, int]
    attacks_by_kind: dict[str, int]
    benign_users: int
    benign_flagged: list[str]
    missed: list[dict[str, Any]]
    caught_by_rules: dict[int, list[str]] = field(default_factory=dict)

    @property
    def benign_flagged_share(self) -> float:
        return len(self.benign_flagged) / self.benign_users if self.benign_users else 0.0

    @property
    def recall(self) -> float:
        total = sum(self.attacks_by_kind.values())
        return sum(self.caught_by_kind.values()) / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "recall": round(self.recall, 4),
            "recall_by_kind": {k: round(v, 4) for k, v in sorted(self.recall_by_kind.items())},
            "benign_flagged_share": round(self.benign_flagged_share, 4),
            "benign_flagged": sorted(self.benign_flagged),
            "missed": self.missed,
        }


def _t(ts: str) -> float:
    return parse_ts(ts).timestamp()


def score(decisions: Iterable[Mapping[str, Any]], labels: Mapping[str, Any]) -> Score:
    """Recall per attack kind and benign users flagged, for enforced decisions only."""
    by_user: dict[str, list[float]] = defaultdict(list)
    by_ip: dict[str, list[float]] = defaultdict(list)
    for d in decisions:
        if d.get("mode") != "enforce":
            continue
        t = _t(d["ts"])
        by_user[d["user_id"]].append(t)
        group = d.get("group") or {}
        if group.get("ip"):
            by_ip[group["ip"]].append(t)

    def near(times: list[float], t0: float) -> bool:
        return any(abs(t - t0) <= WINDOW for t in times)

    attacks = labels.get("attacks", [])
    caught: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    missed = []
    victim_windows: dict[str, list[float]] = defaultdict(list)
    for a in attacks:
        kind = a["kind"]
        total[kind] += 1
        t0 = _t(a["key_ts"])
        victims = a.get("victims") or []
        for v in victims:
            victim_windows[v].append(t0)
        if a.get("user_id"):
            ok = near(by_user.get(a["user_id"], []), t0)
        else:
            named = sum(1 for v in victims if near(by_user.get(v, []), t0))
            ok = near(by_ip.get(a.get("ip") or "", []), t0) or (
                victims and named * 2 >= len(victims)
            )
        if ok:
            caught[kind] += 1
        else:
            missed.append(dict(a))

    benign = labels.get("benign_users", [])
    flagged = []
    for u in benign:
        times = by_user.get(u)
        if not times:
            continue
        windows = victim_windows.get(u, [])
        if any(not any(abs(t - w) <= WINDOW for w in windows) for t in times):
            flagged.append(u)
    return Score(
        recall_by_kind={k: caught[k] / n for k, n in total.items()},
        caught_by_kind=dict(caught),
        attacks_by_kind=dict(total),
        benign_users=len(benign),
        benign_flagged=flagged,
        missed=missed,
    )
