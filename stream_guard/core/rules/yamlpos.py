"""YAML loading that remembers where every key and value came from.

Rule files are written by people; an error must point at ``file:line:column``. PyYAML's
composer gives every node a start mark, so we build plain dicts and lists from the node
tree ourselves and keep the marks beside them.

>>> doc = load_yaml("rules:\\n  - id: a\\n    when: event.success\\n", "x.yaml")
>>> doc["rules"][0]["when"], doc["rules"][0].value_pos("when")
('event.success', SourcePos(path='x.yaml', line=3, column=11))
"""

from __future__ import annotations

from typing import Any

import yaml

from stream_guard.core.errors import RuleError, SourcePos

try:  # the C loader is much faster where libyaml is available
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML
    _Loader = yaml.SafeLoader


_BOOL = "tag:yaml.org,2002:bool"


class PosDict(dict):
    """A dict that knows the position of itself, its keys and its values."""

    __slots__ = ("_key_pos", "_raw", "_val_pos", "pos")

    def __init__(self, pos: SourcePos):
        super().__init__()
        self.pos = pos
        self._key_pos: dict[Any, SourcePos] = {}
        self._val_pos: dict[Any, SourcePos] = {}
        self._raw: dict[Any, tuple[str, SourcePos]] = {}

    def source(self, key: Any) -> tuple[str, SourcePos]:
        """The value's text laid out as in the file, with the position of its first character.

        A condition written over several lines (plain, ``>`` or ``|``) keeps its line
        breaks and indentation here, so an error inside it can point at the right line and
        column; a one-line value is returned as it is.
        """
        return self._raw.get(key) or (str(self[key]), self.value_pos(key))

    def key_pos(self, key: Any) -> SourcePos:
        return self._key_pos.get(key, self.pos)

    def value_pos(self, key: Any) -> SourcePos:
        return self._val_pos.get(key, self.key_pos(key))


class PosList(list):
    """A list that knows the position of itself and of each item."""

    __slots__ = ("_raw", "item_pos", "pos")

    def __init__(self, pos: SourcePos):
        super().__init__()
        self.pos = pos
        self.item_pos: list[SourcePos] = []
        self._raw: dict[int, tuple[str, SourcePos]] = {}

    def source(self, index: int) -> tuple[str, SourcePos]:
        """Like :meth:`PosDict.source`, for an item."""
        return self._raw.get(index) or (str(self[index]), self.pos_of(index))

    def pos_of(self, index: int) -> SourcePos:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document into PosDict/PosList/scalars; RuleError on bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _build(node, loader, path, text.splitlines())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = SourcePos(path, mark.line + 1, mark.column + 1) if mark else SourcePos(path)
        raise RuleError(f"not valid YAML: {exc.problem or exc}", code="bad-yaml", pos=pos) from None
    except yaml.YAMLError as exc:
        raise RuleError(f"not valid YAML: {exc}", code="bad-yaml", pos=SourcePos(path)) from None
    finally:
        loader.dispose()


def _pos(node: yaml.Node, path: str, lines: list[str]) -> SourcePos:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    style = getattr(node, "style", None)
    if style in ('"', "'"):
        col += 1  # point at the text, not at the quote
    elif style in ("|", ">") and line < len(lines):
        # a block scalar's text starts on the next line, at its indentation
        nxt = lines[line]
        line, col = line + 1, len(nxt) - len(nxt.lstrip()) + 1
    return SourcePos(path, line, col)


def _layout(node: yaml.Node, path: str, lines: list[str]) -> tuple[str, SourcePos] | None:
    """A multi-line scalar's text as it stands in the file (see :meth:`PosDict.source`)."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    start, end = node.start_mark, node.end_mark
    if node.style in ("|", ">"):
        first = start.line + 1
        last = end.line if end.column > 0 else end.line - 1
        region = lines[first : last + 1]
        while region and not region[-1].strip():
            region.pop()
        return "\n".join(region), SourcePos(path, first + 1, 1)
    if node.style is None and end.line > start.line:
        region = [" " * start.column + lines[start.line][start.column :]]
        region += lines[start.line + 1 : end.line]
        region.append(lines[end.line][: end.column])
        return "\n".join(region), SourcePos(path, start.line + 1, 1)
    return None


def _build(node: yaml.Node, loader: Any, path: str, lines: list[str]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = PosDict(_pos(node, path, lines))
        for key_node, value_node in node.value:
            key = _build(key_node, loader, path, lines)
            if isinstance(key, dict | list):
                raise RuleError(
                    "a mapping key must be a plain value",
                    code="bad-yaml",
                    pos=_pos(key_node, path, lines),
                )
            if key in out:
                raise RuleError(
                    f"duplicate key {key!r} (the first one would be silently lost)",
                    code="duplicate-key",
                    pos=_pos(key_node, path, lines),
                )
            out[key] = _build(value_node, loader, path, lines)
            out._key_pos[key] = _pos(key_node, path, lines)
            out._val_pos[key] = _pos(value_node, path, lines)
            raw = _layout(value_node, path, lines)
            if raw is not None:
                out._raw[key] = raw
        return out
    if isinstance(node, yaml.SequenceNode):
        out_list = PosList(_pos(node, path, lines))
        for i, item in enumerate(node.value):
            out_list.append(_build(item, loader, path, lines))
            out_list.item_pos.append(_pos(item, path, lines))
            raw = _layout(item, path, lines)
            if raw is not None:
                out_list._raw[i] = raw
        return out_list
    if node.tag == _BOOL and node.value.lower() not in ("true", "false"):
        return node.value  # YAML 1.1 reads on/off/yes/no as booleans: `on: login` and `mode: off` are words
    return loader.construct_object(node, deep=True)


def locate(doc: Any, loc: tuple[Any, ...]) -> SourcePos | None:
    """The position of the value at ``loc`` (a pydantic-style path) inside ``doc``."""
    pos = getattr(doc, "pos", None)
    cur = doc
    for part in loc:
        if isinstance(cur, PosDict) and part in cur:
            pos = cur.value_pos(part)
            cur = cur[part]
        elif isinstance(cur, PosList) and isinstance(part, int) and 0 <= part < len(cur):
            pos = cur.pos_of(part)
            cur = cur[part]
        elif isinstance(cur, PosDict):
            return cur.pos if pos is None else pos
        else:
            break
    return pos


def locate_key(doc: Any, loc: tuple[Any, ...]) -> SourcePos | None:
    """The position of the last key of ``loc`` itself (for "unknown key" errors)."""
    if not loc:
        return getattr(doc, "pos", None)
    cur = doc
    for part in loc[:-1]:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return locate(doc, loc)
    if isinstance(cur, PosDict) and loc[-1] in cur:
        return cur.key_pos(loc[-1])
    return locate(doc, loc)
