"""The Redis key layout: what lives where, and why it works on Redis Cluster.

Redis Cluster runs a script or a transaction only when all its keys hash to one slot. The
layout gives every user one slot — the part between braces is the *hash tag* that Cluster
hashes — so that everything changed for a user at once (a task, its decisions, a freeze, the
audit trail, alerts, rate limits, the marker that a decision is done) is changed by one
script. The few global indexes each have a tag of their own:

==================================  ==========  ==============================================
key                                 type        holds
==================================  ==========  ==============================================
``sg:u:{U}:freezes``                hash        freeze id → freeze (JSON); status is one HGETALL
``sg:u:{U}:audit``                  stream      every freeze change; append-only
``sg:u:{U}:task``                   hash        the user's open callback task
``sg:u:{U}:task:decisions``         list        its decisions (JSON), oldest first
``sg:u:{U}:task:log``               list        its history (JSON): created, merged, claimed …
``sg:u:{U}:tasks``                  hash        task number → closed task (JSON)
``sg:u:{U}:alerts``                 stream      alerts and reminders sent (capped)
``sg:u:{U}:limits``                 hash        rate-limit and cool-down clocks
``sg:u:{U}:profile``                hash        ``locale`` last seen (the exchange may set it)
``sg:u:{U}:relay``                  hash        how far the audit and alerts were published
``sg:u:{U}:shadow``                 stream      shadow-mode decisions (capped), never acted on
``sg:u:{U}:d:<decision id>``        string      the decision is done: what it did (expires)
``sg:{queue}:ready:<lang>``         zset        claimable tasks per language; score: priority, SLA
``sg:{queue}:leased``               zset        claimed tasks; score: lease expiry
``sg:{queue}:delayed``              zset        unreachable users to call again; score: retry time
``sg:{queue}:deadline``             zset        every open task; score: SLA deadline
``sg:{queue}:entry``                hash        task → where it is in the index (JSON)
``sg:{queue}:escalated``            zset        escalated tasks; score: when
``sg:{queue}:sla``                  hash        how far SLA breaches were tallied (``tallied_to``)
``sg:{outbox}:kafka`` (``:gen``)    zset, hash  users with freeze changes or alerts to publish
``sg:{outbox}:webhook`` (``:gen``)  zset, hash  users with alerts to POST
``sg:{outbox}:lease``               string      the actions process running the relay now
``sg:{sched}:expiry`` (``:gen``)    zset, hash  users with a freeze to expire; score: when
``sg:{stats}:counters``             hash        counters of what the actions did
``sg:{stats}:freezes``              hash        active freezes per scope, kept by the relay
==================================  ==========  ==============================================

``U`` is the user id with ``%``, ``{`` and ``}`` percent-encoded (a brace would end the tag).

>>> k = Keys("sg")
>>> k.freezes("u-1029"), k.ready("ko")
('sg:u:{u-1029}:freezes', 'sg:{queue}:ready:ko')
>>> k.freezes("we{ird}")
'sg:u:{we%7Bird%7D}:freezes'
"""

from __future__ import annotations


def user_tag(user_id: str) -> str:
    """``user_id`` made safe to put between braces."""
    if not user_id:
        raise ValueError("a user id is needed")
    return user_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class Keys:
    """Key names under one prefix (``sg`` by default; tests use their own)."""

    __slots__ = ("prefix", "queue_tag")

    def __init__(self, prefix: str = "sg"):
        self.prefix = prefix
        self.queue_tag = f"{prefix}:{{queue}}"

    # -- per user: one hash slot --------------------------------------------------------
    def user(self, user_id: str, name: str) -> str:
        return f"{self.prefix}:u:{{{user_tag(user_id)}}}:{name}"

    def freezes(self, user_id: str) -> str:
        return self.user(user_id, "freezes")

    def audit(self, user_id: str) -> str:
        return self.user(user_id, "audit")

    def task(self, user_id: str) -> str:
        return self.user(user_id, "task")

    def task_decisions(self, user_id: str) -> str:
        return self.user(user_id, "task:decisions")

    def task_log(self, user_id: str) -> str:
        return self.user(user_id, "task:log")

    def tasks(self, user_id: str) -> str:
        return self.user(user_id, "tasks")

    def alerts(self, user_id: str) -> str:
        return self.user(user_id, "alerts")

    def limits(self, user_id: str) -> str:
        return self.user(user_id, "limits")

    def profile(self, user_id: str) -> str:
        return self.user(user_id, "profile")

    def relay(self, user_id: str) -> str:
        return self.user(user_id, "relay")

    def shadow(self, user_id: str) -> str:
        return self.user(user_id, "shadow")

    def done(self, user_id: str, decision_id: str) -> str:
        return self.user(user_id, f"d:{decision_id}")

    def user_pattern(self, name: str) -> str:
        """A SCAN pattern for one kind of per-user key (``relay``, ``task``)."""
        return f"{self.prefix}:u:{{*}}:{name}"

    def user_of(self, key: str) -> str:
        """The user id in a per-user key (the inverse of :func:`user_tag`)."""
        tag = key[key.index("{") + 1 : key.index("}")]
        return tag.replace("%7D", "}").replace("%7B", "{").replace("%25", "%")

    # -- the task index: one slot of its own ----------------------------------------------
    def ready(self, lang: str) -> str:
        return f"{self.queue_tag}:ready:{lang}"

    @property
    def leased(self) -> str:
        return f"{self.queue_tag}:leased"

    @property
    def delayed(self) -> str:
        return f"{self.queue_tag}:delayed"

    @property
    def deadline(self) -> str:
        return f"{self.queue_tag}:deadline"

    @property
    def entry(self) -> str:
        return f"{self.queue_tag}:entry"

    @property
    def escalated(self) -> str:
        return f"{self.queue_tag}:escalated"

    @property
    def sla(self) -> str:
        """How far the SLA breaches of open tasks were counted (:meth:`TaskQueue.tally_breaches`)."""
        return f"{self.queue_tag}:sla"

    # -- outboxes, schedules, counters ------------------------------------------------------
    def outbox(self, channel: str) -> tuple[str, str]:
        """The index of users with something to send on ``channel`` (kafka, webhook) and its
        generations (see :class:`~stream_guard.actions.outbox.Relay`)."""
        base = f"{self.prefix}:{{outbox}}:{channel}"
        return base, f"{base}:gen"

    @property
    def relay_lease(self) -> str:
        """Which actions process runs the relay now (one at a time, so nothing goes out twice)."""
        return f"{self.prefix}:{{outbox}}:lease"

    @property
    def expiry(self) -> tuple[str, str]:
        base = f"{self.prefix}:{{sched}}:expiry"
        return base, f"{base}:gen"

    @property
    def counters(self) -> str:
        return f"{self.prefix}:{{stats}}:counters"

    @property
    def freeze_counts(self) -> str:
        """Active freezes per scope, as the relay has published their changes."""
        return f"{self.prefix}:{{stats}}:freezes"
