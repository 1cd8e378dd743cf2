"""Compile a rule's condition text into a fast, safe Python function.

Risk analysts write conditions in YAML as Python-like expressions::

    when: event.value_krw >= 50_000_000 and features.new_address
          and not in_list(event.address, 'cold_wallets')

An analyst's file is data, never a program. :func:`compile_condition` parses the text
with ``ast.parse`` (which runs nothing), checks every node against an allow-list,
resolves every name against a :class:`Scope`, checks types, builds a *new* syntax tree
for ``def _cond(e, f, s, st, t): return <expr>`` and compiles that. ``eval`` and ``exec``
are never used; the function's globals hold no builtins, only the constants, lists and
helpers the compiler bound under generated names.

>>> from types import SimpleNamespace
>>> scope = Scope(event={"value_krw": FieldType("number")},
...               features={"new_address": FieldType("bool")})
>>> cond = compile_condition("event.value_krw >= 50_000_000 and features.new_address", scope)
>>> cond(SimpleNamespace(value_krw=60_000_000), {"new_address": True}, {}, {}, 0.0)
True
>>> sorted(cond.names), dict(cond.guards)
(['event.value_krw', 'features.new_address'], {})
>>> compile_condition("features.new_adress", scope)
Traceback (most recent call last):
...
stream_guard.core.errors.RuleError: unknown feature 'new_adress'; did you mean 'new_address'? [unknown-feature]

The language
------------
Names
    ``event.<field>``, ``features.<name>``, ``score.<model>`` (a number in [0, 1] or
    missing), ``steps.<step>.<field>`` (a field of an earlier step of a sequence; missing
    until that step has happened), a macro name, ``true``/``false``/``null`` (or
    ``True``/``False``/``None``). Nothing else: bare ``e``, ``f``, ``s``, ``st``, ``t``,
    any name starting with ``_`` and any attribute of a value are rejected.
Constants
    Whole numbers up to 10**18 in size, finite decimals (``1.5``, ``1e9``, ``10_000``),
    quoted text up to 1,000 characters, ``true``, ``false``, ``null``.
Operators
    ``and``, ``or``, ``not``; ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (chains such as
    ``1 <= x < 5`` work and read ``x`` once); ``x is None``, ``x is not None``;
    ``x in (...)``, ``x not in (...)`` with a list of constants (``()``, ``[]`` or ``{}``,
    up to 10,000 items, no ``None``); ``+ - * / // %`` and unary ``-``/``+`` on numbers;
    ``x ** k`` with a number constant ``k`` from -10 to 10; ``a if cond else b``.
Functions
    ``in_list(x, 'list')``, ``in_cidr(ip, 'cidr-or-list')``, ``lower(s)``, ``upper(s)``,
    ``len(s)``, ``startswith(s, p)``, ``endswith(s, p)``, ``contains(s, sub)``, ``abs(x)``,
    ``min(a, b, ...)``, ``max(a, b, ...)``, ``round(x[, n])``, ``log10(x)``,
    ``coalesce(a, b, ...)``, ``is_null(x)``, ``hours_since(t0)``; see
    :mod:`stream_guard.core.rules.functions`. Arguments are positional only.
Types
    Every name has a type (``number``, ``string``, ``bool``, ``time``, ``any``). Text can
    only be compared, tested with ``in`` or passed to text functions; arithmetic needs
    numbers (an ``any`` value that is not a number counts as missing); times compare with
    times or POSIX seconds, and ``hours_since`` turns them into numbers. Comparing text
    with a number is a ``type-error``. ``and``/``or``/``not`` accept anything.
Limits
    At most 10,000 characters and 50 levels of nesting (counting inlined macros).

Missing values (null semantics)
-------------------------------
A nullable field, feature, score or step field may be ``None`` at run time; then:

* ``<``, ``<=``, ``>``, ``>=`` with a ``None`` operand are false (never an error), so
  ``not (x > 5)`` is true when ``x`` is missing; in a chain the whole chain is false;
* ``==`` and ``!=`` behave as in Python: ``None == 'x'`` is false, ``None != 'x'`` true;
* ``x in (...)`` and ``in_list(x, ...)`` are false and ``x not in (...)`` is true;
* arithmetic with a ``None`` operand gives ``None``, and so does ``/``, ``//`` or ``%``
  by zero; a comparison on that result is then false;
* functions give ``None`` for ``None`` input, except ``coalesce`` and ``is_null``;
* ``None`` is false in ``and``, ``or``, ``not`` and as the whole condition.

Only nullable operands get these checks, so non-nullable ones cost nothing. If a value
still has the wrong kind at run time (an ``any`` field holding a list, an event without
a declared field), the condition is ``False`` instead of raising.

Macros and guards
-----------------
A bare name in ``Scope.macros`` is replaced by that macro's condition, as if it were in
parentheses; macros may use macros, but not themselves (``macro-cycle``). Errors in a
macro point at the macro's own position. :attr:`Condition.guards` lists values an event
field *must* have for the condition to be true, read from the top-level ``and`` only:
``event.F == 'x'``, ``event.F in ('x', 'y')`` and, for a ``bool`` field, ``event.F``
(``{True}``) or ``not event.F`` (``{False}``, plus ``None`` if the field is nullable).

Error codes
-----------
``syntax-error``, ``too-long``, ``too-complex``, ``too-large``, ``forbidden-syntax``,
``forbidden-name``, ``forbidden-attribute``, ``forbidden-call``, ``incomplete-name``,
``unknown-field``, ``unknown-feature``, ``unknown-score``, ``unknown-step``,
``unknown-name``, ``unknown-list``, ``unknown-function``, ``bad-arity``, ``bad-argument``,
``type-error``, ``macro-cycle``. Unknown names come with a did-you-mean suggestion.
"""

from __future__ import annotations

import ast
import types
import warnings
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from stream_guard.core.errors import RuleError, SourcePos
from stream_guard.core.rules._ast_check import Source, parse
from stream_guard.core.rules._codegen import Translator
from stream_guard.core.rules._typed import ALIASES

__all__ = [
    "ALWAYS",
    "Condition",
    "FieldType",
    "Macro",
    "Scope",
    "ValueType",
    "compile_condition",
]

ValueType = Literal["number", "string", "bool", "time", "any"]

_PARAMS = ("e", "f", "s", "st", "t")
#: What a condition may still raise in odd cases (wrong run-time kinds); they mean "no match".
_RUNTIME_ERRORS = (TypeError, ValueError, ArithmeticError, AttributeError, KeyError)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class FieldType:
    """The static type of a field, feature or step field, and whether it may be ``None``."""

    type: ValueType
    nullable: bool = True


@dataclass(frozen=True)
class Macro:
    """A reusable condition, used by its bare name; ``pos`` is where its text starts."""

    source: str
    pos: SourcePos | None = None


@dataclass(frozen=True)
class Scope:
    """Everything a condition may refer to.

    ``event``/``features``/``steps`` map names to :class:`FieldType`; ``scores`` names
    model scores (always a nullable number); ``lists`` maps list names to any container
    supporting ``x in obj`` (bound by reference, so updating the container in place
    updates ``in_list``; ``in_cidr`` reads a list once, when compiling).
    """

    event: Mapping[str, FieldType]
    features: Mapping[str, FieldType]
    scores: Collection[str] = ()
    steps: Mapping[str, Mapping[str, FieldType]] = field(default_factory=_empty)
    lists: Mapping[str, Container[Any]] = field(default_factory=_empty)
    macros: Mapping[str, Macro] = field(default_factory=_empty)


@dataclass(frozen=True)
class Condition:
    """A compiled condition: call it as ``cond(e, f, s, st, t)``.

    ``fn`` is the generated function: it returns a real bool and never raises for the odd
    cases listed in the module docstring (they give ``False``), so the engine may call it
    directly and save the extra call through ``__call__``. ``names`` lists every
    namespaced name used (macros expanded); ``guards`` maps event fields to the values
    they must have.
    """

    source: str
    fn: Callable[[Any, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], float], bool]
    names: frozenset[str] = frozenset()
    guards: Mapping[str, frozenset[Any]] = field(default_factory=_empty)

    def __call__(
        self, e: Any, f: Mapping[str, Any], s: Mapping[str, Any], st: Mapping[str, Any], t: float
    ) -> bool:
        try:
            return bool(self.fn(e, f, s, st, t))
        except _RUNTIME_ERRORS:  # compiled functions already catch these; hand-made ones may not
            return False


def compile_condition(
    source: str, scope: Scope, *, pos: SourcePos | None = None, rule_id: str | None = None
) -> Condition:
    """Compile condition text for ``scope``; raises :class:`RuleError` with a code and position.

    ``pos`` is where the text starts in its YAML file (1-based line and column of the
    scalar's first character); error positions are computed from it.
    """
    if not isinstance(source, str):
        raise RuleError(
            f"a condition must be an expression written as text, got {source!r}",
            code="syntax-error",
            pos=pos,
            rule_id=rule_id,
        )
    src = Source(source, pos, rule_id)
    tree = parse(src)
    translator = Translator(scope, rule_id)
    result = translator.translate(tree, src)
    filename = f"<condition {rule_id}>" if rule_id else "<condition>"
    fn = _build(result.node, translator.globals, filename, src)
    guards = _guards(tree, scope, translator)
    return Condition(source, fn, frozenset(translator.names), MappingProxyType(guards))


def _build(expr: ast.expr, globals_: dict[str, Any], filename: str, src: Source) -> Callable:
    """Compile ``_cond(e, f, s, st, t)``, returning whether ``expr`` is true, never raising.

    ``if expr: return True`` lets Python jump on the expression's truth directly, which is
    faster than ``return bool(expr)`` and always gives a real bool.
    """
    args = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg=p) for p in _PARAMS],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    # try/except costs nothing until something raises (Python 3.11 zero-cost exceptions).
    globals_["_E_runtime"] = _RUNTIME_ERRORS
    handler = ast.ExceptHandler(
        type=ast.Name(id="_E_runtime", ctx=ast.Load()),
        name=None,
        body=[ast.Return(value=ast.Constant(value=False))],
    )
    test = ast.If(test=expr, body=[ast.Return(value=ast.Constant(value=True))], orelse=[])
    body = ast.Try(
        body=[test, ast.Return(value=ast.Constant(value=False))],
        handlers=[handler],
        orelse=[],
        finalbody=[],
    )
    extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
    fdef = ast.FunctionDef(
        name="_cond", args=args, body=[body], decorator_list=[], returns=None, **extra
    )
    module = ast.fix_missing_locations(ast.Module(body=[fdef], type_ignores=[]))
    try:
        # Python warns about things like `3 is None` that an analyst may legally write.
        with warnings.catch_warnings(action="ignore", category=SyntaxWarning):
            code = compile(module, filename, "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        raise src.error(
            "the condition is too complex to compile; simplify it", "too-complex"
        ) from None
    fn_code = next(
        c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == "_cond"
    )
    return types.FunctionType(fn_code, globals_, "_cond")


# --- guards -------------------------------------------------------------------------------

_NOT_CONST = object()


def _guards(tree: ast.expr, scope: Scope, tr: Translator) -> dict[str, frozenset[Any]]:
    """Necessary values of event fields, from the top-level ``and`` (macros expanded)."""
    guards: dict[str, frozenset[Any]] = {}
    for clause in _conjuncts(tree, scope, tr):
        found = _guard(clause, scope)
        if found is not None:
            name, values = found
            guards[name] = guards[name] & values if name in guards else values
    return guards


def _conjuncts(node: ast.expr, scope: Scope, tr: Translator, depth: int = 0) -> list[ast.expr]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [c for v in node.values for c in _conjuncts(v, scope, tr, depth)]
    is_macro = isinstance(node, ast.Name) and node.id in scope.macros and node.id not in ALIASES
    if is_macro and depth < len(scope.macros):  # (the translator already rejected cycles)
        return _conjuncts(tr.macro_tree(node.id), scope, tr, depth + 1)  # type: ignore[attr-defined]
    return [node]


def _guard(node: ast.expr, scope: Scope) -> tuple[str, frozenset[Any]] | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(op, ast.Eq):
            for a, b in ((left, right), (right, left)):
                name, value = _event_field(a, scope), _const(b)
                if name is not None and value is not _NOT_CONST:
                    return name, frozenset([value])
        if isinstance(op, ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set):
            name, values = _event_field(left, scope), [_const(v) for v in right.elts]
            if name is not None and _NOT_CONST not in values:
                return name, frozenset(values)
        return None
    negated = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    name = _event_field(node.operand if negated else node, scope)  # type: ignore[attr-defined]
    if name is None or scope.event[name].type != "bool":
        return None
    if not negated:
        return name, frozenset([True])
    return name, frozenset([False, None] if scope.event[name].nullable else [False])


def _event_field(node: ast.AST, scope: Scope) -> str | None:
    """``F`` for ``event.F``, unless F is a time (compared as POSIX seconds, not as stored)."""
    if not (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "event"
    ):
        return None
    return node.attr if scope.event[node.attr].type != "time" else None


def _const(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in ALIASES:
        return ALIASES[node.id]
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    return _NOT_CONST


#: The condition of a rule without ``when:``: always true.
ALWAYS: Condition = compile_condition("true", Scope(event={}, features={}))
