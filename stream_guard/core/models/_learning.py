"""One generated function per set of models that see an event: what learning costs every event.

Every model must learn from every event it sees, so this is the scorer's hot path: with the
default models, four per-user baselines learn from each successful login. A loop calling a
learner per model spent most of its time on calls and lookups (reading the value, turning
it into a key, fetching the state, counting); the function built here does all the models
of one event in one frame, with their names and parameters as constants, and calls the
baselines' own ``learn`` (:mod:`.baselines`, the one definition of the arithmetic) except in
the usual case of each: a key the user already has, an hour count below the cap — there it
adds one, as ``learn`` would.

The source is built from declarations that the registry has validated (names and fields are
identifiers), and kept on the function (``__source__``) for reading when debugging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stream_guard.core.models.baselines import HOURS, Amount, Hour, Rarity
from stream_guard.core.models.registry import CLIENT
from stream_guard.core.profiles import client_key

__all__ = ["AMOUNT", "COMBINED", "HOUR", "KINDS", "POPULATION", "RARITY", "compile_learner", "reader"]

Learner = Callable[[Any, dict[str, Any], float, dict[str, list], Any], None]

#: What a model is, by its estimator (the scorer's and the generated code's dispatch).
AMOUNT, HOUR, RARITY, POPULATION, COMBINED = range(5)
KINDS = {"amount": AMOUNT, "hour": HOUR, "rarity": RARITY, "HalfSpaceTrees": POPULATION, "kth_highest": COMBINED}


def _read(source: str) -> str:
    """The expression reading a model's value: ``event.<field>``, ``features.<name>`` or the device."""
    if source == CLIENT:
        return "client_key(event)"
    ns, _, key = source.partition(".")
    if not key.isidentifier():
        raise ValueError(f"not a field: {source!r}")
    return f"event.{key}" if ns == "event" else f"f.get({key!r})"


def reader(source: str) -> Callable[[Any, dict[str, Any]], Any]:
    """``read(event, features)``: the same reading as a function (for scores and population features)."""
    return eval(f"lambda event, f: {_read(source)}", {"client_key": client_key})


def _state(i: int, name: str, fresh: str, count: str, warmup: int) -> list[str]:
    """Fetch (or create) the user's state of model ``i`` and count the event as seen."""
    return [
        f"st = b.get({name!r})",
        "if st is None:",
        f"    st = b[{name!r}] = {fresh}",
        f"c{i}.seen += 1",
        f"w{i} = {count} >= {warmup}",
        f"if not w{i}:",
        f"    c{i}.warming += 1",
    ]


def _indent(lines: list[str], by: int = 1) -> list[str]:
    return ["    " * by + line for line in lines]


def compile_learner(
    seen: Sequence[str],
    entries: Mapping[str, Any],
    counts: Mapping[str, Any],
    populations: Mapping[str, Learner],
    combined: Sequence[tuple[Any, int, tuple[int, ...]]],
) -> Learner:
    """``learn(event, f, t, baselines, s)`` for the models ``seen`` (in this order).

    ``entries``: the scorer's per-model entries (``code``, ``model.spec``, ``p``, ``warmup``);
    ``populations``: the learners of population models (called as they are); ``combined``:
    per combined model, its counts, ``at_least`` and the positions of its models in ``seen``.
    """
    ns: dict[str, Any] = {
        "client_key": client_key, "key_of": Rarity.key, "find": Rarity._find, "rarity_learn": Rarity.learn,
        "rarity_fresh": Rarity.fresh, "hour_learn": Hour.learn, "hour_fresh": Hour.fresh,
        "amount_learn": Amount.learn, "amount_fresh": Amount.fresh,
    }
    body: list[str] = []
    for i, name in enumerate(seen):
        e = entries[name]
        ns[f"c{i}"] = counts[name]
        p = e.p
        if e.code == POPULATION:
            ns[f"population{i}"] = populations[name]
            body.append(f"w{i} = population{i}(event, f, t, b, s)")
        elif e.code == HOUR:
            body += _state(i, name, "hour_fresh()", f"st[{HOURS}]", e.warmup)
            body += [
                f"if st[{HOURS}] < {p.cap}:  # Hour.learn without the halving",
                f"    st[int(t // 3600) % {HOURS}] += 1",
                f"    st[{HOURS}] += 1",
                "else:",
                f"    hour_learn(st, t, {p.cap})",
            ]
        else:
            body += [f"v = {_read(e.model.spec.value)}",
                     f"if v is None{' or v < 0' if e.code == AMOUNT else ''}:",
                     f"    w{i} = None",
                     "else:"]
            if e.code == RARITY:
                inner = [
                    "if not (v.__class__ is int or (v.__class__ is str and len(v) <= 8)):  # Rarity.key",
                    "    v = key_of(v)",
                    *_state(i, name, "rarity_fresh()", "st[0]", e.warmup),
                    "j = find(st, v)",
                    f"if j and st[0] < {p.cap}:  # Rarity.learn of a known key, without the halving",
                    "    st[j + 1] += 1",
                    "    st[0] += 1",
                    "else:",
                    f"    rarity_learn(st, v, {p.slots}, {p.cap})",
                ]
            elif e.code == AMOUNT:
                inner = [*_state(i, name, "amount_fresh()", "st[0]", e.warmup), f"amount_learn(st, v, {p.horizon})"]
            else:
                raise ValueError(f"model {name!r}: nothing to learn")
            body += _indent(inner)
    for j, (c, k, positions) in enumerate(combined):
        ns[f"combined{j}"] = c
        seen_sum = " + ".join(f"(w{i} is not None)" for i in positions)
        warm_sum = " + ".join(f"(w{i} is True)" for i in positions)
        body += [f"if {seen_sum}:",
                 f"    combined{j}.seen += 1",
                 f"    if {warm_sum} < {k}:",
                 f"        combined{j}.warming += 1"]
    source = "\n".join(["def learn(event, f, t, b, s):", *_indent(body or ["pass"])]) + "\n"
    exec(compile(source, f"<learn {', '.join(seen)}>", "exec"), ns)  # our own source, of validated names
    fn = ns["learn"]
    fn.__source__ = source
    return fn
