"""The condition compiler: language, null semantics, guards, errors and escape attempts."""

from __future__ import annotations

import ast
import builtins
import os
import pathlib
from datetime import UTC, datetime
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.core.errors import RuleError, SourcePos
from stream_guard.core.events import parse_event
from stream_guard.core.rules import compiler as compiler_module
from stream_guard.core.rules.compiler import (
    ALWAYS,
    Condition,
    FieldType,
    Macro,
    Scope,
    compile_condition,
)

N = FieldType("number")
EVENT = {
    "value_krw": N,
    "address": FieldType("string"),
    "success": FieldType("bool", nullable=False),
    "ip": FieldType("string"),
    "device_id": FieldType("string"),
    "user_id": FieldType("string", nullable=False),
    "direction": FieldType("string", nullable=False),
    "asset": FieldType("string", nullable=False),
    "amount": FieldType("number", nullable=False),
    "ts": FieldType("time", nullable=False),
    "mfa_used": FieldType("bool"),
    "extra": FieldType("any"),
}
FEATURES = {
    "new_address": FieldType("bool"),
    "new_device": FieldType("bool"),
    "hours_since_security_change": N,
    "withdrawal_count_1h_by_user": FieldType("number", nullable=False),
    "last_login_at": FieldType("time"),
}
MACRO_POS = SourcePos("rules/macros.yaml", 3, 12)
MACROS = {
    "big": Macro("event.value_krw >= 10_000_000"),
    "either": Macro("features.new_address or features.new_device"),
    "risky": Macro("big and either"),
    "withdrawal": Macro("event.direction == 'withdrawal' and event.success"),
}
CYCLIC = {
    "a": Macro("b and true", SourcePos("m.yaml", 1, 5)),
    "b": Macro("features.new_address and a", SourcePos("m.yaml", 2, 5)),
    "me": Macro("me", SourcePos("m.yaml", 3, 6)),
    "broken": Macro("features.new_devise", MACRO_POS),
}
SCOPE = Scope(
    event=EVENT,
    features=FEATURES,
    scores=("amount_unusual",),
    steps={"deposit": {"value_krw": FieldType("number", nullable=False), "asset": EVENT["asset"]}},
    lists={"cold_wallets": {"cw1", "cw2"}, "office_nets": ["10.0.0.0/8", "2001:db8::/32"]},
    macros={**MACROS, **CYCLIC},
)
T0 = 1_764_000_000.0  # the event time used by run()
POS = SourcePos("rules/withdrawals/rapid_drain.yaml", 14, 9)


def ev(**kw: Any) -> SimpleNamespace:
    base = dict(value_krw=20_000_000.0, address="addr-1", success=True, ip="10.1.2.3",
                device_id="d-1", user_id="u-1", direction="withdrawal", asset="BTC",
                amount=0.5, ts=datetime.fromtimestamp(T0 - 7200, UTC), mfa_used=None, extra=7)
    return SimpleNamespace(**{**base, **kw})


def feats(**kw: Any) -> dict[str, Any]:
    base = dict(new_address=True, new_device=False, hours_since_security_change=3.0,
                withdrawal_count_1h_by_user=4, last_login_at=T0 - 3600)
    return {**base, **kw}


def run(src: str, e: Any = None, f: Any = None, s: Any = None, st_: Any = None,
        scope: Scope = SCOPE) -> bool:
    cond = compile_condition(src, scope)
    # Make the generated catch-all inert: normal cases must not raise at all.
    cond.fn.__globals__["_E_runtime"] = ()
    result = cond.fn(ev() if e is None else e, feats() if f is None else f, s or {}, st_ or {}, T0)
    assert type(result) is bool
    assert cond(ev() if e is None else e, feats() if f is None else f, s or {}, st_ or {}, T0) is result
    return result


def err(src: str, scope: Scope = SCOPE, pos: SourcePos | None = POS) -> RuleError:
    with pytest.raises(RuleError) as info:
        compile_condition(src, scope, pos=pos, rule_id="rapid_drain")
    return info.value


# --- operators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("event.value_krw == 20_000_000", True),
        ("event.value_krw != 20_000_000", False),
        ("event.value_krw < 20_000_001", True),
        ("event.value_krw <= 20_000_000", True),
        ("event.value_krw > 20_000_000", False),
        ("event.value_krw >= 20_000_000", True),
        ("event.asset in ('BTC', 'ETH')", True),
        ("event.asset in ['XRP']", False),
        ("event.asset in {'BTC'}", True),
        ("event.asset not in ('BTC',)", False),
        ("event.asset in ()", False),
        ("event.value_krw in (1, 20_000_000.0, -3)", True),
        ("event.address is None", False),
        ("event.address is not None", True),
        ("event.address == null", False),
        ("event.success and not features.new_device", True),
        ("features.new_device or event.success", True),
        ("not event.success", False),
        ("True and true and not False and not false", True),
        ("event.amount + 0.5 == 1", True),
        ("event.amount - 1 == -0.5", True),
        ("event.amount * 4 == 2", True),
        ("event.amount / 0.25 == 2", True),
        ("features.withdrawal_count_1h_by_user // 3 == 1", True),
        ("features.withdrawal_count_1h_by_user % 3 == 1", True),
        ("features.withdrawal_count_1h_by_user ** 2 == 16", True),
        ("2 ** -1 == 0.5", True),
        ("-event.amount == -0.5 and +event.amount == 0.5", True),
        ("-(event.value_krw) < 0", True),
        ("(1 if event.success else 2) == 1", True),
        ("('big' if event.value_krw > 1e9 else 'small') == 'small'", True),
        ("event.address < 'b' and event.address >= 'addr'", True),
        ("score.amount_unusual > 0.5", True),
        ("steps.deposit.value_krw > 5 and steps.deposit.asset == 'BTC'", True),
        ("event.ts < features.last_login_at", True),
        ("event.ts == event.ts", True),
        ("event.ts > 1e9", True),
        ("features.new_address == 1", True),
        ("event.extra + 1 == 8", True),
    ],
)
def test_operators(src: str, expected: bool) -> None:
    deposit = SimpleNamespace(value_krw=10, asset="BTC")
    assert run(src, s={"amount_unusual": 0.9}, st_={"deposit": deposit}) is expected


def test_real_pydantic_event_and_multiline_source() -> None:
    e = parse_event(b'{"event_id":"t-1","type":"transfer","ts":"2026-11-24T09:15:02Z",'
                    b'"user_id":"u-1","direction":"withdrawal","asset":"BTC","amount":"1",'
                    b'"value_krw":60000000}')
    src = "event.value_krw >= 50_000_000  # large\n  and features.new_address\n"
    assert compile_condition(src, SCOPE)(e, feats(), {}, {}, e.ts.timestamp() + 3600)
    t = e.ts.timestamp() + 5400
    assert compile_condition("hours_since(event.ts) == 1.5", SCOPE)(e, feats(), {}, {}, t)


@pytest.mark.parametrize(
    ("src", "value", "expected"),
    [
        ("1 < event.value_krw < 100", 50, True),
        ("1 < event.value_krw < 100", 500, False),
        ("1 < event.value_krw < 100", -5, False),
        ("1 < event.value_krw * 2 < 100 <= 100", 20, True),
        ("100 > abs(event.value_krw) > 1 > 0", -50, True),
        ("1 < event.value_krw < 100", None, False),
        ("0 == event.value_krw - 50 == 0", 50, True),
        ("event.value_krw == event.value_krw != 3", 4, True),
    ],
)
def test_chained_compares_read_each_operand_once(src: str, value: Any, expected: bool) -> None:
    reads = []

    class Event:
        @property
        def value_krw(self) -> Any:
            reads.append(1)
            return value

    assert run(src, e=Event()) is expected
    per_call = src.count("event.value_krw")
    assert len(reads) == 2 * per_call  # run() calls the condition twice


# --- functions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("in_list(event.address, 'cold_wallets')", False),
        ("in_list('cw1', 'cold_wallets')", True),
        ("in_list(event.address, 'cold_wallets') == False", True),
        ("in_cidr(event.ip, '10.0.0.0/8')", True),
        ("in_cidr(event.ip, '192.168.0.0/16')", False),
        ("in_cidr(event.ip, 'office_nets')", True),
        ("in_cidr('2001:db8::7', 'office_nets')", True),
        ("in_cidr('not an ip', 'office_nets')", False),
        ("lower(event.asset) == 'btc' and upper('eth') == 'ETH'", True),
        ("len(event.asset) == 3", True),
        ("startswith(event.address, 'addr') and endswith(event.address, '-1')", True),
        ("contains(event.address, 'dr-') and not contains(event.address, 'x')", True),
        ("abs(-event.amount) == 0.5", True),
        ("min(event.amount, 2, 3) == 0.5 and max(event.amount, 2, 3) == 3", True),
        ("round(event.amount * 3, 1) == 1.5 and round(2.6) == 3", True),
        ("round(1234, -2) == 1200", True),
        ("log10(event.value_krw) > 7.3", True),
        ("log10(0) is None and log10(-1) is None", True),
        ("coalesce(event.address, 'x') == 'addr-1'", True),
        ("is_null(event.mfa_used) and not is_null(event.address)", True),
        ("hours_since(event.ts) == 2", True),
        ("hours_since(features.last_login_at) == 1", True),
    ],
)
def test_functions(src: str, expected: bool) -> None:
    assert run(src) is expected


@pytest.mark.parametrize(
    "src",
    [
        "in_list(event.address, 'cold_wallets') == False",
        "in_cidr(event.ip, '10.0.0.0/8') is None",
        "lower(event.address) is None and upper(event.address) is None",
        "len(event.address) is None",
        "startswith(event.address, 'a') is None and endswith(event.address, 'a') is None",
        "contains(event.address, 'a') is None and contains('abc', event.address) is None",
        "abs(event.value_krw) is None",
        "min(event.value_krw, 1) is None and max(1, event.value_krw) is None",
        "round(event.value_krw) is None and log10(event.value_krw) is None",
        "coalesce(event.address, event.value_krw) is None",
        "coalesce(event.address, 'fallback') == 'fallback'",
        "is_null(event.address)",
        "hours_since(features.last_login_at) is None",
    ],
)
def test_functions_with_null_inputs(src: str) -> None:
    e = ev(address=None, value_krw=None, ip=None)
    assert run(src, e=e, f=feats(last_login_at=None)) is True


def test_in_list_reads_the_live_container() -> None:
    wallets = {"a"}
    scope = Scope(event=EVENT, features=FEATURES, lists={"w": wallets})
    cond = compile_condition("in_list(event.address, 'w')", scope)
    assert not cond(ev(address="b"), feats(), {}, {}, T0)
    wallets.add("b")
    assert cond(ev(address="b"), feats(), {}, {}, T0)


# --- null semantics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("event.value_krw > 5", False),
        ("event.value_krw <= 5", False),
        ("not (event.value_krw > 5)", True),
        ("event.value_krw == 5", False),
        ("event.value_krw != 5", True),
        ("event.value_krw == None", True),
        ("1 < event.value_krw < 10", False),
        ("event.value_krw + 1 > 0", False),
        ("event.value_krw + 1 < 0", False),
        ("(event.value_krw * 2) is None", True),
        ("-event.value_krw is None", True),
        ("event.value_krw / 2 is None", True),
        ("abs(event.value_krw * 2 - 1) is None", True),
        ("event.address in ('a', 'b')", False),
        ("event.address not in ('a', 'b')", True),
        ("in_list(event.address, 'cold_wallets')", False),
        ("not in_list(event.address, 'cold_wallets')", True),
        ("event.address == 'x'", False),
        ("event.address != 'x'", True),
        ("features.hours_since_security_change < 24", False),
        ("score.amount_unusual > 0.5 or score.amount_unusual <= 0.5", False),
        ("steps.deposit.value_krw > 1 or steps.deposit.value_krw <= 1", False),
        ("steps.deposit.value_krw is None", True),
        ("features.new_address", False),
        ("not features.new_address", True),
        ("event.extra + 1 is None", True),
        ("features.last_login_at < event.ts", False),
        ("hours_since(features.last_login_at) < 5", False),
    ],
)
def test_null_semantics(src: str, expected: bool) -> None:
    e = ev(value_krw=None, address=None, extra="text, not a number")
    f = feats(hours_since_security_change=None, new_address=None, last_login_at=None)
    assert run(src, e=e, f=f) is expected


@pytest.mark.parametrize(
    "src",
    [
        "event.amount / features.withdrawal_count_1h_by_user is None",
        "event.amount // features.withdrawal_count_1h_by_user is None",
        "event.amount % features.withdrawal_count_1h_by_user is None",
        "event.amount / 0 is None",
        "not (event.amount / features.withdrawal_count_1h_by_user > 1)",
        "0 ** -1 is None",
    ],
)
def test_division_by_zero_gives_none(src: str) -> None:
    assert run(src, f=feats(withdrawal_count_1h_by_user=0)) is True


def test_power_never_builds_huge_integers() -> None:
    assert run("((10**10)**10)**10 > 0") is True
    assert run("(((1e300 ** 2) ** 2)) is None") is True  # float overflow → None


def test_catch_all_turns_runtime_errors_into_false() -> None:
    cond = compile_condition("event.extra == 1 or event.extra < 5", SCOPE)
    assert cond(ev(extra="text"), feats(), {}, {}, T0) is False  # str < int: TypeError
    assert cond.fn(ev(extra="text"), feats(), {}, {}, T0) is False
    assert cond(SimpleNamespace(), feats(), {}, {}, T0) is False  # no such attribute

    def boom(*_: Any) -> bool:
        raise ZeroDivisionError

    assert Condition("x", boom)(None, {}, {}, {}, 0.0) is False


_FIELDS = ["event.value_krw", "event.amount", "features.hours_since_security_change",
           "features.withdrawal_count_1h_by_user", "event.extra", "score.amount_unusual"]
_leaf = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(_FIELDS))
_arith = st.recursive(
    _leaf,
    lambda sub: st.one_of(
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "//", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda x: f"(-{x})"),
        sub.map(lambda x: f"({x}) ** 2"),
    ),
    max_leaves=8,
)
_value = st.one_of(st.none(), st.integers(-3, 3), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(expr=_arith, cmp=st.sampled_from(["> 0", "<= 1", "is None", "== 0"]),
       v1=_value, v2=st.integers(-3, 3), v3=_value, v4=st.integers(-2, 2), v5=_value)
def test_random_arithmetic_never_raises(expr: str, cmp: str, v1: Any, v2: int, v3: Any,
                                        v4: int, v5: Any) -> None:
    e = ev(value_krw=v1, amount=v2, extra=v5)
    f = feats(hours_since_security_change=v3, withdrawal_count_1h_by_user=v4)
    run(f"{expr} {cmp}", e=e, f=f, s={"amount_unusual": v3})  # raises if anything raises


# --- macros -------------------------------------------------------------------------------


def test_macros_inline_with_parentheses_and_nest() -> None:
    assert run("either and event.value_krw > 1", f=feats(new_address=True)) is True
    # 'either' is (a or b): without parentheses this would be a or (b and False)
    assert run("either and false") is False
    assert run("risky", e=ev(value_krw=5)) is False
    cond = compile_condition("risky", SCOPE)
    assert cond.names == {"event.value_krw", "features.new_address", "features.new_device"}


@pytest.mark.parametrize(
    ("src", "cycle", "where"),
    [
        ("a", "a -> b -> a", "m.yaml:2:30"),
        ("features.new_address and me", "me -> me", "m.yaml:3:6"),
    ],
)
def test_macro_cycles(src: str, cycle: str, where: str) -> None:
    e = err(src)
    assert e.code == "macro-cycle"
    assert f"macro cycle: {cycle}" in e.message
    assert str(e.pos) == where


def test_error_inside_a_macro_points_at_the_macro() -> None:
    e = err("event.success and broken")
    assert e.code == "unknown-feature"
    assert str(e.pos) == "rules/macros.yaml:3:12"
    assert e.message == ("in macro 'broken': unknown feature 'new_devise'; "
                         "did you mean 'new_device'?")


def test_unused_broken_macros_are_not_parsed() -> None:
    assert compile_condition("event.success", SCOPE).names == {"event.success"}


# --- guards -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "guards"),
    [
        ("event.direction == 'withdrawal' and event.value_krw > 5", {"direction": {"withdrawal"}}),
        ("'withdrawal' == event.direction", {"direction": {"withdrawal"}}),
        ("event.asset in ('BTC', 'ETH') and event.asset == 'BTC'", {"asset": {"BTC"}}),
        ("event.asset in ['BTC', 'ETH'] and event.success", {"asset": {"BTC", "ETH"}, "success": {True}}),
        ("not event.success", {"success": {False}}),
        ("not event.mfa_used", {"mfa_used": {False, None}}),
        ("event.value_krw == -5 and event.address == null", {"value_krw": {-5}, "address": {None}}),
        ("event.direction == 'a' and event.direction == 'b'", {"direction": set()}),
        ("withdrawal and features.new_address", {"direction": {"withdrawal"}, "success": {True}}),
        ("(event.asset == 'BTC' and big) and event.success == true", {"asset": {"BTC"}, "success": {True}}),
        ("event.direction == 'withdrawal' or event.asset == 'BTC'", {}),
        ("not (event.direction == 'withdrawal')", {}),
        ("event.direction != 'withdrawal'", {}),
        ("event.asset not in ('BTC',)", {}),
        ("event.asset == 'BTC' == event.direction", {}),
        ("event.direction == event.asset", {}),
        ("features.new_address == true", {}),
        ("event.extra", {}),
        ("either", {}),
        ("event.success if event.value_krw > 1 else false", {}),
        ("event.ts == features.last_login_at", {}),
    ],
)
def test_guards(src: str, guards: dict[str, set[Any]]) -> None:
    cond = compile_condition(src, SCOPE)
    assert dict(cond.guards) == {k: frozenset(v) for k, v in guards.items()}
    assert isinstance(cond.guards, MappingProxyType)


# --- errors -------------------------------------------------------------------------------


ERROR_CASES = [
    ("features.new_devise", "unknown-feature",
     "unknown feature 'new_devise'; did you mean 'new_device'?"),
    ("event.valu_krw > 1", "unknown-field", "unknown field 'valu_krw'; did you mean 'value_krw'?"),
    ("score.amount_unusul > 0.5", "unknown-score", "did you mean 'amount_unusual'?"),
    ("steps.deposti.value_krw > 1", "unknown-step", "did you mean 'deposit'?"),
    ("steps.deposit.valu > 1", "unknown-field", "step 'deposit' has no field 'valu'; did you mean 'value_krw'?"),
    ("bigg", "unknown-name", "did you mean 'big'?"),
    ("scores.amount_unusual", "unknown-name", "did you mean 'score'?"),
    ("in_list(event.address, 'cold_walets')", "unknown-list", "did you mean 'cold_wallets'?"),
    ("lowr(event.address) == 'a'", "unknown-function", "did you mean 'lower'?"),
    ("lower(event.address, 1)", "bad-arity", "lower(s) takes 1 argument, got 2"),
    ("min(1)", "bad-arity", "takes at least 2 arguments"),
    ("round()", "bad-arity", "takes 1 to 2 arguments, got 0"),
    ("in_list(event.address, event.asset)", "bad-argument", "list name in quotes"),
    ("in_cidr(event.ip, '10.0.0.0/33')", "bad-argument", "neither a CIDR network"),
    ("round(event.amount, 10**9)", "bad-argument", "from -20 to 20"),
    ("event.value_krw == 'x'", "type-error", "cannot compare 'event.value_krw' (a number) with \"'x'\" (text)"),
    ("event.address > 5", "type-error", "cannot compare"),
    ("event.value_krw in ('a', 'b')", "type-error", "cannot compare"),
    ("event.value_krw < None", "type-error", "use 'x is None'"),
    ("event.device_id * 1000000000", "type-error", "'event.device_id' is text"),
    ("event.success + 1", "type-error", "is true/false, not a number"),
    ("event.ts - 5 > 0", "type-error", "use hours_since"),
    ("lower(event.value_krw)", "type-error", "lower(s) expects text as argument 1"),
    ("event.address in event.user_id", "type-error", "contains(s, sub)"),
    ("event.address in ('a', None)", "type-error", "cannot hold None"),
    ("event.value_krw is 5", "forbidden-syntax", "'x is None'"),
    ("event.amount ** event.amount", "forbidden-syntax", "number constant between -10 and 10"),
    ("event.asset in (event.address,)", "forbidden-syntax", "only constants"),
    ("('a', 'b')", "forbidden-syntax", "may only appear after 'in'"),
    ("lower(s=event.address)", "forbidden-syntax", "keyword arguments"),
    ("event.amount & 1", "forbidden-syntax", "use 'and'"),
    ("event.user_id.upper()", "forbidden-call", "write upper(event.user_id) instead"),
    ("event.ts.tzinfo", "forbidden-attribute", "values have no attributes"),
    ("event", "incomplete-name", "write event.<name>"),
    ("steps.deposit", "incomplete-name", "write steps.deposit.<field>"),
    ("e", "forbidden-name", "reserved"),
    ("_L0", "forbidden-name", "names starting with '_' are reserved"),
    ("event.amount + 1000000000000000001", "too-large", "at most 10**18"),
    ("event.amount < 1e999", "too-large", "not finite"),
    ("event.address == '" + "x" * 1001 + "'", "too-large", "1,001 characters"),
    ("9**999999", "too-large", "exponent 999999 is too large"),
    ("event.amount +", "syntax-error", "not a valid expression"),
    ("(event.amount", "syntax-error", "not a valid expression"),
    ("event.amount) or (event.amount", "syntax-error", "unbalanced parentheses"),
    ("", "syntax-error", "empty"),
    ("x" * 10_001, "too-long", "the limit is 10,000"),
    ("not " * 60 + "event.success", "too-complex", "50 levels"),
    ("a", "macro-cycle", "a -> b -> a"),
]


@pytest.mark.parametrize(("src", "code", "text"), ERROR_CASES)
def test_error_codes(src: str, code: str, text: str) -> None:
    e = err(src)
    assert (e.code, e.rule_id) == (code, "rapid_drain")
    assert text in e.message
    assert str(e).endswith(f"[{code}]")


def test_every_documented_error_code_is_tested() -> None:
    section = (compiler_module.__doc__ or "").split("Error codes")[1]
    documented = set(section.split("``")[1::2])
    assert documented == {code for _, code, _ in ERROR_CASES}


def test_rendered_error_matches_the_house_format() -> None:
    assert str(err("features.new_devise")) == (
        "rules/withdrawals/rapid_drain.yaml:14:9: rule 'rapid_drain': unknown feature "
        "'new_devise'; did you mean 'new_device'? [unknown-feature]"
    )


@pytest.mark.parametrize(
    ("src", "where"),
    [
        ("event.success and features.nope", "14:27"),
        ("event.success and\n  features.nope", "15:3"),
        ("'한국어' == features.nope", "14:18"),
        ("event.amount +* 2", "14:23"),
        ("event.success and\n  1 +* 2", "15:6"),
    ],
)
def test_error_positions(src: str, where: str) -> None:
    assert str(err(src).pos) == f"{POS.path}:{where}"


def test_errors_without_a_position_and_non_text_sources() -> None:
    assert err("features.nope", pos=None).pos is None
    with pytest.raises(RuleError, match="must be an expression written as text"):
        compile_condition(True, SCOPE)  # type: ignore[arg-type]


# --- escape attempts ----------------------------------------------------------------------

ESCAPES = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "event.__class__",
    "event.__dict__",
    "features.__class__.__mro__",
    "lambda: 1",
    "[x for x in (1,2)]",
    "{x for x in ()}",
    "(x := 1)",
    'f"{event}"',
    "open('/etc/passwd')",
    "getattr(event, 'x')",
    "eval('1')",
    "exec('1')",
    "globals()",
    "event.user_id.upper()",
    "'a' * 10**9",
    "10**10**10",
    "9**999999",
    "'x' * 100000",
    "'" + "a" * 2_000_000 + "'",
    "(1 + " * 100 + "1" + ")" * 100,
    "-(" * 100 + "1" + ")" * 100,
    "event.ip[0]",
    "*a",
    "print(1)",
    "__builtins__",
    "e", "f", "s", "st", "t", "e.value_krw", "f['new_address']",
    "_L0", "_F_lower('A')", "_v1",
    "not_a_namespace.x",
    "event.ts.tzinfo",
    "lower.__globals__",
    "in_list.__call__(1)",
    "(1).__class__",
    "''.join(('a',))",
    "event.user_id.__len__()",
    "{'a': 1}",
    "event.value_krw if True else __import__",
    "[1, 2][0]",
    "await event",
    "yield 1",
]


@pytest.mark.parametrize("src", ESCAPES, ids=lambda s: s[:40])
def test_escape_attempts_are_compile_errors(src: str, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: pathlib.Path) -> None:
    calls: list[str] = []

    def trap(name: str) -> Any:
        def _trap(*args: Any, **kw: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called while compiling")
        return _trap

    monkeypatch.setattr(builtins, "eval", trap("eval"))
    monkeypatch.setattr(builtins, "exec", trap("exec"))
    monkeypatch.setattr(os, "system", trap("os.system"))
    with pytest.raises(RuleError):
        compile_condition(src, SCOPE, pos=POS)
    assert calls == []


def test_escape_attempt_does_not_run(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(RuleError):
        compile_condition(f"__import__('os').system('touch {marker}')", SCOPE)
    with pytest.raises(RuleError):
        compile_condition(f"open('{marker}', 'w')", SCOPE)
    assert not marker.exists()


def test_generated_function_has_no_builtins_and_only_generated_globals() -> None:
    cond = compile_condition(
        "in_list(event.address, 'cold_wallets') or lower(event.asset) in ('btc',) "
        "or hours_since(event.ts) > 1 or steps.deposit.value_krw ** 2 > 1", SCOPE)
    g = cond.fn.__globals__
    assert g["__builtins__"] == {}
    assert all(k.startswith("_") for k in g)
    params = cond.fn.__code__.co_varnames[:5]
    assert params == ("e", "f", "s", "st", "t")
    assert all(n.startswith("_v") for n in cond.fn.__code__.co_varnames[5:])


def test_compiler_modules_never_call_eval_or_exec() -> None:
    package = pathlib.Path(compiler_module.__file__).parent
    for name in ("compiler.py", "_codegen.py", "_calls.py", "_compare.py", "_typed.py", "_ast_check.py",
                 "functions.py"):
        tree = ast.parse((package / name).read_text())
        called = {n.func.id for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not called & {"eval", "exec", "__import__"}, name


# --- the public surface ---------------------------------------------------------------------


def test_always() -> None:
    assert ALWAYS(None, {}, {}, {}, 0.0) is True
    assert ALWAYS.names == frozenset() and dict(ALWAYS.guards) == {}


def test_scope_defaults_are_immutable() -> None:
    scope = Scope(event={}, features={})
    assert isinstance(scope.lists, MappingProxyType) and isinstance(scope.macros, MappingProxyType)
    assert tuple(scope.scores) == ()


def test_condition_names_cover_every_namespace() -> None:
    cond = compile_condition(
        "event.value_krw > 1 and features.new_address and score.amount_unusual > 0.5 "
        "and steps.deposit.value_krw > 0 and big", SCOPE)
    assert cond.names == {"event.value_krw", "features.new_address", "score.amount_unusual",
                          "steps.deposit.value_krw"}
    assert cond.source.startswith("event.value_krw")
