"""How good the models are on labelled traffic (``stream-guard models evaluate``).

Per model, over the events it scores: **ROC AUC** and **precision at the top 1%**, where the
positives are the attacks' key events (``key_event_id`` in labels.json) and the negatives
are all events of benign users (but those inside the two-hour window of an attack that
lists the user as a victim, which the attack may have caused). A score that is null (the
model warming up) counts as 0: no evidence.

Then the default pack twice, scored exactly as ../shared/EVENTS.md says: with the rules
that read model scores and the models, and without them (``rules_only``).

>>> roc_auc([(0.9, True), (0.1, False), (0.5, False)])
1.0
>>> roc_auc([(0.5, True), (0.5, False)])
0.5
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from stream_guard.core.clock import parse_ts
from stream_guard.core.models import ModelRegistry
from stream_guard.core.rules.pack import CompiledRule, RuleSet
from stream_guard.replay import DEFAULT_PARTITIONS, build_detector, replay
from stream_guard.scoring import WINDOW, score

__all__ = ["evaluate", "precision_at", "reads_scores", "roc_auc", "without_model_rules"]


def roc_auc(pairs: Iterable[tuple[float, bool]]) -> float | None:
    """The probability that a random positive scores above a random negative (ties: half)."""
    pos = neg = 0
    by_score: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for s, label in pairs:
        by_score[s][0 if label else 1] += 1
        if label:
            pos += 1
        else:
            neg += 1
    if not pos or not neg:
        return None
    below = 0  # negatives with a lower score than the current one
    wins = 0.0
    for s in sorted(by_score):
        p, n = by_score[s]
        wins += p * (below + n / 2)
        below += n
    return wins / (pos * neg)


def precision_at(pairs: list[tuple[float, bool]], share: float = 0.01) -> float | None:
    """The share of positives among the ``share`` highest-scored events (at least one)."""
    if not pairs:
        return None
    k = max(1, round(len(pairs) * share))
    top = sorted(pairs, key=lambda p: -p[0])[:k]
    return sum(1 for _, label in top if label) / k


def reads_scores(rule: CompiledRule) -> bool:
    names = set(rule.when.names).union(*(s.when.names for s in rule.steps), *(x.names for x in rule.excepts))
    return any(n.startswith("score.") for n in names)


def without_model_rules(rules: RuleSet) -> RuleSet:
    return replace(rules, rules=tuple(r for r in rules.rules if not reads_scores(r)))


class _Recorder:
    """Wraps the scorer: keeps each positive's and negative's scores, per model."""

    def __init__(self, scorer: Any, positives: set[str], benign: set[str],
                 victim_windows: Mapping[str, list[float]]):
        self.scorer = scorer
        self.positives = positives
        self.benign = benign
        self.windows = victim_windows
        self.pairs: dict[str, list[tuple[float, bool]]] = defaultdict(list)

    def __bool__(self) -> bool:
        return True

    def score(self, event: Any, f: Any, state: Any, t: float) -> Any:
        s = self.scorer.score(event, f, state, t)
        if s.seen:  # some model sees the event
            label = None
            if event.event_id in self.positives:
                label = True
            elif event.user_id in self.benign and not any(
                abs(t - w) <= WINDOW for w in self.windows.get(event.user_id, ())
            ):
                label = False
            if label is not None:
                for name, v in s.materialize().items():  # every score, not only those the rules read
                    self.pairs[name].append((0.0 if v is None else v, label))
        return s

    def learn(self, s: Any, state: Any) -> None:
        self.scorer.learn(s, state)

    def explain(self, name: str, s: Any, state: Any) -> Any:
        return self.scorer.explain(name, s, state)


def evaluate(
    read: Callable[[], Iterable[bytes]],
    rules: RuleSet,
    models: ModelRegistry,
    labels: Mapping[str, Any],
    *,
    partitions: int = DEFAULT_PARTITIONS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """The evaluation document (see the module docstring); ``read()`` gives the events' lines
    afresh for each of the two passes."""
    attacks = labels.get("attacks", [])
    positives = {a["key_event_id"] for a in attacks if a.get("key_event_id")}
    benign = set(labels.get("benign_users", []))
    windows: dict[str, list[float]] = defaultdict(list)
    for a in attacks:
        for v in a.get("victims") or []:
            windows[v].append(parse_ts(a["key_ts"]).timestamp())

    detector = build_detector(rules, models=models, partitions=partitions)
    recorder = _Recorder(detector.scorer, positives, benign, windows) if detector.scorer else None
    if recorder is not None:
        detector.scorer = recorder
    with_models: list[dict] = []
    stats = replay(read(), detector, lambda d: with_models.append(d.to_dict()),
                   progress=(lambda n: progress("rules and models", n)) if progress else None)
    plain: list[dict] = []
    replay(read(), build_detector(without_model_rules(rules)), lambda d: plain.append(d.to_dict()),
           progress=(lambda n: progress("rules only", n)) if progress else None)

    out_models: dict[str, Any] = {}
    for name in models.names:
        pairs = recorder.pairs.get(name, []) if recorder is not None else []
        auc = roc_auc(pairs)
        p1 = precision_at(pairs)
        out_models[name] = {
            "roc_auc": None if auc is None else round(auc, 4),
            "precision_at_1pct": None if p1 is None else round(p1, 4),
            "positives": sum(1 for _, y in pairs if y),
            "negatives": sum(1 for _, y in pairs if not y),
        }

    def figures(decisions: list[dict]) -> dict[str, Any]:
        sc = score(decisions, labels)
        return {"recall": round(sc.recall, 4), "benign_flagged_share": round(sc.benign_flagged_share, 4),
                "recall_by_kind": {k: round(v, 4) for k, v in sorted(sc.recall_by_kind.items())}}

    model_rules = sorted(r.id for r in rules.rules if reads_scores(r))
    return {
        "models": out_models,
        "rules_only": figures(plain),
        "rules_and_models": figures(with_models),
        "model_rules": model_rules,
        "events": stats.events,
        "partitions": partitions,
    }
