"""Type-check a parsed condition and build a fresh, null-safe AST for it.

:class:`Translator` walks the tree that :func:`._ast_check.parse` let through, resolves
every name to ``event``/``features``/``score``/``steps`` or a macro, checks static types,
and returns a new expression over the parameters ``e, f, s, st, t`` of the generated
function. No node of the analyst's tree is reused. Constants, lists and helpers are
bound in :attr:`Translator.globals` under generated names (``_L0``, ``_F_lower``).
"""

from __future__ import annotations

import ast
import builtins
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_guard.core.rules import functions as fns
from stream_guard.core.rules._ast_check import (
    MAX_DEPTH,
    MAX_INT,
    MAX_LIST_ITEMS,
    MAX_STRING_CHARS,
    Source,
    did_you_mean,
    parse,
    snippet,
)

if TYPE_CHECKING:
    from stream_guard.core.rules.compiler import Scope

#: A bound on the inlined size: macros that use macros could otherwise grow exponentially.
MAX_NODES = 20_000
NAMESPACES = ("event", "features", "score", "steps")
ALIASES = {"true": True, "false": False, "null": None}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_COMPATIBLE = {frozenset(p) for p in (("number",), ("number", "bool"), ("bool",), ("string",),
                                      ("time",), ("time", "number"))}
_NO_VALUE = object()
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
        ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in"}  # fmt: skip
_KIND_WORDS = {"number": "a number", "string": "text", "bool": "true/false", "time": "a time",
               "any": "a value", "null": "None", "list": "a list"}  # fmt: skip


@dataclass
class Typed:
    """A translated expression with its static type and whether it may be ``None``."""

    node: ast.expr
    type: str  # number | string | bool | time | any | null (the constant None)
    nullable: bool
    value: Any = _NO_VALUE  # the value, for constants

    @property
    def is_const(self) -> bool:
        return self.value is not _NO_VALUE


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _is_not_none(node: ast.expr) -> ast.expr:
    return ast.Compare(left=node, ops=[ast.IsNot()], comparators=[ast.Constant(value=None)])


def _bool_op(op: ast.boolop, nodes: list[ast.expr]) -> ast.expr:
    """``a and b and c`` with nested operations of the same kind flattened (fewer jumps)."""
    flat: list[ast.expr] = []
    for n in nodes:
        same = isinstance(n, ast.BoolOp) and type(n.op) is type(op)
        flat.extend(n.values if same else [n])  # type: ignore[attr-defined]
    return flat[0] if len(flat) == 1 else ast.BoolOp(op=op, values=flat)


def _merge(types: list[str]) -> str:
    kinds = {t for t in types if t != "null"}
    return kinds.pop() if len(kinds) == 1 else ("null" if not kinds else "any")


def compatible(a: str, b: str) -> bool:
    """Whether values of static types ``a`` and ``b`` may be compared."""
    return "any" in (a, b) or "null" in (a, b) or frozenset((a, b)) in _COMPATIBLE


@dataclass
class Translator:
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
        return _load(name)

    def _helper(self, name: str, impl: Callable[..., Any]) -> ast.Name:
        key = f"_F_{name}"
        self.globals[key] = impl
        return _load(key)

    def _capture(self, t: Typed, guards: list[ast.expr]) -> ast.expr:
        """A reference to ``t``; if it may be None, add ``(_vN := t) is not None`` to guards."""
        if not t.nullable:
            return t.node
        v = self._temp()
        guards.append(_is_not_none(ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()),
                                                 value=t.node)))
        return _load(v)

    def _expr(self, node: ast.expr) -> Typed:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                raise self._error(
                    f"the condition nests more than {MAX_DEPTH} levels deep or is too large "
                    "once its macros are inlined; simplify it", "too-complex", node)
            method = getattr(self, "_" + type(node).__name__.lower(), None)
            if method is None:  # Tuple/List/Set outside 'in' (the gate let nothing else in)
                raise self._error(
                    f"a list of constants ({snippet(node)!r}) may only appear after 'in' or "
                    "'not in', as in event.asset in ('BTC', 'ETH')", "forbidden-syntax", node)
            return method(node)
        finally:
            self._depth -= 1

    # --- leaves -------------------------------------------------------------------------

    def _constant(self, node: ast.Constant) -> Typed:
        v = node.value
        if v is None or isinstance(v, bool):
            return Typed(ast.Constant(value=v), "null" if v is None else "bool", v is None, v)
        if isinstance(v, int):
            if abs(v) > MAX_INT:
                raise self._error(f"the number {snippet(node)} is too large; numbers may be "
                                  "at most 10**18 in size", "too-large", node)
            return Typed(ast.Constant(value=v), "number", False, v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self._error(f"the number {snippet(node)} is not finite; write a number "
                                  "such as 1e18", "too-large", node)
            return Typed(ast.Constant(value=v), "number", False, v)
        if isinstance(v, str):
            if len(v) > MAX_STRING_CHARS:
                raise self._error(f"a quoted text of {len(v):,} characters is too long; the "
                                  f"limit is {MAX_STRING_CHARS:,}: use a named list instead",
                                  "too-large", node)
            return Typed(ast.Constant(value=v), "string", False, v)
        raise self._error(f"{type(v).__name__} constants such as {snippet(node)!r} are not "
                          "allowed; use numbers, quoted text, true, false or null",
                          "forbidden-syntax", node)

    def _name(self, node: ast.Name) -> Typed:
        name = node.id
        if name in NAMESPACES:
            hint = "steps.<step>.<field>" if name == "steps" else f"{name}.<name>"
            raise self._error(f"{name!r} needs a name after it: write {hint}",
                              "incomplete-name", node)
        if name in ALIASES:
            return self._constant(ast.Constant(value=ALIASES[name]))
        if name in self.scope.macros:
            return self._macro(name, node)
        if name in fns.FUNCTIONS:
            raise self._error(f"{name!r} is a function: call it as {fns.FUNCTIONS[name].signature}",
                              "unknown-name", node)
        known = [*self.scope.macros, *ALIASES, *NAMESPACES]
        raise self._error(
            f"unknown name {name!r}{did_you_mean(name, known, 'names')}; conditions read "
            "event.<field>, features.<name>, score.<model>, steps.<step>.<field> or a macro",
            "unknown-name", node)

    def _macro(self, name: str, node: ast.Name) -> Typed:
        if name in self._expanding:
            cycle = [*self._expanding[self._expanding.index(name):], name]
            raise self._error(f"macro cycle: {' -> '.join(cycle)}; a macro cannot use itself, "
                              "directly or through other macros", "macro-cycle", node)
        tree = self.macro_tree(name)
        outer, self._src = self._src, Source(self.scope.macros[name].source,
                                             self.scope.macros[name].pos, self.rule_id, name)
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
                raise self._error(f"unknown {what} {attr!r}"
                                  f"{did_you_mean(attr, table, what + 's')}", f"unknown-{what}",
                                  node)
            self.names.add(f"{base.id}.{attr}")
            ft = table[attr]
            if base.id == "event":
                code: ast.expr = ast.Attribute(value=_load("e"), attr=attr, ctx=ast.Load())
            else:
                code = ast.Subscript(value=_load("f"), slice=ast.Constant(value=attr),
                                     ctx=ast.Load())
            return Typed(code, ft.type, ft.nullable)
        if isinstance(base, ast.Name) and base.id == "score":
            if attr not in self.scope.scores:
                raise self._error(f"unknown score {attr!r}"
                                  f"{did_you_mean(attr, self.scope.scores, 'scores')}",
                                  "unknown-score", node)
            self.names.add(f"score.{attr}")
            get = ast.Attribute(value=_load("s"), attr="get", ctx=ast.Load())
            return Typed(ast.Call(func=get, args=[ast.Constant(value=attr)], keywords=[]),
                         "number", True)
        if isinstance(base, ast.Name) and base.id == "steps":
            self._step(attr, node)
            raise self._error(f"'steps.{attr}' needs a field: write steps.{attr}.<field>",
                              "incomplete-name", node)
        inner = base.value if isinstance(base, ast.Attribute) else None
        if isinstance(inner, ast.Name) and inner.id == "steps":
            fields = self._step(base.attr, base)  # type: ignore[attr-defined]
            step = base.attr  # type: ignore[attr-defined]
            if attr not in fields:
                raise self._error(f"step {step!r} has no field {attr!r}"
                                  f"{did_you_mean(attr, fields, 'fields')}", "unknown-field", node)
            self.names.add(f"steps.{step}.{attr}")
            args = [_load("st"), ast.Constant(value=step), ast.Constant(value=attr)]
            call = ast.Call(func=self._helper("step", fns.step_field), args=args, keywords=[])
            return Typed(call, fields[attr].type, True)  # None while the step has not happened
        if isinstance(base, ast.Name) and base.id not in (*self.scope.macros, *ALIASES):
            raise self._error(
                f"unknown name {base.id!r} in {snippet(node)!r}"
                f"{did_you_mean(base.id, NAMESPACES, 'namespaces')}; names start with "
                "event., features., score. or steps.", "unknown-name", node)
        raise self._error(
            f"{snippet(node)!r} is not allowed: only event.<field>, features.<name>, "
            "score.<model> and steps.<step>.<field> can be read, and values have no attributes",
            "forbidden-attribute", node)

    def _step(self, step: str, node: ast.AST) -> Any:
        if step not in self.scope.steps:
            raise self._error(f"unknown step {step!r}"
                              f"{did_you_mean(step, self.scope.steps, 'steps')}",
                              "unknown-step", node)
        return self.scope.steps[step]

    # --- operators ----------------------------------------------------------------------

    def _boolop(self, node: ast.BoolOp) -> Typed:
        parts = [self._expr(v) for v in node.values]
        nullable = parts[-1].nullable if isinstance(node.op, ast.Or) else any(
            p.nullable for p in parts)
        op = ast.And() if isinstance(node.op, ast.And) else ast.Or()
        return Typed(_bool_op(op, [p.node for p in parts]), _merge([p.type for p in parts]),
                     nullable)

    def _ifexp(self, node: ast.IfExp) -> Typed:
        test, body, orelse = self._expr(node.test), self._expr(node.body), self._expr(node.orelse)
        return Typed(ast.IfExp(test=test.node, body=body.node, orelse=orelse.node),
                     _merge([body.type, orelse.type]), body.nullable or orelse.nullable)

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
        """``body if <guards> else None`` (just ``body`` without guards)."""
        if not guards:
            return Typed(body, "number", False)
        test = _bool_op(ast.And(), guards)
        return Typed(ast.IfExp(test=test, body=body, orelse=ast.Constant(value=None)),
                     "number", True)

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
        raise self._error(f"{snippet(node)!r} {why}: it cannot be used with {role}",
                          "type-error", node)

    def _binop(self, node: ast.BinOp) -> Typed:
        sym = _OPS[type(node.op)]
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
            v = self._temp()
            guards.append(ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()), value=right.node))
            return self._null_if_not(guards, ast.BinOp(left=a, op=op, right=_load(v)))
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
            raise self._error(f"the exponent of '**' must be a number constant between -10 "
                              f"and 10, got {snippet(exp)!r}", "forbidden-syntax", exp)
        if abs(exp_t.value) > 10:
            raise self._error(f"the exponent {exp_t.value!r} is too large; '**' allows "
                              "exponents between -10 and 10", "too-large", exp)
        call = ast.Call(func=self._helper("pow", fns.safe_pow),
                        args=[base.node, ast.Constant(value=exp_t.value)], keywords=[])
        return Typed(call, "number", True)

    # --- comparisons --------------------------------------------------------------------

    def _compare(self, node: ast.Compare) -> Typed:
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
                    "or contains(s, sub) for text", "type-error", operand)
            else:
                parts.append(self._expr(operand))
        for i, op in enumerate(ops):
            self._check_pair(parts[i], op, parts[i + 1], raw[i], raw[i + 1])
        if any(p.type == "time" for p in parts):
            # A time may be a datetime or POSIX seconds: compare both as POSIX seconds.
            posix = self._helper("posix", fns.to_posix)
            for p in parts:
                if p.type in ("time", "any") and not p.is_const:
                    p.node = ast.Call(func=posix, args=[p.node], keywords=[])
        return self._chain(parts, ops)

    def _check_pair(self, a: Typed, op: ast.cmpop, b: Typed, an: ast.AST, bn: ast.AST) -> None:
        if isinstance(op, ast.Is | ast.IsNot):
            if b.type != "null":
                raise self._error("'is' may only be used as 'x is None' or 'x is not None'; "
                                  "use '==' to compare values", "forbidden-syntax", bn)
            return
        sym = _OPS[type(op)]
        if isinstance(op, _ORDERING) and "null" in (a.type, b.type):
            raise self._error(f"comparing with None using {sym!r} is always false; use "
                              "'x is None' or 'x is not None'", "type-error", bn)
        pairs = [(i, repr(i.value)) for i in b.value] if b.type == "list" else [(b, repr(snippet(bn)))]
        for other, shown in pairs:
            if not compatible(a.type, other.type):
                raise self._error(
                    f"cannot compare {snippet(an)!r} ({_KIND_WORDS[a.type]}) with {shown} "
                    f"({_KIND_WORDS[other.type]}) using {sym!r}", "type-error", an)

    def _collection(self, node: ast.Tuple | ast.List | ast.Set) -> Typed:
        if len(node.elts) > MAX_LIST_ITEMS:
            raise self._error(f"a list of {len(node.elts):,} constants is too long; the limit "
                              f"is {MAX_LIST_ITEMS:,}: use a named list and in_list()",
                              "too-large", node)
        items: list[Typed] = []
        for elt in node.elts:
            is_signed = isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub | ast.UAdd)
            is_alias = isinstance(elt, ast.Name) and elt.id in ALIASES
            if not (isinstance(elt, ast.Constant) or is_alias or (
                    is_signed and isinstance(elt.operand, ast.Constant))):  # type: ignore[attr-defined]
                raise self._error(f"a list after 'in' may hold only constants; "
                                  f"{snippet(elt)!r} is not one", "forbidden-syntax", elt)
            item = self._expr(elt)
            if item.value is None:
                raise self._error("a list after 'in' cannot hold None; test for a missing "
                                  "value with 'x is None'", "type-error", elt)
            items.append(item)
        name = self._bind("L", frozenset(i.value for i in items))
        # .value carries the item types for _check_pair
        return Typed(name, "list", False, items)

    def _chain(self, parts: list[Typed], ops: list[ast.cmpop]) -> Typed:
        """``a < b < c`` evaluating each operand once; a None operand of <, <=, >, >= is False."""
        n = len(ops)
        ordered = [False] * (n + 1)
        for i, op in enumerate(ops):
            if isinstance(op, _ORDERING):
                ordered[i] = ordered[i + 1] = True
        clauses: list[ast.expr] = []
        refs: list[ast.expr] = []
        for i, p in enumerate(parts):
            if ordered[i] and p.nullable:
                refs.append(self._capture(p, clauses))
            elif 0 < i < n and not p.is_const:  # used by two comparisons: evaluate once
                v = self._temp()
                refs.append(ast.NamedExpr(target=ast.Name(id=v, ctx=ast.Store()), value=p.node))
                parts[i] = Typed(_load(v), p.type, p.nullable)
            else:
                refs.append(p.node)
        for i, op in enumerate(ops):
            left = refs[i] if i == 0 or not isinstance(refs[i], ast.NamedExpr) else parts[i].node
            clauses.append(ast.Compare(left=left, ops=[type(op)()], comparators=[refs[i + 1]]))
        return Typed(_bool_op(ast.And(), clauses), "bool", False)

    # --- calls --------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> Typed:
        func = node.func
        if not isinstance(func, ast.Name):
            hint = ""
            if isinstance(func, ast.Attribute) and func.attr in fns.FUNCTIONS:
                hint = f"; write {func.attr}({snippet(func.value)}) instead"
            raise self._error(f"calling {snippet(node)!r} is not allowed: only functions such "
                              f"as lower(s) can be called, not methods{hint}",
                              "forbidden-call", node)
        name = func.id
        spec = fns.FUNCTIONS.get(name)
        if spec is None:
            if name in self.scope.macros:
                raise self._error(f"{name!r} is a macro, not a function: write it without "
                                  "parentheses", "unknown-function", node)
            if hasattr(builtins, name):
                what = f"{name}() is not available in conditions: rules are data, not programs"
            else:
                what = f"unknown function {name!r}{did_you_mean(name, fns.FUNCTIONS, 'functions')}"
            raise self._error(f"{what}; the functions are: {', '.join(sorted(fns.FUNCTIONS))}",
                              "unknown-function", node)
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (f"at least {spec.min_args}" if spec.max_args is None else
                    str(spec.min_args) if spec.min_args == spec.max_args else
                    f"{spec.min_args} to {spec.max_args}")
            raise self._error(f"{spec.signature} takes {want} argument"
                              f"{'' if want == '1' else 's'}, got {n}", "bad-arity", node)
        if name == "in_list":
            return self._in_list(node)
        args = [self._argument(spec, i, a) for i, a in enumerate(node.args)]
        call_args = [a.node for a in args] + ([_load("t")] if spec.needs_time else [])
        assert spec.impl is not None
        call = ast.Call(func=self._helper(name, spec.impl), args=call_args, keywords=[])
        if spec.returns == "same":
            return Typed(call, _merge([a.type for a in args]), all(a.nullable for a in args))
        return Typed(call, spec.returns, spec.nullable)

    def _argument(self, spec: fns.Function, i: int, arg: ast.expr) -> Typed:
        kind = spec.params[min(i, len(spec.params) - 1)]
        if kind == "cidr":
            return Typed(self._bind("C", self._cidr(spec, arg)), "any", False)
        if kind == "digits":
            ok = isinstance(arg, ast.Constant | ast.UnaryOp)
            t = self._expr(arg) if ok else None
            if t is None or not (t.is_const and type(t.value) is int and abs(t.value) <= 20):
                raise self._error(f"the second argument of {spec.signature} must be a whole "
                                  f"number from -20 to 20, got {snippet(arg)!r}",
                                  "bad-argument", arg)
            return t
        t = self._expr(arg)
        accepted = {"number": ("number", "any"), "string": ("string", "any"),
                    "time": ("time", "number", "any"), "any": None}[kind]
        if accepted is not None and t.type not in accepted:
            raise self._error(f"{spec.signature} expects {_KIND_WORDS[kind]} as argument "
                              f"{i + 1}, got {snippet(arg)!r} ({_KIND_WORDS[t.type]})",
                              "type-error", arg)
        return t

    def _list_name(self, spec: fns.Function, arg: ast.expr) -> str:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise self._error(f"{spec.signature} needs a list name in quotes as its second "
                              f"argument, got {snippet(arg)!r}", "bad-argument", arg)
        return arg.value

    def _in_list(self, node: ast.Call) -> Typed:
        spec = fns.FUNCTIONS["in_list"]
        list_name = self._list_name(spec, node.args[1])
        if list_name not in self.scope.lists:
            raise self._error(f"unknown list {list_name!r}"
                              f"{did_you_mean(list_name, self.scope.lists, 'lists')}",
                              "unknown-list", node.args[1])
        container = self._bind("L", self.scope.lists[list_name])
        guards: list[ast.expr] = []
        x = self._capture(self._expr(node.args[0]), guards)
        test = ast.Compare(left=x, ops=[ast.In()], comparators=[container])
        return Typed(_bool_op(ast.And(), [*guards, test]), "bool", False)

    def _cidr(self, spec: fns.Function, arg: ast.expr) -> fns.CidrSet:
        text = self._list_name(spec, arg)
        if text in self.scope.lists:
            try:
                return fns.CidrSet(self.scope.lists[text])  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise self._error(f"list {text!r} cannot be used with in_cidr(): {exc}",
                                  "bad-argument", arg) from None
        try:
            return fns.CidrSet([text])
        except ValueError:
            raise self._error(
                f"{text!r} is neither a CIDR network such as '10.0.0.0/8' nor a known list"
                f"{did_you_mean(text, self.scope.lists, 'lists')}", "bad-argument", arg) from None
