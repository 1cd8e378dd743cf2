"""Rule sets as messages: what ``rules publish`` sends and what workers load.

A published rule set is one JSON message on the compacted rules topic, under the key
``current``: every file of the rules directory (YAML and the list files it names), a
version and a SHA-256 checksum of the files. Workers load it exactly as ``--rules DIR``
would, so a rule set behaves the same published or local.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.yaml").write_text("rules: []\\n")
>>> rs = pack(d, version=3)
>>> unpacked = unpack(rs.to_bytes())
>>> unpacked.version, unpacked.checksum == rs.checksum, unpacked.files
(3, True, {'a.yaml': 'rules: []\\n'})
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import orjson

from stream_guard.core.errors import ConfigError
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.pack import RuleSet

KEY = b"current"
#: Files a rules directory may hold (rule packs, policy, lists).
SUFFIXES = (".yaml", ".yml", ".txt", ".csv", ".json")
#: Kafka's default message size limit is 1 MB; stay well under it.
MAX_BYTES = 900_000


@dataclass(frozen=True)
class PublishedRules:
    version: int
    checksum: str
    files: dict[str, str]
    published_at: float = field(default_factory=time.time)
    source: str = ""

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "version": self.version,
                "checksum": self.checksum,
                "published_at": self.published_at,
                "source": self.source,
                "files": self.files,
            }
        )

    def load(self, scores: Collection[str] = ()) -> RuleSet:
        """Compile the rule set (raises RuleSetError with every problem); ``scores``: the
        model names its rules may read."""
        with tempfile.TemporaryDirectory(prefix="stream-guard-rules-") as tmp:
            root = Path(tmp)
            for name, text in self.files.items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            return load_rules(root, scores=scores)


def checksum(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return "sha256:" + h.hexdigest()


def pack(directory: Path, *, version: int) -> PublishedRules:
    """Every rules file under ``directory`` (hidden files skipped)."""
    files: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if not path.is_file() or path.suffix not in SUFFIXES or any(p.startswith(".") for p in rel.parts):
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
    if not files:
        raise ConfigError(f"{directory}: no rule files (*.yaml) found")
    rs = PublishedRules(version=version, checksum=checksum(files), files=files, source=str(directory))
    if len(rs.to_bytes()) > MAX_BYTES:
        raise ConfigError(f"{directory}: the rule set is {len(rs.to_bytes()):,} bytes, over the {MAX_BYTES:,} a message may hold")
    return rs


def unpack(data: bytes) -> PublishedRules:
    """Decode a published rule set; raises ConfigError if it is malformed or tampered with."""
    try:
        obj = orjson.loads(data)
        files = obj["files"]
        rs = PublishedRules(
            version=int(obj["version"]),
            checksum=str(obj["checksum"]),
            files={str(k): str(v) for k, v in files.items()},
            published_at=float(obj.get("published_at") or 0.0),
            source=str(obj.get("source") or ""),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"malformed rule set message: {exc}") from None
    for name in rs.files:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ConfigError(f"rule set message names an unsafe path {name!r}")
    if checksum(rs.files) != rs.checksum:
        raise ConfigError(f"rule set version {rs.version}: checksum mismatch (the files are not what was published)")
    return rs
