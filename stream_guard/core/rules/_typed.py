"""Typed expressions: a fresh AST node with its static type, and small AST builders.

Shared by the translator (:mod:`._codegen`) and its function-call part (:mod:`._calls`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

NAMESPACES = ("event", "features", "score", "steps")
ALIASES = {"true": True, "false": False, "null": None}
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
COMPATIBLE = {
    frozenset(p)
    for p in (
        ("number",),
        ("number", "bool"),
        ("bool",),
        ("string",),
        ("time",),
        ("time", "number"),
    )
}
NO_VALUE = object()
OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
        ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in"}  # fmt: skip
KIND_WORDS = {"number": "a number", "string": "text", "bool": "true/false", "time": "a time",
               "any": "a value", "null": "None", "list": "a list"}  # fmt: skip


@dataclass
class Typed:
    """A translated expression with its static type and whether it may be ``None``.

    Arithmetic defers its None checks: its value is ``core`` if every expression in
    ``pending`` is true, else ``None``. A comparison then tests ``pending`` once, as in
    ``(_v1 := e.x) is not None and _v1 * 2 + 1 > 5``; every other use takes :attr:`node`.
    """

    core: ast.expr
    type: str  # number | string | bool | time | any | null (the constant None) | list
    nullable: bool
    value: Any = NO_VALUE  # the value, for constants (the items, for a list)
    pending: tuple[ast.expr, ...] = ()

    @property
    def is_const(self) -> bool:
        return self.value is not NO_VALUE

    @property
    def node(self) -> ast.expr:
        """The expression, ``None`` when a pending check fails."""
        if not self.pending:
            return self.core
        test = bool_op(ast.And(), list(self.pending))
        return ast.IfExp(test=test, body=self.core, orelse=ast.Constant(value=None))


def load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def is_not_none(node: ast.expr) -> ast.expr:
    return ast.Compare(left=node, ops=[ast.IsNot()], comparators=[ast.Constant(value=None)])


def bool_op(op: ast.boolop, nodes: list[ast.expr]) -> ast.expr:
    """``a and b and c`` with nested operations of the same kind flattened (fewer jumps)."""
    flat: list[ast.expr] = []
    for n in nodes:
        same = isinstance(n, ast.BoolOp) and type(n.op) is type(op)
        flat.extend(n.values if same else [n])  # type: ignore[attr-defined]
    return flat[0] if len(flat) == 1 else ast.BoolOp(op=op, values=flat)


def merge(types: list[str]) -> str:
    kinds = {t for t in types if t != "null"}
    return kinds.pop() if len(kinds) == 1 else ("null" if not kinds else "any")


def compatible(a: str, b: str) -> bool:
    """Whether values of static types ``a`` and ``b`` may be compared."""
    return "any" in (a, b) or "null" in (a, b) or frozenset((a, b)) in COMPATIBLE
