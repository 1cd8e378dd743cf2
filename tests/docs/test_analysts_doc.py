"""docs/analysts.md runs as written: its commands parse, and re-running the walkthrough in a
fresh directory prints the output the page shows.

The page is a sequence of blocks, run in order in one directory (with a copy of the
bundled ``rules/``):

- a ```yaml block whose first line is ``# file: PATH`` is written to PATH;
- each line of a ```sh block is a command: ``stream-guard …`` runs (unless it talks to a
  broker: ``--broker`` lines are only checked to parse), ``cp -r A B`` and
  ``sed -i 's/a/b/; s/c/d/' FILE`` are done in Python;
- a ```text block right after a ```sh block is the output of its last command: every line
  of it must appear in that output, in order (times and rates are masked; a ``[…]`` line
  stands for lines left out).

``python tests/docs/test_analysts_doc.py`` runs the walkthrough and rewrites the output
blocks that are not excerpts (no ``[…]`` line) with the real output: do it after changing a
command or the output format, then read the page again.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stream_guard.cli import _common, app
from stream_guard.cli import rules as rules_cli
from stream_guard.paths import bundled

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
BLOCK = re.compile(r"```(sh|yaml|text)\n(.*?)```", re.S)
#: a line of an output block that stands for lines left out
ELIDED = "[…]"
#: the width the page's output was printed at
COLUMNS = "130"
_TIMES = [
    (re.compile(r"\d+(\.\d+)?s \([\d,]+ events/s\)"), "<time>"),
]


@dataclass
class Step:
    kind: str
    text: str
    start: int
    end: int
    outputs: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Step]:
    return [Step(m.group(1), m.group(2), m.start(2), m.end(2)) for m in BLOCK.finditer(text)]


def commands(step: Step) -> list[str]:
    return [ln.strip() for ln in step.text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _mask(line: str) -> str:
    line = line.rstrip()
    for pattern, repl in _TIMES:
        line = pattern.sub(repl, line)
    return line


def _sed(expr: str, path: Path) -> None:
    text = path.read_text()
    for part in expr.split(";"):
        m = re.fullmatch(r"\s*s/((?:[^/\\]|\\.)*)/((?:[^/\\]|\\.)*)/\s*", part)
        assert m, f"unsupported sed expression {part!r}"
        old, new = m.group(1), m.group(2)
        assert old in text, f"{old!r} is not in {path}"
        text = text.replace(old, new, 1)
    path.write_text(text)


def run_command(line: str, cwd: Path) -> str:
    words = shlex.split(line)
    if words[0] == "cp":
        assert words[1] == "-r", line
        shutil.copytree(cwd / words[2], cwd / words[3])
        return ""
    if words[0] == "sed":
        assert words[1] == "-i", line
        _sed(words[2], cwd / words[3])
        return ""
    assert words[0] == "stream-guard", f"the walkthrough runs stream-guard, cp and sed only: {line}"
    consoles = [_common.err, rules_cli.out]  # made at import: fix their width for this run
    saved = [c._width for c in consoles]
    for c in consoles:
        c.width = int(COLUMNS)
    try:
        res = CliRunner().invoke(app, words[1:], env={"COLUMNS": COLUMNS, "CI": "1"})
    finally:
        for c, w in zip(consoles, saved, strict=True):
            c._width = w
    assert res.exit_code == 0, f"{line}\n{res.output}"
    return res.output


def walk(text: str, cwd: Path) -> list[Step]:
    """Run the page in ``cwd``; each sh step gets the outputs of its commands."""
    shutil.copytree(bundled("rules"), cwd / "rules")
    steps = blocks(text)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for step in steps:
            if step.kind == "yaml" and step.text.startswith("# file: "):
                first, _, body = step.text.partition("\n")
                target = cwd / first.removeprefix("# file: ").strip()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(body)
            elif step.kind == "sh":
                step.outputs = ["" if "--broker" in c else run_command(c, cwd) for c in commands(step)]
    finally:
        os.chdir(old)
    return steps


def pairs(steps: list[Step]) -> list[tuple[Step, Step]]:
    """(sh step, the text step right after it)."""
    return [(a, b) for a, b in itertools.pairwise(steps) if a.kind == "sh" and b.kind == "text"]


def missing_lines(shown: str, real: str) -> list[str]:
    """The lines of ``shown`` not found in ``real`` in order (``[…]`` lines skipped)."""
    out = [_mask(ln) for ln in real.splitlines()]
    i, missing = 0, []
    for line in (_mask(ln) for ln in shown.splitlines()):
        if line.strip() in (ELIDED, ""):
            continue
        try:
            i = out.index(line, i) + 1
        except ValueError:
            missing.append(line)
    return missing


TEXT = DOC.read_text(encoding="utf-8")
LINES = [c for s in blocks(TEXT) if s.kind == "sh" for c in commands(s) if c.startswith("stream-guard ")]


def test_the_page_has_a_walkthrough():
    assert len(LINES) >= 8 and len(pairs(blocks(TEXT))) >= 5


@pytest.mark.parametrize("line", LINES)
def test_command_parses(line: str):
    words = shlex.split(line)[1:]
    res = CliRunner().invoke(app, [*words, "--help"])
    assert res.exit_code == 0, res.output


def test_the_walkthrough_prints_what_the_page_shows(tmp_path: Path):
    steps = walk(TEXT, tmp_path)
    problems = []
    for sh, text in pairs(steps):
        missing = missing_lines(text.text, sh.outputs[-1])
        if missing:
            problems.append(f"after `{commands(sh)[-1]}`, not in the real output:\n" + "\n".join(missing[:8]))
    assert not problems, "\n\n".join(problems) + "\n\n(python tests/docs/test_analysts_doc.py rewrites them)"


def regenerate() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        steps = walk(TEXT, Path(tmp))
    text = TEXT
    for sh, out in reversed(pairs(steps)):
        if ELIDED in out.text.splitlines():
            print(f"excerpt after `{commands(sh)[-1]}`: check by hand; the full output:\n{sh.outputs[-1]}")
            continue
        real = "\n".join(ln.rstrip() for ln in sh.outputs[-1].rstrip().splitlines()) + "\n"
        text = text[: out.start] + real + text[out.end :]
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(regenerate())
