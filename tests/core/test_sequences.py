"""advance(): the partial-match state machine behind ``sequence:`` rules.

The matcher decides which steps an event satisfies; here it is "the steps named in
``only``", so each test says exactly which step an event could be.
"""

from __future__ import annotations

import itertools

import pytest

from stream_guard.core import sequences
from stream_guard.core.sequences import (
    MAX_PARTIALS,
    Partial,
    SequenceShape,
    StepShape,
    advance,
)

LOGIN_THEN_TRANSFER = SequenceShape(
    within=600, steps=(StepShape("login", "login"), StepShape("withdrawal", "transfer"))
)


class Feeder:
    """Feeds events into one list of partials; event ids are e1, e2..."""

    def __init__(self, seq: SequenceShape):
        self.seq = seq
        self.partials: list[Partial] = []
        self.ids = (f"e{i}" for i in itertools.count(1))

    def __call__(self, t: float, event_type: str, *only: int, capture=None, matches=None):
        if matches is None:
            matches = lambda i, st: i in only  # noqa: E731
        return advance(self.partials, self.seq, t, event_type, next(self.ids), matches, capture)


def ids(done: Partial) -> list[str]:
    return [cap["event_id"] for cap in done.steps.values()]


# -- order -------------------------------------------------------------------------------


def test_steps_complete_in_order():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    assert feed(0, "login", 0) is None
    done = feed(60, "transfer", 1)
    assert done is not None
    assert ids(done) == ["e1", "e2"]
    assert list(done.steps) == ["login", "withdrawal"]
    assert (done.start, done.last, done.next) == (0, 60, 2)
    assert feed.partials == []  # a completed partial is not kept


def test_second_step_first_does_not_count():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    assert feed(0, "transfer", 1) is None
    assert feed.partials == []
    assert feed(10, "login", 0) is None
    assert ids(feed(20, "transfer", 1)) == ["e2", "e3"]


def test_event_of_the_wrong_type_never_matches_a_step():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(0, "login", 0, 1)
    assert feed(10, "login", 0, 1) is None  # step 1 wants a transfer
    assert len(feed.partials) == 2


def test_event_earlier_than_the_partials_last_step_does_not_advance_it():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(100, "login", 0)
    assert feed(50, "transfer", 1) is None
    assert feed.partials[0].next == 1


# -- the span ----------------------------------------------------------------------------


def test_last_step_exactly_within_the_span_completes():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(0, "login", 0)
    assert feed(600, "transfer", 1) is not None


def test_last_step_just_past_the_span_does_not_complete_and_the_partial_expires():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(0, "login", 0)
    assert feed(601, "transfer", 1) is None
    assert feed.partials == []


def test_span_counts_from_the_first_step_not_the_previous_one():
    seq = SequenceShape(600, (StepShape("a", "login"), StepShape("b", "login"), StepShape("c", "login")))
    feed = Feeder(seq)
    feed(0, "login", 0)
    feed(500, "login", 1)
    assert feed(601, "login", 2) is None


# -- per-step within ---------------------------------------------------------------------

STEP_WITHIN = SequenceShape(
    3600,
    (StepShape("a", "login"), StepShape("b", "login"), StepShape("c", "transfer", within=60)),
)


def test_step_within_exactly_its_gap_matches():
    feed = Feeder(STEP_WITHIN)
    feed(0, "login", 0)
    feed(1000, "login", 1)
    assert feed(1060, "transfer", 2) is not None  # 60 s after b, 1060 s after a


def test_step_just_past_its_gap_does_not_match():
    feed = Feeder(STEP_WITHIN)
    feed(0, "login", 0)
    feed(1000, "login", 1)
    assert feed(1061, "transfer", 2) is None
    assert [p.next for p in feed.partials] == [2]  # still waiting, within the span


# -- absent steps ------------------------------------------------------------------------

NO_TRANSFER_BETWEEN = SequenceShape(
    600,
    (StepShape("a", "login"), StepShape("quiet", "transfer", absent=True), StepShape("c", "login")),
)


def test_absent_event_between_its_neighbours_kills_the_partial():
    feed = Feeder(NO_TRANSFER_BETWEEN)
    feed(0, "login", 0)
    assert feed(10, "transfer", 1) is None
    assert feed.partials == []
    assert feed(20, "login", 2) is None


def test_absent_step_is_satisfied_when_the_next_step_comes_first():
    feed = Feeder(NO_TRANSFER_BETWEEN)
    feed(0, "login", 0)
    done = feed(10, "login", 2)
    assert done is not None
    assert list(done.steps) == ["a", "c"]  # the absent step captures nothing


def test_event_not_matching_the_absent_condition_does_not_kill():
    feed = Feeder(NO_TRANSFER_BETWEEN)
    feed(0, "login", 0)
    assert feed(10, "transfer") is None  # a transfer, but not one the step is about
    assert feed(20, "login", 2) is not None


def test_absent_event_before_the_first_step_does_nothing():
    feed = Feeder(NO_TRANSFER_BETWEEN)
    feed(0, "transfer", 1)
    feed(10, "login", 0)
    assert feed(20, "login", 2) is not None


def test_absent_event_kills_only_partials_waiting_on_it():
    seq = SequenceShape(
        600,
        (
            StepShape("a", "login"),
            StepShape("b", "login"),
            StepShape("quiet", "transfer", absent=True),
            StepShape("d", "login"),
        ),
    )
    feed = Feeder(seq)
    feed(0, "login", 0)  # P1 -> waiting for b
    feed(10, "login", 0, 1)  # P1 -> waiting past quiet; P2 started
    feed(20, "transfer", 2)  # kills P1 only
    assert [p.start for p in feed.partials] == [10]


# -- several partials, the cap -----------------------------------------------------------


def test_event_that_starts_a_partial_does_not_also_advance_it():
    seq = SequenceShape(600, (StepShape("a", "login"), StepShape("b", "login")))
    feed = Feeder(seq)
    assert feed(0, "login", 0, 1) is None
    assert [(p.start, p.next) for p in feed.partials] == [(0, 1)]
    done = feed(10, "login", 0, 1)
    assert ids(done) == ["e1", "e2"]
    assert [(p.start, p.next) for p in feed.partials] == [(10, 1)]  # the second started anew


def test_several_partials_advance_independently():
    seq = SequenceShape(
        600, (StepShape("a", "login"), StepShape("b", "login"), StepShape("c", "transfer"))
    )
    feed = Feeder(seq)
    feed(0, "login", 0)  # P1
    feed(10, "login", 1)  # P1 -> b
    feed(20, "login", 0)  # P2
    assert [(p.start, p.next) for p in feed.partials] == [(0, 2), (20, 1)]
    done = feed(30, "transfer", 2)
    assert ids(done) == ["e1", "e2", "e4"]
    assert [(p.start, p.next) for p in feed.partials] == [(20, 1)]


def test_the_oldest_of_several_completed_partials_is_returned():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(0, "login", 0)
    feed(10, "login", 0)
    done = feed(20, "transfer", 1)
    assert ids(done) == ["e1", "e3"]
    assert feed.partials == []


def test_open_partials_are_capped_oldest_first():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    for t in range(MAX_PARTIALS + 3):
        feed(t, "login", 0)
    assert len(feed.partials) == MAX_PARTIALS
    assert [p.start for p in feed.partials] == list(range(3, MAX_PARTIALS + 3))


def test_cap_is_read_at_run_time(monkeypatch):
    monkeypatch.setattr(sequences, "MAX_PARTIALS", 2)
    feed = Feeder(LOGIN_THEN_TRANSFER)
    for t in range(5):
        feed(t, "login", 0)
    assert [p.start for p in feed.partials] == [3, 4]


def test_expired_partials_are_dropped_on_the_next_event():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    feed(0, "login", 0)
    feed(500, "login", 0)
    feed(700, "login")  # matches nothing; expires the first
    assert [p.start for p in feed.partials] == [500]


# -- what later steps see ----------------------------------------------------------------


def test_captured_fields_reach_later_steps_through_the_view():
    feed = Feeder(LOGIN_THEN_TRANSFER)
    seen = []

    def matches(i, st):
        seen.append((i, {k: vars(v) for k, v in st.items()}))
        return i == 0 or st["login"].device_id == "d-1"

    feed(0, "login", matches=matches, capture=lambda i: {"device_id": "d-1"})
    done = feed(10, "transfer", matches=matches, capture=lambda i: {"amount": 5})
    assert done is not None
    assert seen[0] == (0, {})  # a first step sees no earlier steps
    assert seen[-1] == (1, {"login": {"event_id": "e1", "t": 0, "device_id": "d-1"}})
    assert done.steps["withdrawal"] == {"event_id": "e2", "t": 10, "amount": 5}


@pytest.mark.parametrize("steps", [{}, {"a": {"event_id": "e1", "t": 5.0, "x": 1}}])
def test_partial_state_round_trip(steps):
    p = Partial(5.0, 6.0, 1, steps)
    back = Partial.from_state(p.to_state())
    assert (back.start, back.last, back.next, back.steps) == (5.0, 6.0, 1, steps)
