"""Parsing a condition and the syntax gate every node must pass before anything else.

This module never runs analyst text: ``ast.parse`` only builds a tree. :func:`parse`
enforces the size limits and the node allow-list; :class:`Source` turns AST positions into
YAML file positions and builds :class:`RuleError` objects.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from stream_guard.core.errors import RuleError, SourcePos

MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 50
MAX_STRING_CHARS = 1_000
MAX_INT = 10**18
MAX_LIST_ITEMS = 10_000

#: Names of the generated function's parameters: analysts must never reach them.
RESERVED = frozenset({"e", "f", "s", "st", "t"})

_ALLOWED: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.UnaryOp, ast.Compare, ast.BinOp, ast.IfExp, ast.Call,
    ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Name, ast.Attribute, ast.Load,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
)  # fmt: skip

_COMPREHENSION = "comprehensions are not allowed in conditions; use in_list(x, 'list_name') or a list of constants such as ('a', 'b')"
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Lambda: "lambdas are not allowed in conditions: rules are data, not programs",
    ast.ListComp: _COMPREHENSION,
    ast.SetComp: _COMPREHENSION,
    ast.DictComp: _COMPREHENSION,
    ast.GeneratorExp: _COMPREHENSION,
    ast.Subscript: "indexing and slicing ({src!r}) are not allowed in conditions; use a function such as startswith() or a feature",
    ast.Starred: "unpacking with '*' ({src!r}) is not allowed in conditions; pass each argument separately",
    ast.JoinedStr: "f-strings ({src!r}) are not allowed in conditions; write a plain quoted text",
    ast.NamedExpr: "assignments (':=') are not allowed in conditions: rules are data, not programs",
    ast.Await: "'await' is not allowed in conditions",
    ast.Yield: "'yield' is not allowed in conditions",
    ast.YieldFrom: "'yield from' is not allowed in conditions",
    ast.Dict: "dictionaries ({src!r}) are not allowed in conditions; use a list of constants such as ('a', 'b') after 'in'",
    ast.keyword: "keyword arguments ({src!r}) are not allowed in conditions; pass arguments by position",
    ast.Invert: "the operator '~' is not allowed in conditions; use 'not'",
    ast.BitAnd: "the operator '&' is not allowed in conditions; use 'and'",
    ast.BitOr: "the operator '|' is not allowed in conditions; use 'or'",
    ast.BitXor: "the operator '^' is not allowed in conditions; use '!=' or '**' for powers",
    ast.LShift: "the operator '<<' is not allowed in conditions; use '*'",
    ast.RShift: "the operator '>>' is not allowed in conditions; use '//'",
    ast.MatMult: "the operator '@' is not allowed in conditions",
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One piece of condition text and where it sits in its YAML file.

    ``macro`` names the macro the text belongs to (``None`` for the rule's own condition);
    error messages then say so, and point at the macro's own position.
    """

    text: str
    pos: SourcePos | None
    rule_id: str | None = None
    macro: str | None = None

    def where(self, lineno: int, col: int) -> SourcePos | None:
        """The file position of 1-based ``lineno`` and 0-based character ``col`` here."""
        if self.pos is None or not self.pos.line:
            return self.pos
        if lineno <= 1:
            return SourcePos(self.pos.path, self.pos.line, self.pos.column + col)
        return SourcePos(self.pos.path, self.pos.line + lineno - 1, col + 1)

    def node_pos(self, node: ast.AST) -> SourcePos | None:
        """The file position of an AST node of this text."""
        lineno = getattr(node, "lineno", 1)
        lines = self.text.split("\n")
        line = lines[min(max(lineno, 1), len(lines)) - 1]
        # col_offset counts UTF-8 bytes; the file position counts characters.
        col = len(line.encode("utf-8")[: getattr(node, "col_offset", 0)].decode("utf-8", "ignore"))
        return self.where(lineno, col)

    def error(
        self, message: str, code: str, node: ast.AST | None = None, *, at: SourcePos | None = None
    ) -> RuleError:
        """A :class:`RuleError` at ``node`` (or ``at``, or the start of this text)."""
        pos = self.node_pos(node) if node is not None else at or self.where(1, 0)
        if self.macro is not None:
            message = f"in macro {self.macro!r}: {message}"
        return RuleError(message, code=code, pos=pos, rule_id=self.rule_id)


def snippet(node: ast.AST, limit: int = 60) -> str:
    """Short source text of ``node`` for messages."""
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, choices: Iterable[str], what: str, limit: int = 8) -> str:
    """``"; did you mean 'x'?"`` or, with no close match, a short list of what exists."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    if not options:
        return f"; no {what} are defined here"
    shown = ", ".join(options[:limit]) + (", ..." if len(options) > limit else "")
    return f"; known {what}: {shown}"


def parse(src: Source) -> ast.expr:
    """Parse ``src`` into an expression tree that passed the syntax gate.

    Raises :class:`RuleError` for text that is too long, not an expression, nested too
    deeply, or uses any syntax outside the allow-list.
    """
    text = src.text
    if len(text) > MAX_SOURCE_CHARS:
        raise src.error(
            f"the condition is {len(text):,} characters long; the limit is {MAX_SOURCE_CHARS:,}: "
            "split it into macros or compute a feature",
            "too-long",
        )
    if not text.strip():
        raise src.error(
            "the condition is empty; write an expression such as 'event.value_krw >= 10_000_000'",
            "syntax-error",
        )
    # Parenthesise so that multi-line YAML scalars and leading spaces parse; the newline
    # keeps a trailing '# comment' from swallowing the closing parenthesis.
    wrapped = "(" + text + "\n)"
    try:
        tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(src, exc) from None
    except (RecursionError, MemoryError):
        raise src.error(
            "the condition is nested too deeply to read; simplify it", "too-complex"
        ) from None
    body = tree.body
    if body.lineno == 1 and body.col_offset == 0:
        # The body starts at our own '(': the text closed it early, as in "a) or (b".
        raise src.error(
            "unbalanced parentheses: a ')' closes a '(' that was never opened", "syntax-error"
        )
    _shift(tree)
    _check_nodes(src, body)
    return body


def _syntax_error(src: Source, exc: SyntaxError) -> RuleError:
    lineno = exc.lineno or 1
    col = max((exc.offset or 1) - 1, 0)
    if lineno == 1:
        col = max(col - 1, 0)  # our '('
    n_lines = src.text.count("\n") + 1
    if lineno > n_lines:  # reported at our closing ')': point at the end of the text
        lineno, col = n_lines, len(src.text.split("\n")[-1])
    return src.error(
        f"not a valid expression: {exc.msg}", "syntax-error", at=src.where(lineno, col)
    )


def _shift(tree: ast.AST) -> None:
    """Undo the column shift of our opening '(' on line 1."""
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) == 1:
            node.col_offset -= 1  # type: ignore[attr-defined]
        if getattr(node, "end_lineno", None) == 1:
            node.end_col_offset -= 1  # type: ignore[attr-defined]


def _check_nodes(src: Source, body: ast.expr) -> None:
    """Depth limit, allow-list and reserved names, walking without recursion."""
    stack: list[tuple[ast.AST, int, ast.AST]] = [(body, 1, body)]
    while stack:
        node, depth, anchor = stack.pop()
        is_expr = isinstance(node, ast.expr)
        if is_expr:
            anchor = node
            if depth > MAX_DEPTH:
                raise src.error(
                    f"the condition nests more than {MAX_DEPTH} levels deep; "
                    "split it into macros or simplify it",
                    "too-complex",
                    node,
                )
        if not isinstance(node, _ALLOWED):
            msg = _FORBIDDEN.get(type(node))
            if msg is None:
                msg = f"{type(node).__name__} syntax is not allowed in conditions"
            raise src.error(msg.format(src=snippet(anchor)), "forbidden-syntax", anchor)
        _check_name(src, node)
        below = depth + 1 if is_expr else depth
        # Reversed, so that the first problem in reading order is the one reported.
        stack.extend(reversed([(c, below, anchor) for c in ast.iter_child_nodes(node)]))


def _check_name(src: Source, node: ast.AST) -> None:
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    else:
        return
    if name.startswith("_"):
        raise src.error(
            f"{name!r} is not allowed: names starting with '_' are reserved; "
            "conditions may only read event, features, score and steps fields",
            "forbidden-name",
            node,
        )
    if isinstance(node, ast.Name) and name in RESERVED:
        raise src.error(
            f"{name!r} is a reserved name; read the event as event.<field> "
            "and features as features.<name>",
            "forbidden-name",
            node,
        )
