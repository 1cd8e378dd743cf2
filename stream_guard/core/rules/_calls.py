"""Function calls in conditions: arity, argument kinds, lists and CIDRs (see :mod:`.functions`)."""

from __future__ import annotations

import ast
import builtins
from typing import TYPE_CHECKING

from stream_guard.core.rules import functions as fns
from stream_guard.core.rules._ast_check import did_you_mean, snippet
from stream_guard.core.rules._typed import KIND_WORDS, Typed, bool_op, load, merge

if TYPE_CHECKING:
    from stream_guard.core.rules._codegen import Translator


class CallsMixin:
    """The ``_call`` part of :class:`._codegen.Translator` (split out to keep modules small)."""

    def _call(self: Translator, node: ast.Call) -> Typed:
        func = node.func
        if not isinstance(func, ast.Name):
            hint = ""
            if isinstance(func, ast.Attribute) and func.attr in fns.FUNCTIONS:
                hint = f"; write {func.attr}({snippet(func.value)}) instead"
            raise self._error(
                f"calling {snippet(node)!r} is not allowed: only functions such "
                f"as lower(s) can be called, not methods{hint}",
                "forbidden-call",
                node,
            )
        name = func.id
        spec = fns.FUNCTIONS.get(name)
        if spec is None:
            if name in self.scope.macros:
                raise self._error(
                    f"{name!r} is a macro, not a function: write it without parentheses",
                    "unknown-function",
                    node,
                )
            if hasattr(builtins, name):
                what = (
                    f"{name}() is not available in conditions: rules are data, not programs; "
                    f"the functions are: {', '.join(sorted(fns.FUNCTIONS))}"
                )
            else:
                what = (
                    f"unknown function {name!r}"
                    f"{did_you_mean(name, fns.FUNCTIONS, 'functions', limit=99)}"
                )
            raise self._error(what, "unknown-function", node)
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (
                f"at least {spec.min_args}"
                if spec.max_args is None
                else str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args}"
            )
            raise self._error(
                f"{spec.signature} takes {want} argument{'' if want == '1' else 's'}, got {n}",
                "bad-arity",
                node,
            )
        if name == "in_list":
            return self._in_list(node)
        args = [self._argument(spec, i, a) for i, a in enumerate(node.args)]
        call_args = [a.node for a in args] + ([load("t")] if spec.needs_time else [])
        assert spec.impl is not None
        call = ast.Call(func=self._helper(name, spec.impl), args=call_args, keywords=[])
        if spec.returns == "same":
            return Typed(call, merge([a.type for a in args]), all(a.nullable for a in args))
        return Typed(call, spec.returns, spec.nullable)

    def _argument(self: Translator, spec: fns.Function, i: int, arg: ast.expr) -> Typed:
        kind = spec.params[min(i, len(spec.params) - 1)]
        if kind == "cidr":
            return Typed(self._bind("C", self._cidr(spec, arg)), "any", False)
        if kind == "digits":
            ok = isinstance(arg, ast.Constant | ast.UnaryOp)
            t = self._expr(arg) if ok else None
            if t is None or not (t.is_const and type(t.value) is int and abs(t.value) <= 20):
                raise self._error(
                    f"the second argument of {spec.signature} must be a whole "
                    f"number from -20 to 20, got {snippet(arg)!r}",
                    "bad-argument",
                    arg,
                )
            return t
        t = self._expr(arg)
        accepted = {
            "number": ("number", "any"),
            "string": ("string", "any"),
            "time": ("time", "number", "any"),
            "any": None,
        }[kind]
        if accepted is not None and t.type not in accepted:
            raise self._error(
                f"{spec.signature} expects {KIND_WORDS[kind]} as argument "
                f"{i + 1}, got {snippet(arg)!r} ({KIND_WORDS[t.type]})",
                "type-error",
                arg,
            )
        return t

    def _list_name(self: Translator, spec: fns.Function, arg: ast.expr) -> str:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise self._error(
                f"{spec.signature} needs a list name in quotes as its second "
                f"argument, got {snippet(arg)!r}",
                "bad-argument",
                arg,
            )
        return arg.value

    def _in_list(self: Translator, node: ast.Call) -> Typed:
        spec = fns.FUNCTIONS["in_list"]
        list_name = self._list_name(spec, node.args[1])
        if list_name not in self.scope.lists:
            raise self._error(
                f"unknown list {list_name!r}{did_you_mean(list_name, self.scope.lists, 'lists')}",
                "unknown-list",
                node.args[1],
            )
        container = self._bind("L", self.scope.lists[list_name])
        guards: list[ast.expr] = []
        x = self._capture(self._expr(node.args[0]), guards)
        test = ast.Compare(left=x, ops=[ast.In()], comparators=[container])
        return Typed(bool_op(ast.And(), [*guards, test]), "bool", False)

    def _cidr(self: Translator, spec: fns.Function, arg: ast.expr) -> fns.CidrSet:
        text = self._list_name(spec, arg)
        if text in self.scope.lists:
            try:
                return fns.CidrSet(self.scope.lists[text])  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise self._error(
                    f"list {text!r} cannot be used with in_cidr(): {exc}", "bad-argument", arg
                ) from None
        try:
            return fns.CidrSet([text])
        except ValueError:
            raise self._error(
                f"{text!r} is neither a CIDR network such as '10.0.0.0/8' nor a known list"
                f"{did_you_mean(text, self.scope.lists, 'lists')}",
                "bad-argument",
                arg,
            ) from None
