"""docs/operations.md lists every metric the code declares (name, type, labels) and nothing
else, and its stream-guard command lines name real commands and options."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from deploy_helpers import PLANNED, check_cli, declared_metrics  # noqa: E402

ROW = re.compile(r"^\| `(stream_guard_\w+)` \| (counter|gauge|histogram) \|([^|]*)\|", re.M)


def documented() -> dict[str, tuple[str, set[str]]]:
    section = DOC[DOC.index("## Metrics"):DOC.index("## Alerts")]
    out = {}
    for name, kind, labels in ROW.findall(section):
        assert name not in out, f"{name} listed twice"
        out[name] = (kind, {x.strip() for x in labels.split(",") if x.strip()})
    return out


def exposed(d) -> str:
    return d.name + "_total" if d.type == "counter" else d.name


def test_every_metric_is_documented_as_declared():
    docs = documented()
    expected = {exposed(d): (d.type, d.labels) for d in [*declared_metrics().values(), *PLANNED]}
    missing = sorted(set(expected) - set(docs))
    extra = sorted(set(docs) - set(expected))
    assert missing == [] and extra == [], f"undocumented: {missing}; documented but not declared: {extra}"
    for name, (kind, labels) in expected.items():
        assert docs[name] == (kind, labels), f"{name}: docs say {docs[name]}, the code {kind} {sorted(labels)}"
    assert len(docs) >= 45


def test_the_command_lines_are_real():
    lines = [line.strip() for block in re.findall(r"```sh\n(.*?)```", DOC, flags=re.S) for line in block.splitlines()
             if line.strip().startswith("stream-guard ")]
    assert len(lines) >= 4
    for line in lines:
        words = shlex.split(line.split(" && ")[0].split("  #")[0].replace("…", "x"))
        assert check_cli(words[1:]) in (None, "pending"), line
