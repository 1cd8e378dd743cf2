"""Every `stream-guard …` command line in docs/cli.md and docs/streaming.md names real commands and options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stream_guard.cli import app

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKS = [
    block
    for name in ("cli.md", "streaming.md")
    for block in re.findall(r"```sh\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), flags=re.S)
]
LINES = [
    line.split("|")[-1].strip()
    for block in BLOCKS
    for line in block.splitlines()
    if "stream-guard " in line
]


def test_the_doc_has_examples():
    assert len(LINES) >= 8


@pytest.mark.parametrize("line", LINES)
def test_example_parses(line: str):
    words = shlex.split(line.split(">")[0])
    words = words[words.index("stream-guard") + 1 :]
    # --help after the arguments makes click check every option name, then print help only
    res = CliRunner().invoke(app, [*words, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output
