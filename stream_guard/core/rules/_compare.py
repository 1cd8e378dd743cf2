"""Comparisons in conditions: type checks, ``in`` lists, chains and their None checks."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from stream_guard.core.rules import functions as fns
from stream_guard.core.rules._ast_check import MAX_LIST_ITEMS, snippet
from stream_guard.core.rules._typed import (
    ALIASES,
    KIND_WORDS,
    OPS,
    ORDERING,
    Typed,
    bool_op,
    compatible,
    load,
)

if TYPE_CHECKING:
    from stream_guard.core.rules._codegen import Translator


class CompareMixin:
    """The ``_compare`` part of :class:`._codegen.Translator` (split out to keep modules small)."""

    def _compare(self: Translator, node: ast.Compare) -> Typed:
        raw = [node.left, *node.comparators]
        ops = node.ops
        parts: list[Typed] = []
        for i, operand in enumerate(raw):
            after_in = i > 0 and isinstance(ops[i - 1], ast.In | ast.NotIn)
            if after_in and i == len(ops) and isinstance(operand, ast.Tuple | ast.List | ast.Set):
                parts.append(self._collection(operand))
            elif after_in:
                raise self._error(
                    f"the right side of 'in' must be a list of constants such as ('a', 'b'), "
                    f"got {snippet(operand)!r}; use in_list(x, 'list_name') for a named list "
                    "or contains(s, sub) for text",
                    "type-error",
                    operand,
                )
            else:
                parts.append(self._expr(operand))
        for i, op in enumerate(ops):
            self._check_pair(parts[i], op, parts[i + 1], raw[i], raw[i + 1])
        if any(p.type == "time" for p in parts):
            # A time may be a datetime or POSIX seconds: compare both as POSIX seconds.
            posix = self._helper("posix", fns.to_posix)
            for i, p in enumerate(parts):
                if p.type in ("time", "any") and not p.is_const:
                    call = ast.Call(func=posix, args=[p.node], keywords=[])
                    parts[i] = Typed(call, p.type, p.nullable)
        return self._chain(parts, ops)

    def _check_pair(
        self: Translator, a: Typed, op: ast.cmpop, b: Typed, an: ast.AST, bn: ast.AST
    ) -> None:
        if isinstance(op, ast.Is | ast.IsNot):
            if b.type != "null":
                raise self._error(
                    "'is' may only be used as 'x is None' or 'x is not None'; "
                    "use '==' to compare values",
                    "forbidden-syntax",
                    bn,
                )
            return
        sym = OPS[type(op)]
        if isinstance(op, ORDERING) and "null" in (a.type, b.type):
            raise self._error(
                f"comparing with None using {sym!r} is always false; use "
                "'x is None' or 'x is not None'",
                "type-error",
                bn,
            )
        if b.type == "list":
            pairs = [(item, repr(item.value)) for item in b.value]
        else:
            pairs = [(b, repr(snippet(bn)))]
        for other, shown in pairs:
            if not compatible(a.type, other.type):
                raise self._error(
                    f"cannot compare {snippet(an)!r} ({KIND_WORDS[a.type]}) with {shown} "
                    f"({KIND_WORDS[other.type]}) using {sym!r}",
                    "type-error",
                    an,
                )

    def _collection(self: Translator, node: ast.Tuple | ast.List | ast.Set) -> Typed:
        if len(node.elts) > MAX_LIST_ITEMS:
            raise self._error(
                f"a list of {len(node.elts):,} constants is too long; the limit "
                f"is {MAX_LIST_ITEMS:,}: use a named list and in_list()",
                "too-large",
                node,
            )
        items: list[Typed] = []
        for elt in node.elts:
            is_signed = isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub | ast.UAdd)
            is_alias = isinstance(elt, ast.Name) and elt.id in ALIASES
            if not (
                isinstance(elt, ast.Constant)
                or is_alias
                or (is_signed and isinstance(elt.operand, ast.Constant))
            ):  # type: ignore[attr-defined]
                raise self._error(
                    f"a list after 'in' may hold only constants; {snippet(elt)!r} is not one",
                    "forbidden-syntax",
                    elt,
                )
            item = self._expr(elt)
            if item.value is None:
                raise self._error(
                    "a list after 'in' cannot hold None; test for a missing value with 'x is None'",
                    "type-error",
                    elt,
                )
            items.append(item)
        name = self._bind("L", frozenset(i.value for i in items))
        # .value carries the item types for _check_pair
        return Typed(name, "list", False, items)

    def _chain(self: Translator, parts: list[Typed], ops: list[ast.cmpop]) -> Typed:
        """``a < b < c`` evaluating each operand once; a None operand of <, <=, >, >= is False."""
        n = len(ops)
        ordered = [False] * (n + 1)  # operands of <, <=, >, >=: None makes the chain False
        for i, op in enumerate(ops):
            if isinstance(op, ORDERING):
                ordered[i] = ordered[i + 1] = True
        clauses: list[ast.expr] = []
        firsts: list[ast.expr] = []  # how the operand is written where first used
        refs: list[ast.expr] = []  # how it is written afterwards
        for i, p in enumerate(parts):
            ref = self._capture(p, clauses) if ordered[i] else p.node
            first = ref
            if 0 < i < n and not isinstance(ref, ast.Name | ast.Constant):
                v = self._temp()  # used by two comparisons: evaluate once
                first, ref = (
                    ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()), value=ref),
                    load(v),
                )
            firsts.append(first)
            refs.append(ref)
        for i, op in enumerate(ops):
            left = firsts[0] if i == 0 else refs[i]
            clauses.append(ast.Compare(left=left, ops=[type(op)()], comparators=[firsts[i + 1]]))
        return Typed(bool_op(ast.And(), clauses), "bool", False)
