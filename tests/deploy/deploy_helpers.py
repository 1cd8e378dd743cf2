"""What the deploy files' checks share: the metric names Stream Guard declares (read from
the source, so a renamed metric breaks the dashboard's and the alerts' tests), the names of
metrics other components are about to export, and the metric and label names a PromQL
expression uses (parsed by promql-parser, not by regular expressions).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

#: The helpers of stream_guard/metrics.py that declare a metric family, and its type.
_DECLARERS = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}


@dataclass
class Declared:
    name: str  # the family name (a counter's without _total)
    type: str
    labels: set[str] = field(default_factory=set)
    where: str = ""

    def samples(self) -> set[str]:
        """The names its samples have in the exposition."""
        if self.type == "counter":
            return {self.name + "_total"}
        if self.type == "histogram":
            return {self.name + s for s in ("_bucket", "_sum", "_count")}
        return {self.name}


#: Metrics declared outside the scanned helpers (issue 7's list).
PLANNED: list[Declared] = [
    Declared("stream_guard_http_requests", "counter", {"route", "method", "status"}, "the HTTP API"),
    Declared("stream_guard_http_request_duration_seconds", "histogram", {"route"}, "the HTTP API"),
]

#: Labels Prometheus adds to every scraped series, and the one histogram buckets have.
TARGET_LABELS = {"job", "instance", "le"}


def declared_metrics(root: Path = ROOT) -> dict[str, Declared]:
    """Every metric family the package declares: calls of counter/gauge/histogram (in
    stream_guard/metrics.py and anywhere else in the package) with a literal name."""
    out: dict[str, Declared] = {}
    for path in sorted((root / "stream_guard").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DECLARERS):
                continue
            if not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            name = node.args[0].value
            if not name.startswith("stream_guard_"):
                continue
            labels: set[str] = set()
            if node.func.id == "histogram":
                for kw in node.keywords:
                    if kw.arg == "label" and isinstance(kw.value, ast.Constant) and kw.value.value:
                        labels.add(kw.value.value)
            elif len(node.args) >= 3 and isinstance(node.args[2], ast.List):
                labels = {e.value for e in node.args[2].elts if isinstance(e, ast.Constant)}
            d = out.setdefault(name, Declared(name, _DECLARERS[node.func.id], set(), f"{path.relative_to(root)}:{node.lineno}"))
            assert d.type == _DECLARERS[node.func.id], f"{name} declared as {d.type} and {node.func.id}"
            d.labels |= labels  # one name may be declared by the worker and by the actions agent
    return out


def known_metrics() -> dict[str, Declared]:
    """Declared and planned families, by the sample names the exposition gives them."""
    out: dict[str, Declared] = {}
    for d in [*declared_metrics().values(), *PLANNED]:
        for s in d.samples():
            out.setdefault(s, d)
    return out


@dataclass
class Uses:
    metrics: set[str] = field(default_factory=set)
    #: (metric, label) of every label matcher
    matchers: set[tuple[str, str]] = field(default_factory=set)
    #: labels of by (…) / without (…) clauses, and labels that functions make
    grouping: set[str] = field(default_factory=set)
    made: set[str] = field(default_factory=set)


def promql_uses(expr: str) -> Uses:
    """The metrics and labels ``expr`` uses (SyntaxError-like ValueError if it does not parse)."""
    uses = Uses()
    _walk(promql_parser.parse(expr), uses)
    return uses


def _walk(e: object, uses: Uses) -> None:
    if isinstance(e, promql_parser.VectorSelector):
        name = e.name
        if name is None:
            for m in e.matchers.matchers:
                if m.name == "__name__":
                    name = m.value
        if name is None:
            raise ValueError(f"a selector without a metric name: {e}")
        uses.metrics.add(name)
        for m in e.matchers.matchers:
            if m.name != "__name__":
                uses.matchers.add((name, m.name))
        return
    if isinstance(e, promql_parser.MatrixSelector):
        _walk(e.vector_selector, uses)
        return
    if isinstance(e, promql_parser.AggregateExpr):
        if e.modifier is not None:
            uses.grouping.update(e.modifier.labels)
        if e.op is not None and str(e.op) == "count_values" and isinstance(e.param, promql_parser.StringLiteral):
            uses.made.add(e.param.val)
    if isinstance(e, promql_parser.Call) and e.func.name == "label_replace":
        uses.made.add(e.args[1].val)
    for attr in ("lhs", "rhs", "expr", "param"):
        child = getattr(e, attr, None)
        if child is not None:
            _walk(child, uses)
    for child in getattr(e, "args", None) or ():
        _walk(child, uses)


def check_expr(expr: str, known: dict[str, Declared], where: str) -> list[str]:
    """Problems with one expression: unknown metrics, labels no metric in it has."""
    try:
        uses = promql_uses(expr)
    except Exception as exc:  # promql-parser raises ValueError-likes
        return [f"{where}: does not parse ({exc}): {expr}"]
    problems = []
    labels = set(TARGET_LABELS) | uses.made
    for name in sorted(uses.metrics):
        if name == "up":
            continue
        d = known.get(name)
        if d is None:
            problems.append(f"{where}: unknown metric {name}")
            continue
        labels |= d.labels
    for name, label in sorted(uses.matchers):
        d = known.get(name)
        allowed = TARGET_LABELS | (d.labels if d else set()) | ({"job", "instance"} if name == "up" else set())
        if d is not None and label not in allowed:
            problems.append(f"{where}: {name} has no label {label!r} (it has {sorted(d.labels)})")
    for label in sorted(uses.grouping - labels):
        problems.append(f"{where}: groups by {label!r}, which none of its metrics has")
    return problems


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (.ci/run does)"
    return path


def run_promtool(*args: str, cwd: Path) -> str:
    res = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"promtool {' '.join(args)} failed:\n{out}"
    return out


#: A Grafana template variable or macro in a query: $name, ${name} or [[name]].
GRAFANA_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def _usage_error() -> type[Exception]:
    try:  # typer >= 0.29 carries its own click
        from typer._click.exceptions import UsageError
    except ImportError:  # pragma: no cover
        from click.exceptions import UsageError
    return UsageError


#: What a command line the CLI does not take raises.
UsageError = _usage_error()


def check_cli(args: list[str]) -> str | None:
    """Parse ``stream-guard ARGS`` as the CLI would, without running it: None if it parses,
    else raises :data:`UsageError`."""
    import typer

    from stream_guard.cli import app

    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("stream-guard", list(args))
    while hasattr(cmd, "resolve_command"):  # a group: on to the subcommand
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []
        rest = [*protected, *ctx.args]
        if not rest:  # a group that runs by itself (``api --host … --port …``)
            break
        name, sub, rest = cmd.resolve_command(ctx, rest)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return None
