"""Type-check a parsed condition and build a fresh, null-safe AST for it.

:class:`Translator` walks the tree that :func:`._ast_check.parse` let through, resolves
every name to ``event``/``features``/``score``/``steps`` or a macro, checks static types,
and returns a new expression over the parameters ``e, f, s, st, t`` of the generated
function. No node of the analyst's tree is reused. Constants, lists and helpers are
bound in :attr:`Translator.globals` under generated names (``_L0``, ``_F_lower``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_guard.core.rules import functions as fns
from stream_guard.core.rules._ast_check import (
    MAX_DEPTH,
    MAX_INT,
    MAX_STRING_CHARS,
    Source,
    did_you_mean,
    parse,
    snippet,
)
from stream_guard.core.rules._calls import CallsMixin
from stream_guard.core.rules._compare import CompareMixin
from stream_guard.core.rules._typed import (
    ALIASES,
    NAMESPACES,
    OPS,
    Typed,
    bool_op,
    is_not_none,
    load,
    merge,
)

if TYPE_CHECKING:
    from stream_guard.core.rules.compiler import Scope

#: A bound on the inlined size: macros that use macros could otherwise grow exponentially.
MAX_NODES = 20_000


@dataclass
class Translator(CallsMixin, CompareMixin):
    """Translates one condition (and the macros it uses) for one :class:`Scope`."""

    scope: Scope
    rule_id: str | None = None
    globals: dict[str, Any] = field(default_factory=lambda: {"__builtins__": {}})
    names: set[str] = field(default_factory=set)
    macro_trees: dict[str, ast.expr] = field(default_factory=dict)
    _src: Source | None = None
    _expanding: list[str] = field(default_factory=list)
    _depth: int = 0
    _nodes: int = 0
    _counter: int = 0

    # --- entry points -------------------------------------------------------------------

    def translate(self, tree: ast.expr, src: Source) -> Typed:
        self._src = src
        return self._expr(tree)

    def macro_tree(self, name: str) -> ast.expr:
        """The parsed tree of macro ``name`` (parsed once per translator)."""
        if name not in self.macro_trees:
            macro = self.scope.macros[name]
            self.macro_trees[name] = parse(Source(macro.source, macro.pos, self.rule_id, name))
        return self.macro_trees[name]

    # --- plumbing -----------------------------------------------------------------------

    def _error(self, message: str, code: str, node: ast.AST | None = None) -> Exception:
        assert self._src is not None
        return self._src.error(message, code, node)

    def _temp(self) -> str:
        self._counter += 1
        return f"_v{self._counter}"

    def _bind(self, prefix: str, value: Any) -> ast.Name:
        self._counter += 1
        name = f"_{prefix}{self._counter}"
        self.globals[name] = value
        return load(name)

    def _helper(self, name: str, impl: Callable[..., Any]) -> ast.Name:
        key = f"_F_{name}"
        self.globals[key] = impl
        return load(key)

    def _capture(self, t: Typed, guards: list[ast.expr]) -> ast.expr:
        """A reference to ``t``; if it may be None, add ``(_vN := t) is not None`` to guards.

        The reference is not None once every guard holds.
        """
        if t.pending:
            guards.extend(t.pending)
            return t.core
        if not t.nullable:
            return t.core
        v = self._temp()
        guards.append(
            is_not_none(ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()), value=t.node))
        )
        return load(v)

    def _expr(self, node: ast.expr) -> Typed:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                raise self._error(
                    f"the condition nests more than {MAX_DEPTH} levels deep or is too large "
                    "once its macros are inlined; simplify it",
                    "too-complex",
                    node,
                )
            method = _DISPATCH.get(type(node))
            if method is None:  # Tuple/List/Set outside 'in' (the gate let nothing else in)
                raise self._error(
                    f"a list of constants ({snippet(node)!r}) may only appear after 'in' or "
                    "'not in', as in event.asset in ('BTC', 'ETH')",
                    "forbidden-syntax",
                    node,
                )
            return method(self, node)
        finally:
            self._depth -= 1

    # --- leaves -------------------------------------------------------------------------

    def _constant(self, node: ast.Constant) -> Typed:
        v = node.value
        if v is None or isinstance(v, bool):
            return Typed(ast.Constant(value=v), "null" if v is None else "bool", v is None, v)
        if isinstance(v, int):
            if abs(v) > MAX_INT:
                raise self._error(
                    f"the number {snippet(node)} is too large; numbers may be "
                    "at most 10**18 in size",
                    "too-large",
                    node,
                )
            return Typed(ast.Constant(value=v), "number", False, v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self._error(
                    f"the number {snippet(node)} is not finite; write a number such as 1e18",
                    "too-large",
                    node,
                )
            return Typed(ast.Constant(value=v), "number", False, v)
        if isinstance(v, str):
            if len(v) > MAX_STRING_CHARS:
                raise self._error(
                    f"a quoted text of {len(v):,} characters is too long; the "
                    f"limit is {MAX_STRING_CHARS:,}: use a named list instead",
                    "too-large",
                    node,
                )
            return Typed(ast.Constant(value=v), "string", False, v)
        raise self._error(
            f"{type(v).__name__} constants such as {snippet(node)!r} are not "
            "allowed; use numbers, quoted text, true, false or null",
            "forbidden-syntax",
            node,
        )

    def _name(self, node: ast.Name) -> Typed:
        name = node.id
        if name in NAMESPACES:
            hint = "steps.<step>.<field>" if name == "steps" else f"{name}.<name>"
            raise self._error(
                f"{name!r} needs a name after it: write {hint}", "incomplete-name", node
            )
        if name in ALIASES:
            return self._constant(ast.Constant(value=ALIASES[name]))
        if name in self.scope.macros:
            return self._macro(name, node)
        if name in fns.FUNCTIONS:
            raise self._error(
                f"{name!r} is a function: call it as {fns.FUNCTIONS[name].signature}",
                "unknown-name",
                node,
            )
        known = [*self.scope.macros, *ALIASES, *NAMESPACES]
        raise self._error(
            f"unknown name {name!r} (conditions read event.<field>, features.<name>, "
            "score.<model>, steps.<step>.<field>, true, false, null or a macro)"
            f"{did_you_mean(name, known, 'names')}",
            "unknown-name",
            node,
        )

    def _macro(self, name: str, node: ast.Name) -> Typed:
        if name in self._expanding:
            cycle = [*self._expanding[self._expanding.index(name) :], name]
            raise self._error(
                f"macro cycle: {' -> '.join(cycle)}; a macro cannot use itself, "
                "directly or through other macros",
                "macro-cycle",
                node,
            )
        tree = self.macro_tree(name)
        outer, self._src = (
            self._src,
            Source(self.scope.macros[name].source, self.scope.macros[name].pos, self.rule_id, name),
        )
        self._expanding.append(name)
        try:
            return self._expr(tree)
        finally:
            self._expanding.pop()
            self._src = outer

    def _attribute(self, node: ast.Attribute) -> Typed:
        base, attr = node.value, node.attr
        if isinstance(base, ast.Name) and base.id in ("event", "features"):
            table = self.scope.event if base.id == "event" else self.scope.features
            what = "field" if base.id == "event" else "feature"
            if attr not in table:
                raise self._error(
                    f"unknown {what} {attr!r}{did_you_mean(attr, table, what + 's')}",
                    f"unknown-{what}",
                    node,
                )
            self.names.add(f"{base.id}.{attr}")
            ft = table[attr]
            if base.id == "event":
                code: ast.expr = ast.Attribute(value=load("e"), attr=attr, ctx=ast.Load())
            else:
                code = ast.Subscript(
                    value=load("f"), slice=ast.Constant(value=attr), ctx=ast.Load()
                )
            return Typed(code, ft.type, ft.nullable)
        if isinstance(base, ast.Name) and base.id == "score":
            if attr not in self.scope.scores:
                raise self._error(
                    f"unknown score {attr!r}{did_you_mean(attr, self.scope.scores, 'scores')}",
                    "unknown-score",
                    node,
                )
            self.names.add(f"score.{attr}")
            get = ast.Attribute(value=load("s"), attr="get", ctx=ast.Load())
            return Typed(
                ast.Call(func=get, args=[ast.Constant(value=attr)], keywords=[]), "number", True
            )
        if isinstance(base, ast.Name) and base.id == "steps":
            self._step(attr, node)
            raise self._error(
                f"'steps.{attr}' needs a field: write steps.{attr}.<field>", "incomplete-name", node
            )
        inner = base.value if isinstance(base, ast.Attribute) else None
        if isinstance(inner, ast.Name) and inner.id == "steps":
            fields = self._step(base.attr, base)  # type: ignore[attr-defined]
            step = base.attr  # type: ignore[attr-defined]
            if attr not in fields:
                raise self._error(
                    f"step {step!r} has no field {attr!r}{did_you_mean(attr, fields, 'fields')}",
                    "unknown-field",
                    node,
                )
            self.names.add(f"steps.{step}.{attr}")
            args = [load("st"), ast.Constant(value=step), ast.Constant(value=attr)]
            call = ast.Call(func=self._helper("step", fns.step_field), args=args, keywords=[])
            return Typed(call, fields[attr].type, True)  # None while the step has not happened
        if isinstance(base, ast.Name) and base.id not in (*self.scope.macros, *ALIASES):
            raise self._error(
                f"unknown name {base.id!r} in {snippet(node)!r} (names start with event., "
                f"features., score. or steps.){did_you_mean(base.id, NAMESPACES, 'namespaces')}",
                "unknown-name",
                node,
            )
        raise self._error(
            f"{snippet(node)!r} is not allowed: only event.<field>, features.<name>, "
            "score.<model> and steps.<step>.<field> can be read, and values have no attributes",
            "forbidden-attribute",
            node,
        )

    def _step(self, step: str, node: ast.AST) -> Any:
        if step not in self.scope.steps:
            raise self._error(
                f"unknown step {step!r}{did_you_mean(step, self.scope.steps, 'steps')}",
                "unknown-step",
                node,
            )
        return self.scope.steps[step]

    # --- operators ----------------------------------------------------------------------

    def _boolop(self, node: ast.BoolOp) -> Typed:
        parts = [self._expr(v) for v in node.values]
        nullable = (
            parts[-1].nullable if isinstance(node.op, ast.Or) else any(p.nullable for p in parts)
        )
        op = ast.And() if isinstance(node.op, ast.And) else ast.Or()
        return Typed(bool_op(op, [p.node for p in parts]), merge([p.type for p in parts]), nullable)

    def _ifexp(self, node: ast.IfExp) -> Typed:
        test, body, orelse = self._expr(node.test), self._expr(node.body), self._expr(node.orelse)
        return Typed(
            ast.IfExp(test=test.node, body=body.node, orelse=orelse.node),
            merge([body.type, orelse.type]),
            body.nullable or orelse.nullable,
        )

    def _unaryop(self, node: ast.UnaryOp) -> Typed:
        operand = self._expr(node.operand)
        if isinstance(node.op, ast.Not):
            return Typed(ast.UnaryOp(op=ast.Not(), operand=operand.node), "bool", False)
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        operand = self._numeric(operand, node.operand, f"unary '{sign}'")
        if operand.is_const:
            value = -operand.value if sign == "-" else operand.value
            return Typed(ast.Constant(value=value), "number", False, value)
        op_cls = ast.USub if sign == "-" else ast.UAdd
        guards: list[ast.expr] = []
        ref = self._capture(operand, guards)
        return self._null_if_not(guards, ast.UnaryOp(op=op_cls(), operand=ref))

    def _null_if_not(self, guards: list[ast.expr], body: ast.expr) -> Typed:
        """A number: ``body`` if every guard holds, else None."""
        return Typed(body, "number", bool(guards), pending=tuple(guards))

    def _numeric(self, t: Typed, node: ast.AST, role: str) -> Typed:
        """``t`` as an arithmetic operand, or a ``type-error`` saying why it can't be one."""
        if t.type == "number":
            return t
        if t.type == "any":  # unknown at compile time: anything but a number becomes None
            call = ast.Call(func=self._helper("num", fns.as_number), args=[t.node], keywords=[])
            return Typed(call, "number", True)
        why = {
            "string": "is text; text can only be compared, tested with 'in' or passed to "
            "functions such as lower()",
            "time": "is a time; use hours_since(...) to turn it into a number of hours",
            "bool": "is true/false, not a number",
            "null": "is None, so the result would always be None",
        }[t.type]
        raise self._error(
            f"{snippet(node)!r} {why}: it cannot be used with {role}", "type-error", node
        )

    def _binop(self, node: ast.BinOp) -> Typed:
        sym = OPS[type(node.op)]
        left = self._numeric(self._expr(node.left), node.left, f"'{sym}'")
        if isinstance(node.op, ast.Pow):
            return self._pow(node, left)
        right = self._numeric(self._expr(node.right), node.right, f"'{sym}'")
        op = type(node.op)()
        guards: list[ast.expr] = []
        a = self._capture(left, guards)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and not (
            right.is_const and right.value != 0
        ):
            # A zero (or missing) divisor gives None rather than an exception.
            guards.extend(right.pending)
            v = self._temp()
            guards.append(ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()), value=right.core))
            return self._null_if_not(guards, ast.BinOp(left=a, op=op, right=load(v)))
        b = self._capture(right, guards)
        return self._null_if_not(guards, ast.BinOp(left=a, op=op, right=b))

    def _pow(self, node: ast.BinOp, base: Typed) -> Typed:
        exp = node.right
        if isinstance(exp, ast.UnaryOp) and isinstance(exp.op, ast.USub | ast.UAdd):
            exp_t = self._expr(exp)  # folds -k into a constant
        elif isinstance(exp, ast.Constant):
            exp_t = self._expr(exp)
        else:
            exp_t = None
        if exp_t is None or not exp_t.is_const or exp_t.type != "number":
            raise self._error(
                f"the exponent of '**' must be a number constant between -10 "
                f"and 10, got {snippet(exp)!r}",
                "forbidden-syntax",
                exp,
            )
        if abs(exp_t.value) > 10:
            raise self._error(
                f"the exponent {exp_t.value!r} is too large; '**' allows "
                "exponents between -10 and 10",
                "too-large",
                exp,
            )
        call = ast.Call(
            func=self._helper("pow", fns.safe_pow),
            args=[base.node, ast.Constant(value=exp_t.value)],
            keywords=[],
        )
        return Typed(call, "number", True)


_DISPATCH: dict[type[ast.AST], Callable[[Translator, Any], Typed]] = {
    ast.Constant: Translator._constant,
    ast.Name: Translator._name,
    ast.Attribute: Translator._attribute,
    ast.BoolOp: Translator._boolop,
    ast.UnaryOp: Translator._unaryop,
    ast.BinOp: Translator._binop,
    ast.IfExp: Translator._ifexp,
    ast.Compare: Translator._compare,
    ast.Call: Translator._call,
}
