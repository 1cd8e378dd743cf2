"""Window: the sliding event-time window behind ``aggregate:`` rules."""

from __future__ import annotations

import orjson
import pytest

from stream_guard.core import windows
from stream_guard.core.windows import MAX_ITEMS, Window

W = 600.0  # a 10-minute window


def win(function: str) -> Window:
    return Window(f"agg:{function}:x")


def filled(function: str, pairs: list[tuple[float, object]], width: float = W) -> Window:
    w = win(function)
    for t, v in pairs:
        w.add(t, v, width=width)
    return w


# -- each function -----------------------------------------------------------------------


def test_count_counts_items_and_ignores_values():
    w = filled("count", [(0, None), (10, None), (20, None)])
    assert w.value() == 3
    assert w.total == 0.0 and w.distinct == {}


def test_sum_adds_values():
    w = filled("sum", [(0, 100.0), (10, 250.0), (20, 50.0)])
    assert w.value() == 400.0


def test_avg_is_sum_over_items():
    w = filled("avg", [(0, 100.0), (10, 200.0), (20, 600.0)])
    assert w.value() == pytest.approx(300.0)


def test_avg_of_an_empty_window_is_zero():
    assert win("avg").value() == 0.0


def test_count_distinct_counts_each_value_once():
    w = filled("count_distinct", [(0, "u-1"), (10, "u-2"), (20, "u-1"), (30, "u-3")])
    assert w.value() == 3
    assert w.distinct == {"u-1": 2, "u-2": 1, "u-3": 1}


def test_empty_window_values_and_span():
    w = Window()
    assert (win("count").value(), win("sum").value(), win("count_distinct").value()) == (0, 0.0, 0)
    assert w.span() == (0.0, 0.0)
    assert w.sample() == []


# -- the (newest - width, newest] boundary -----------------------------------------------


def test_item_exactly_width_older_than_newest_is_out():
    w = filled("count", [(0, None), (W, None)])
    assert w.value() == 1
    assert w.span() == (W, W)


def test_item_one_second_younger_than_width_is_in():
    w = filled("count", [(1, None), (W, None)])
    assert w.value() == 2
    assert w.span() == (1, W)


def test_window_slides_as_newer_items_arrive():
    w = filled("count", [(t, None) for t in (0, 100, 200, 300)])
    assert w.value() == 4
    w.add(700, None, width=W)  # horizon 100: 0 and 100 go
    assert [t for t, _ in w.items] == [200, 300, 700]


# -- out-of-order items ------------------------------------------------------------------


def test_out_of_order_item_is_inserted_in_time_order():
    w = filled("sum", [(100, 1.0), (300, 3.0), (200, 2.0)])
    assert w.items == [(100, 1.0), (200, 2.0), (300, 3.0)]
    assert w.value() == 6.0
    assert w.span() == (100, 300)


def test_out_of_order_item_with_equal_time_keeps_arrival_order():
    w = filled("count_distinct", [(100, "a"), (300, "c"), (100, "b")])
    assert w.items == [(100, "a"), (100, "b"), (300, "c")]


def test_out_of_order_item_already_outside_the_window_is_dropped_and_not_counted():
    w = filled("sum", [(1000, 5.0), (400, 7.0)])  # 400 <= 1000 - 600
    assert w.items == [(1000, 5.0)]
    assert w.value() == 5.0


def test_out_of_order_item_inside_the_window_does_not_move_the_horizon():
    w = filled("count", [(0, None), (500, None), (100, None)])
    assert w.value() == 3
    w.add(650, None, width=W)  # horizon 50: only 0 goes
    assert [t for t, _ in w.items] == [100, 500, 650]


# -- eviction keeps the aggregates in step -----------------------------------------------


def test_eviction_subtracts_from_sum():
    w = filled("sum", [(0, 100.0), (300, 20.0), (700, 3.0)])  # 0 goes
    assert w.value() == 23.0
    w.add(1000, 1.0, width=W)  # 300 goes
    assert w.value() == 4.0


def test_eviction_updates_avg():
    w = filled("avg", [(0, 100.0), (300, 20.0), (700, 40.0)])
    assert w.value() == pytest.approx(30.0)


def test_eviction_forgets_a_distinct_value_only_with_its_last_item():
    w = filled("count_distinct", [(0, "a"), (100, "a"), (200, "b")])
    w.add(650, "c", width=W)  # the first "a" goes, another "a" stays
    assert w.value() == 3
    assert w.distinct == {"a": 1, "b": 1, "c": 1}
    w.add(750, "c", width=W)  # the second "a" goes
    assert w.value() == 2
    assert "a" not in w.distinct


def test_eviction_of_everything_but_the_newest():
    w = filled("sum", [(0, 1.0), (10, 2.0), (20, 3.0), (5000, 4.0)])
    assert w.items == [(5000, 4.0)]
    assert w.value() == 4.0


# -- the MAX_ITEMS cap -------------------------------------------------------------------


def test_cap_keeps_the_newest_items(monkeypatch):
    monkeypatch.setattr(windows, "MAX_ITEMS", 5)
    w = filled("sum", [(t, float(t)) for t in range(8)], width=10_000)
    assert [t for t, _ in w.items] == [3, 4, 5, 6, 7]
    assert w.value() == 3 + 4 + 5 + 6 + 7


def test_cap_updates_distinct_counts(monkeypatch):
    monkeypatch.setattr(windows, "MAX_ITEMS", 3)
    w = filled("count_distinct", [(0, "a"), (1, "b"), (2, "a"), (3, "c"), (4, "d")], width=10_000)
    assert w.items == [(2, "a"), (3, "c"), (4, "d")]
    assert w.distinct == {"a": 1, "c": 1, "d": 1}


def test_cap_with_the_real_limit():
    w = filled("count", [(float(t), None) for t in range(MAX_ITEMS + 25)], width=1e9)
    assert w.value() == MAX_ITEMS
    assert w.span() == (25.0, float(MAX_ITEMS + 24))


# -- span and sample ---------------------------------------------------------------------


def test_span_is_oldest_and_newest_time():
    assert filled("count", [(50, None), (20, None), (90, None)]).span() == (20, 90)


def test_sample_gives_most_recent_distinct_values_first():
    w = filled("count_distinct", [(0, "a"), (1, "b"), (2, "a"), (3, "c")])
    assert w.sample() == ["c", "a", "b"]
    assert w.sample(2) == ["c", "a"]


# -- state round trip --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "values"),
    [
        ("count", [None, None, None]),
        ("sum", [10.0, 2.5, 7.0]),
        ("avg", [10.0, 2.5, 7.0]),
        ("count_distinct", ["u-1", "u-2", "u-1"]),
    ],
)
def test_state_round_trip_through_json(function, values):
    w = filled(function, list(zip((0, 100, 200), values, strict=True)))
    flat = orjson.loads(orjson.dumps(w.to_state()))
    back = Window.from_state(flat, f"agg:{function}:x")
    assert [tuple(i) for i in back.items] == [tuple(i) for i in w.items]
    assert back.value() == w.value()
    assert back.total == w.total and back.distinct == w.distinct


def test_state_is_flat_time_value_pairs():
    w = filled("sum", [(0, 1.0), (5, 2.0)])
    assert w.to_state() == [0, 1.0, 5, 2.0]


def test_restored_window_continues_like_the_original():
    pairs = [(0, "a"), (200, "b"), (400, "a")]
    w = filled("count_distinct", pairs)
    back = Window.from_state(orjson.loads(orjson.dumps(w.to_state())), "agg:count_distinct:x")
    for t, v in [(650, "c"), (900, "d")]:
        w.add(t, v, width=W)
        back.add(t, v, width=W)
    assert back.value() == w.value() == 3
    assert back.distinct == w.distinct


def test_from_state_of_an_empty_window():
    back = Window.from_state([], "agg:sum:x")
    assert back.items == [] and back.value() == 0.0
