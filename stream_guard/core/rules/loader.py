"""Load a rules directory into a :class:`RuleSet`: parse, validate, compile, report.

Every ``*.yaml`` file under the directory is a rule file (``lists:``, ``macros:``,
``rules:``), except ``policy.yaml`` (the risk policy). All problems are collected and
raised together as :class:`RuleSetError`, each as ``file:line:column: [rule] message [code]``.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stream_guard.core.errors import RuleError, RuleSetError, SourcePos
from stream_guard.core.events import LoginEvent, TransferEvent
from stream_guard.core.features import features_for
from stream_guard.core.rules.compiler import ALWAYS, FieldType, Macro, Scope, compile_condition
from stream_guard.core.rules.lists import NamedList, read_list_files
from stream_guard.core.rules.pack import CompiledRule, CompiledStep, Policy, RuleSet
from stream_guard.core.rules.schema import ListSpec, PolicyFile, RuleFile, RuleSpec, _list_spec
from stream_guard.core.rules.yamlpos import PosDict, load_yaml, locate, locate_key
from stream_guard.core.sequences import SequenceShape, StepShape

POLICY_FILE = "policy.yaml"
EVENT_MODELS: dict[str, type[BaseModel]] = {"login": LoginEvent, "transfer": TransferEvent}


def _field_type(annotation: Any) -> FieldType:
    nullable = False
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        annotation = next(a for a in args if a is not type(None))
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is typing.Literal or annotation is str:
        kind = "string"
    elif annotation is bool:
        kind = "bool"
    elif annotation in (int, float):
        kind = "number"
    elif annotation is datetime:
        kind = "time"
    else:
        kind = "any"
    return FieldType(kind, nullable)


def event_fields(event_type: str) -> dict[str, FieldType]:
    """The documented fields of one event type, as the compiler sees them (``event.<name>``)."""
    model = EVENT_MODELS[event_type]
    out = {}
    for name, info in model.model_fields.items():
        ft = _field_type(info.annotation)
        out[name] = FieldType(
            ft.type, ft.nullable or (not info.is_required() and info.default is None)
        )
    return out


_EVENT_SCOPE = {t: event_fields(t) for t in EVENT_MODELS}


def feature_fields(event_type: str) -> dict[str, FieldType]:
    return {n: FieldType(s.type, s.nullable) for n, s in features_for(event_type).items()}


def load_rules(directory: str | Path, *, scores: Collection[str] = ()) -> RuleSet:
    """Load, validate and compile every rule file under ``directory``."""
    root = Path(directory)
    if not root.is_dir():
        raise RuleSetError(
            [
                RuleError(
                    f"no rules directory at {str(root)!r}",
                    code="no-rules",
                    pos=SourcePos(str(root)),
                )
            ]
        )
    files = yaml_files(root)
    errors: list[RuleError] = []
    digest = hashlib.sha256()
    parsed: list[
        tuple[Path, PosDict, dict[str, ListSpec], dict[str, str], list[tuple[int, RuleSpec]]]
    ] = []
    policy = PolicyFile()
    policy_doc: Any = None
    for path, shown, doc in read_documents(root, files, digest, errors):
        if path.name == POLICY_FILE and path.parent == root:
            policy_doc = doc
            policy = _validate(PolicyFile, doc or {}, (), shown, errors) or policy
            continue
        if doc is None:
            continue
        if not isinstance(doc, dict):
            errors.append(
                RuleError(
                    "a rule file must be a mapping with 'rules:' (and optional 'lists:', 'macros:')",
                    code="bad-rule-file",
                    pos=SourcePos(shown, 1, 1),
                )
            )
            continue
        model = _validate(RuleFile, doc, (), shown, errors)
        if model is None:
            continue
        specs = {}
        for name, raw in model.lists.items():
            spec = _validate(
                ListSpec, _list_spec(raw), ("lists", name), shown, errors, root_doc=doc
            )
            if spec is not None:
                specs[name] = spec
        rule_specs = []
        for i, raw in enumerate(model.rules):
            spec = _validate(RuleSpec, raw, ("rules", i), shown, errors, root_doc=doc)
            if spec is not None:
                rule_specs.append((i, spec))
        parsed.append((path, doc, specs, model.macros, rule_specs))

    lists: dict[str, NamedList] = {}
    macros: dict[str, Macro] = {}
    list_files: list[str] = []
    for path, doc, list_specs, macro_sources, _ in parsed:
        for name, spec in list_specs.items():
            pos = doc["lists"].key_pos(name)
            if name in lists:
                errors.append(
                    RuleError(
                        f"list {name!r} is defined twice (first in {lists[name].sources[0]})",
                        code="duplicate-list",
                        pos=pos,
                    )
                )
                continue
            try:
                values, paths = read_list_files(spec.files, path.parent, pos)
            except RuleError as exc:
                errors.append(exc)
                continue
            for p in paths:
                digest.update(f"{p.relative_to(root)}\0".encode() + p.read_bytes())
                list_files.append(str(p))
            lists[name] = NamedList(name, [*spec.values, *values], spec.match, sources=[str(pos)])
        for name, source in macro_sources.items():
            if name in macros:
                errors.append(
                    RuleError(
                        f"macro {name!r} is defined twice",
                        code="duplicate-macro",
                        pos=doc["macros"].key_pos(name),
                    )
                )
                continue
            macros[name] = Macro(source, doc["macros"].value_pos(name))

    rules: list[CompiledRule] = []
    seen: dict[str, SourcePos] = {}
    for _path, doc, _, _, rule_specs in parsed:
        for i, spec in rule_specs:
            rdoc = doc["rules"][i]
            pos = doc["rules"].pos_of(i)
            if spec.id in seen:
                errors.append(
                    RuleError(
                        f"rule id {spec.id!r} is already used at {seen[spec.id]}",
                        code="duplicate-rule-id",
                        pos=rdoc.value_pos("id"),
                        rule_id=spec.id,
                    )
                )
                continue
            seen[spec.id] = pos
            try:
                rules.append(
                    compile_rule(spec, rdoc, pos, lists=lists, macros=macros, scores=scores)
                )
            except RuleSetError as exc:
                errors.extend(exc.errors)
            except RuleError as exc:
                errors.append(exc.at(pos, spec.id))

    if errors:
        raise RuleSetError(sorted(errors, key=by_position))
    checksum = digest.hexdigest()
    del policy_doc
    return RuleSet(
        rules=tuple(rules),
        policy=Policy(policy.half_life, tuple(policy.levels)),
        lists=dict(lists),
        macros={k: m.source for k, m in macros.items()},
        checksum=checksum,
        version=policy.version or checksum[:12],
        source=str(root),
        files=tuple(str(p) for p in files) + tuple(list_files),
    )


def yaml_files(root: Path) -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` file under ``root``, in a stable order."""
    return sorted(p for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def read_documents(
    root: Path, files: Iterable[Path], digest: Any, errors: list[RuleError]
) -> Iterator[tuple[Path, str, Any]]:
    """``(path, shown path, parsed YAML)`` per file, each file's text fed to ``digest``;
    a file that is not valid YAML goes to ``errors`` instead."""
    for path in files:
        text = path.read_text(encoding="utf-8")
        digest.update(f"{path.relative_to(root)}\0{text}\0".encode())
        shown = _shown(path)
        try:
            doc = load_yaml(text, shown)
        except RuleError as exc:
            errors.append(exc)
            continue
        yield path, shown, doc


def by_position(e: RuleError) -> tuple[str, int, int]:
    """Sort key of errors: file, line, column (errors without a position first)."""
    return (e.pos.path, e.pos.line, e.pos.column) if e.pos else ("", 0, 0)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _validate(
    model: type[BaseModel],
    value: Any,
    at: tuple[Any, ...],
    shown: str,
    errors: list[RuleError],
    *,
    root_doc: Any = None,
) -> Any:
    """``model`` from ``value`` (found at path ``at`` in the file), or None with errors added."""
    doc = value if root_doc is None else root_doc
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = at + tuple(err["loc"])
            find = locate_key if err["type"] == "extra_forbidden" else locate
            pos = find(doc, loc) or SourcePos(shown, 1, 1)
            rule_id = None
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                try:
                    rule_id = doc["rules"][loc[1]].get("id")
                except (AttributeError, IndexError, KeyError, TypeError):
                    rule_id = None
            shown_loc = loc[2:] if len(loc) >= 2 and loc[0] == "rules" else loc
            where = ".".join(str(p) for p in shown_loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r} (check the spelling against docs/rules.md)"
            elif err["type"] == "missing":
                msg = f"missing required key {loc[-1]!r}"
            elif where:
                msg = f"{where}: {msg}"
            errors.append(
                RuleError(
                    msg,
                    code="bad-rule",
                    pos=pos,
                    rule_id=rule_id if isinstance(rule_id, str) else None,
                )
            )
        return None


def _when_pos(rdoc: Any, key: str) -> SourcePos:
    return rdoc.value_pos(key) if isinstance(rdoc, PosDict) else rdoc.pos


def compile_rule(
    spec: RuleSpec,
    rdoc: PosDict,
    pos: SourcePos,
    *,
    lists: Mapping[str, Any],
    macros: Mapping[str, Macro],
    scores: Collection[str],
) -> CompiledRule:
    """One validated rule → a CompiledRule (raises RuleSetError with every problem found)."""
    errors: list[RuleError] = []
    rid = spec.id

    def scope(event_type: str, steps: Mapping[str, Mapping[str, FieldType]] | None = None) -> Scope:
        return Scope(
            event=_EVENT_SCOPE[event_type],
            features=feature_fields(event_type),
            scores=tuple(scores),
            steps=steps or {},
            lists=lists,
            macros=macros,
        )

    def cond(container: Any, key: Any, sc: Scope):
        """Compile ``container[key]`` (True when absent), with errors placed in the file."""
        if isinstance(container, dict) and key not in container:
            return ALWAYS
        value = container[key]
        source, where = container.source(key)
        if value is True:
            return ALWAYS
        if value is False:
            errors.append(
                RuleError(
                    "'when: false' never matches: set 'mode: off' instead",
                    code="bad-rule",
                    pos=where,
                    rule_id=rid,
                )
            )
            return ALWAYS
        try:
            return compile_condition(source, sc, pos=where, rule_id=rid)
        except RuleError as exc:
            errors.append(exc.at(where, rid))
            return ALWAYS

    def event_field(name: str, event_type: str, where: SourcePos) -> str:
        bare = name.removeprefix("event.")
        if bare not in _EVENT_SCOPE[event_type]:
            close = difflib.get_close_matches(bare, list(_EVENT_SCOPE[event_type]), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(
                RuleError(
                    f"unknown {event_type} field {name!r}{hint}",
                    code="unknown-field",
                    pos=where,
                    rule_id=rid,
                )
            )
        return bare

    steps: tuple[CompiledStep, ...] = ()
    shape = None
    group_by = None
    on: frozenset[str]
    when = ALWAYS
    excepts: list = []
    if spec.sequence is not None:
        seq = spec.sequence
        sdoc = rdoc["sequence"]
        group_by = None
        if seq.by != "user_id":
            for on in sorted(
                {st.on for st in seq.steps}
            ):  # the key must exist on every step's events
                group_by = event_field(seq.by, on, sdoc.value_pos("by"))
        compiled: list[tuple] = []
        earlier: dict[str, Mapping[str, FieldType]] = {}
        for i, step in enumerate(seq.steps):
            stdoc = sdoc["steps"][i]
            c = cond(stdoc, "when", scope(step.on, dict(earlier)))
            if group_by and any(n.startswith("steps.") for n in c.names):
                errors.append(
                    RuleError(
                        f"a sequence by {group_by!r} cannot refer to earlier steps (steps.*): only sequences by user_id can",
                        code="bad-rule",
                        pos=_when_pos(stdoc, "when"),
                        rule_id=rid,
                    )
                )
            compiled.append((step, c))
            if not step.absent:
                earlier[step.name] = _EVENT_SCOPE[step.on]
        captures: dict[str, set[str]] = {s.name: set() for s in seq.steps}
        for _, c in compiled:
            for n in c.names:
                parts = n.split(".")
                if parts[0] == "steps" and len(parts) == 3:
                    captures[parts[1]].add(parts[2])
        steps = tuple(
            CompiledStep(s.name, s.on, c, s.absent, s.within, tuple(sorted(captures[s.name])))
            for s, c in compiled
        )
        shape = SequenceShape(
            seq.within, tuple(StepShape(s.name, s.on, s.absent, s.within) for s in seq.steps)
        )
        on = frozenset(s.on for s in seq.steps)
        except_type = seq.steps[-1].on
    else:
        assert spec.on is not None
        on = frozenset([spec.on])
        except_type = spec.on
        when = cond(rdoc, "when", scope(spec.on))
        if spec.aggregate is not None:
            adoc = rdoc["aggregate"]
            agg = spec.aggregate
            for name in agg.fields:
                f = event_field(name, spec.on, adoc.value_pos("field"))
                if (
                    agg.function in ("sum", "avg")
                    and _EVENT_SCOPE[spec.on].get(f)
                    and _EVENT_SCOPE[spec.on][f].type != "number"
                ):
                    errors.append(
                        RuleError(
                            f"{agg.function} needs a number field, {f!r} is not one",
                            code="type-error",
                            pos=adoc.value_pos("field"),
                            rule_id=rid,
                        )
                    )
            by = event_field(agg.by, spec.on, adoc.value_pos("by")) if "by" in adoc else "user_id"
            group_by = by if by != "user_id" else None
    if "except" in rdoc:
        edoc = rdoc["except"]
        if isinstance(edoc, list):
            excepts.extend(cond(edoc, j, scope(except_type)) for j in range(len(edoc)))
        else:
            excepts.append(cond(rdoc, "except", scope(except_type)))

    suppress = spec.suppress
    if suppress is None and spec.aggregate is not None:
        suppress = spec.aggregate.window  # one decision per window per key unless asked otherwise
    if suppress == "none":
        suppress = None
    if errors:
        raise RuleSetError(errors)
    aggregate = spec.aggregate
    if aggregate is not None:
        aggregate = aggregate.model_copy(update={"by": aggregate.by.removeprefix("event.")})
    return CompiledRule(
        id=rid,
        title=spec.title,
        severity=spec.severity,
        mode=spec.mode,
        version=spec.version,
        tags=tuple(spec.tags),
        on=on,
        when=when,
        excepts=tuple(excepts),
        risk=spec.risk,
        actions=tuple(a.to_dict() for a in spec.actions),
        reason=spec.reason,
        suppress=suppress,
        aggregate=aggregate,
        sequence=shape,
        steps=steps,
        group_by=group_by,
        path=pos.path,
        line=pos.line,
        spec=spec,
    )
