"""One decision's actions, performed once: the task, the freezes, the alerts and reminders.

:meth:`Effects.plan` turns a decision (the JSON on ``stream-guard.decisions``) into what to
write — a pure function of the decision, the user's language and the time — and
:meth:`Effects.apply` writes it with one script in the user's hash slot, which first checks
the decision's marker (``sg:u:{U}:d:<decision_id>``): a decision seen before changes
nothing, however often it is replayed, and the answer says what it did the first time.

Shadow decisions are recorded (``sg:u:{U}:shadow``) and counted, never acted on.

What a decision's actions become:

==========================  ===============================================================
action                      effect
==========================  ===============================================================
``callback``                the user's open task (created, or merged: priority raised to the
                            highest, SLA deadline pulled in to the earliest)
``freeze``                  a freeze of that scope, for ``duration`` or until lifted; it is
                            the task's, so confirming the user lifts it — a freeze without a
                            callback still opens a task (someone has to decide on it)
``alert``                   the template rendered in the user's language, within the
                            per-user rate limit and the same-template repeat gap
``remind``                  the reminder, unless the same one was sent within its cool-down
==========================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_guard.actions.config import PRIORITIES
from stream_guard.actions.formatting import details as event_details
from stream_guard.actions.formatting import zone
from stream_guard.actions.locale import FALLBACK
from stream_guard.actions.ratelimit import AlertLimits
from stream_guard.actions.scripts import dumps
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.templates import ALERT, REMINDER, Catalog

#: Decision fields a task keeps (the rest of a decision is for the decisions topic's readers).
_KEEP = ("decision_id", "rule_id", "rule_version", "severity", "title", "reason", "ts", "event_id",
         "event_type", "actions", "evidence", "context", "group", "risk", "tags", "profile")


class BadDecision(ValueError):
    """A message on the decisions topic that is not a decision (counted and skipped)."""


@dataclass
class Applied:
    """What one decision did (``new`` is False for a decision already done)."""

    decision_id: str
    user_id: str
    new: bool
    shadow: bool = False
    task_id: str | None = None
    created: bool = False
    merged: bool = False
    freezes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    suppressed: list[dict[str, str]] = field(default_factory=list)
    #: alert id → ``alert`` or ``security_reminder``, for every message the decision asked for
    alert_kinds: dict[str, str] = field(default_factory=dict)


def parse_decision(value: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The decision in a message; :class:`BadDecision` if it is not one."""
    try:
        d = orjson.loads(value) if isinstance(value, bytes | str) else value
    except orjson.JSONDecodeError as exc:
        raise BadDecision(f"not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise BadDecision("not a JSON object")
    for name in ("decision_id", "user_id", "rule_id"):
        if not isinstance(d.get(name), str) or not d[name]:
            raise BadDecision(f"{name} is missing or not a text")
    if not isinstance(d.get("actions", []), list):
        raise BadDecision("actions is not a list")
    if not isinstance(d.get("context"), dict):
        d["context"] = {}  # decisions from before the context existed, or a producer's own
    return d


class Effects:
    """Performs decisions' actions against one :class:`ActionsStore`."""

    def __init__(self, store: ActionsStore, catalog: Catalog):
        self.store = store
        self.catalog = catalog
        self.tz = zone(store.config.timezone)

    async def apply(self, decision: dict[str, Any] | bytes) -> Applied:
        d = parse_decision(decision)
        s = self.store
        user = d["user_id"]
        seen = (d.get("context") or {}).get("locale")
        locale = seen or await s.client.hget(s.keys.profile(user), "locale") or s.config.default_locale
        plan = self.plan(d, locale, now_ms=s.now_ms(), remember=seen)
        k = s.keys
        keys = [k.done(user, d["decision_id"]), k.profile(user), k.task(user), k.task_decisions(user),
                k.task_log(user), k.freezes(user), k.audit(user), k.alerts(user), k.limits(user),
                k.relay(user), k.shadow(user)]
        r = await s.scripts.json("apply", keys, [plan["now"], dumps(plan)])
        await s.follow_up(user, r)
        applied = Applied(
            decision_id=d["decision_id"], user_id=user, new=bool(r["new"]), shadow=bool(r.get("shadow")),
            task_id=r.get("task_id"), created=bool(r.get("created")), merged=bool(r.get("merged")),
            freezes=_list(r.get("freezes")), alerts=_list(r.get("alerts")), suppressed=_list(r.get("suppressed")),
            alert_kinds={x["alert_id"]: x["kind"] for x in plan.get("alerts", [])},
        )
        if applied.new:
            await s.count(**_counts(applied, plan))
        return applied

    def plan(self, d: dict[str, Any], locale: str, *, now_ms: int, remember: str | None = None) -> dict[str, Any]:
        """What :meth:`apply` writes for decision ``d`` (see ``lua/apply.lua``)."""
        c = self.store.config
        lang = self.catalog.language(locale)
        plan: dict[str, Any] = {
            "now": now_ms,
            "user_id": d["user_id"],
            # as JSON text, which the script stores unchanged: Lua's cjson would re-encode an
            # empty list or mapping anywhere in it as ``{}``
            "decision": dumps({k: d[k] for k in _KEEP if k in d}),
            "dedup_ttl_ms": int(c.dedup_ttl * 1000),
            "limits": AlertLimits.from_config(c).to_plan(),
        }
        if remember:
            plan["locale"] = remember
        if d.get("mode") == "shadow":
            plan["shadow"] = True
            plan["shadow_keep"] = c.shadow_keep
            return plan
        actions = [a for a in d.get("actions") or [] if isinstance(a, dict)]
        freezes, alerts = [], []
        callback = None
        info = event_details({**(d.get("context") or {}), "user_id": d["user_id"]}, d.get("ts"), lang, self.tz)
        short = d["decision_id"].removeprefix("d-")
        for i, a in enumerate(actions):
            kind = a.get("kind")
            if kind == "callback" and callback is None:
                callback = a
            elif kind == "freeze":
                f: dict[str, Any] = {
                    "freeze_id": f"f-{short}-{i}",
                    "user_id": d["user_id"],
                    "scope": a.get("scope") or "withdrawals",
                    "reason": d.get("title") or d["rule_id"],
                    "rule_ids": [d["rule_id"]],
                    "decision_ids": [d["decision_id"]],
                    "manual": a.get("duration") is None,
                }
                if a.get("duration") is not None:
                    f["expires_at"] = now_ms + int(float(a["duration"]) * 1000)
                freezes.append(f)
            elif kind in ("alert", "remind"):
                akind, key = (ALERT, a.get("template")) if kind == "alert" else (REMINDER, a.get("topic"))
                msg = self._message(d, akind, str(key), f"a-{short}-{i}", locale, info, now_ms)
                if msg is not None:
                    alerts.append({"alert_id": msg["alert_id"], "kind": akind, "key": key, "payload": dumps(msg)})
        plan["freezes"] = freezes
        plan["alerts"] = alerts
        queue_lang = lang if lang in self.store.languages else FALLBACK
        if callback is not None or freezes:
            if callback is not None:
                priority = callback.get("priority") if callback.get("priority") in PRIORITIES else "medium"
                sla = callback.get("sla")
                reason = callback.get("reason") or d.get("reason") or ""
            else:
                sev = d.get("severity")
                priority = sev if sev in PRIORITIES else "high"
                sla = None
                reason = f"{d.get('title') or d['rule_id']}: account frozen ({', '.join(f['scope'] for f in freezes)})"
            seconds = float(sla) if sla else c.sla_seconds(priority)
            plan["task"] = {
                "callback": callback is not None, "create": True, "priority": priority,
                "deadline": now_ms + int(seconds * 1000), "reason": reason,
                "locale": locale, "lang": queue_lang,
            }
        elif actions:  # alerts only: joins an open task as context, opens none
            plan["task"] = {"callback": False, "create": False, "priority": "low", "deadline": now_ms,
                            "reason": "", "locale": locale, "lang": queue_lang}
        return plan

    def _message(self, d: dict[str, Any], kind: str, key: str, alert_id: str, locale: str,
                 info: dict[str, str], now_ms: int) -> dict[str, Any] | None:
        r = self.catalog.render(kind, key, locale, info)
        if r is None:
            return None
        return {
            "alert_id": alert_id,
            "kind": kind,
            ("template" if kind == ALERT else "topic"): key,
            "user_id": d["user_id"],
            "locale": locale,
            "language": r.language,
            "title": r.title,
            "body": r.body,
            "severity": d.get("severity"),
            "decision_id": d["decision_id"],
            "rule_id": d["rule_id"],
            "event_id": d.get("event_id"),
            "created_at": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "details": {k: v for k, v in info.items() if k != "user_id"},
        }


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []  # Lua sends an empty list as {}


def _counts(a: Applied, plan: dict[str, Any]) -> dict[str, int]:
    if a.shadow:
        return {"decisions_shadow": 1}
    kinds = {x["alert_id"]: x["kind"] for x in plan.get("alerts", [])}
    sent = [kinds.get(i) for i in a.alerts]
    out = {
        "decisions_enforce": 1,
        "tasks_created": int(a.created),
        "tasks_merged": int(a.merged),
        "freezes_placed": len(a.freezes),
        "alerts_sent": sent.count(ALERT),
        "reminders_sent": sent.count(REMINDER),
    }
    for s in a.suppressed:
        out[f"alerts_suppressed_{s.get('why')}"] = out.get(f"alerts_suppressed_{s.get('why')}", 0) + 1
    return out
