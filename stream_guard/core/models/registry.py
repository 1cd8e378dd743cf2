"""Model declarations (``models/*.yaml``): parse, validate, report ``file:line:column`` errors.

A declaration names a model (its score is ``score.<name>`` in rules), the events it sees
(``on`` and a ``when`` condition in the rule language), what it measures and how, its
estimator with parameters, and a warm-up. ``docs/models.md`` is the reference.

Three kinds:

- ``baseline``: per user, kept in the user's state (:mod:`.baselines`): ``amount`` (a value
  on a log scale), ``hour`` (the hour of day) or ``rarity`` (how rare a value is).
- ``population``: one river ``HalfSpaceTrees`` per partition over scaled ``features``
  (:mod:`.population`), checkpointed by the worker.
- ``combined``: the ``at_least``-th highest of other models' scores ("unusual on at least
  two axes at once").

>>> reg = load_models(None)
>>> reg.names
()
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stream_guard.core.errors import RuleError, RuleSetError, SourcePos
from stream_guard.core.rules.compiler import ALWAYS, Condition, FieldType, Scope, compile_condition
from stream_guard.core.rules.loader import (
    _EVENT_SCOPE,
    _validate,
    by_position,
    feature_fields,
    read_documents,
    yaml_files,
)
from stream_guard.core.rules.yamlpos import PosDict

__all__ = ["ModelRegistry", "ModelSpec", "ScaledFeature", "load_models"]

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
#: What a ``rarity`` baseline may measure besides an event field: the device as the profile
#: knows it (``device_id``, else the login's user agent).
CLIENT = "client"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AmountParams(_Strict):
    prior_spread: Annotated[float, Field(gt=0, le=5)] = 0.5
    prior_weight: Annotated[float, Field(gt=0, le=100)] = 3.0
    horizon: Annotated[int, Field(ge=2, le=10_000)] = 50


class HourParams(_Strict):
    alpha: Annotated[float, Field(gt=0, le=10)] = 0.25
    cap: Annotated[int, Field(ge=10, le=10_000)] = 200


class RarityParams(_Strict):
    slots: Annotated[int, Field(ge=1, le=64)] = 6
    cap: Annotated[int, Field(ge=10, le=10_000)] = 100


class HalfSpaceTreesParams(_Strict):
    n_trees: Annotated[int, Field(ge=1, le=50)] = 10
    height: Annotated[int, Field(ge=2, le=10)] = 6
    window_size: Annotated[int, Field(ge=10, le=100_000)] = 250
    seed: int = 42


class CombinedParams(_Strict):
    pass


#: estimator name -> its parameters, per kind
ESTIMATORS: Mapping[str, Mapping[str, type[_Strict]]] = {
    "baseline": {"amount": AmountParams, "hour": HourParams, "rarity": RarityParams},
    "population": {"HalfSpaceTrees": HalfSpaceTreesParams},
    "combined": {"kth_highest": CombinedParams},
}


class ScaledFeature(_Strict):
    """One input of a population model, scaled into [0, 1] as half-space trees expect."""

    name: Annotated[str, Field(pattern=_NAME)]
    source: Annotated[str, Field(alias="from")]
    scale: Literal["log", "linear", "bool"] = "linear"
    range: tuple[float, float] | None = None
    missing: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _range(self) -> ScaledFeature:
        if self.scale == "bool":
            if self.range is not None:
                raise ValueError("a bool feature has no 'range' (false is 0, true is 1)")
            return self
        if self.range is None:
            raise ValueError(f"a {self.scale} feature needs 'range: [low, high]'")
        lo, hi = self.range
        if not lo < hi:
            raise ValueError(f"range must be [low, high] with low < high, got {list(self.range)!r}")
        if self.scale == "log" and lo <= 0:
            raise ValueError(f"a log feature's range must start above 0, got {lo!r}")
        return self


class ModelSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    title: str
    description: str = ""
    kind: Literal["baseline", "population", "combined"]
    estimator: str
    on: Literal["login", "transfer"] | None = None
    when: str | bool = True
    value: str | None = None
    features: list[ScaledFeature] = []
    of: list[str] = []
    at_least: Annotated[int, Field(ge=1)] = 1
    params: dict[str, Any] = {}
    warmup: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _shape(self) -> ModelSpec:
        known = ESTIMATORS[self.kind]
        if self.estimator not in known:
            raise ValueError(
                f"estimator {self.estimator!r} is not one of the {self.kind} estimators: "
                + ", ".join(sorted(known))
            )
        if self.kind == "combined":
            if not self.of:
                raise ValueError("a combined model needs 'of': the models it combines")
            if self.at_least > len(self.of):
                raise ValueError(f"at_least {self.at_least} is more than the {len(self.of)} models in 'of'")
            if self.on is not None or self.when is not True or self.value or self.features:
                raise ValueError("a combined model takes only 'of' and 'at_least' (its models say what they see)")
            return self
        if self.on is None:
            raise ValueError("'on' is required: login or transfer")
        if self.of:
            raise ValueError(f"'of' is for combined models, not {self.kind} ones")
        if self.kind == "population":
            if not self.features:
                raise ValueError("a population model needs 'features'")
            if self.value is not None:
                raise ValueError("a population model reads 'features', not 'value'")
        elif self.features:
            raise ValueError("a baseline reads one 'value', not 'features'")
        elif self.estimator == "hour":
            if self.value is not None:
                raise ValueError("an hour baseline reads the event's time: it takes no 'value'")
        elif self.value is None:
            raise ValueError(f"a {self.estimator} baseline needs 'value': what it measures")
        return self


class ModelFile(_Strict):
    models: list[Any] = []


@dataclass(frozen=True)
class Model:
    """One validated, compiled declaration."""

    spec: ModelSpec
    when: Condition
    params: Any
    path: str
    line: int
    #: changes whenever what the model's state means changes (estimator, inputs, params):
    #: saved state with another signature is dropped, as rule state is after a rule edit
    signature: str = ""

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ModelRegistry:
    models: tuple[Model, ...] = ()
    source: str = ""
    checksum: str = ""
    by_name: Mapping[str, Model] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def __len__(self) -> int:
        return len(self.models)


def load_models(directory: str | Path | None) -> ModelRegistry:
    """Load every ``*.yaml`` under ``directory`` (``None``: no models); RuleSetError lists every problem."""
    if directory is None:
        return ModelRegistry()
    root = Path(directory)
    if not root.is_dir():
        raise RuleSetError(
            [RuleError(f"no models directory at {str(root)!r}", code="no-models", pos=SourcePos(str(root)))]
        )
    errors: list[RuleError] = []
    digest = hashlib.sha256()
    raw: list[tuple[ModelSpec, PosDict, SourcePos]] = []
    for _path, shown, doc in read_documents(root, yaml_files(root), digest, errors):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "models" not in doc:
            errors.append(RuleError("a model file must be a mapping with 'models:'", code="bad-model-file",
                                    pos=SourcePos(shown, 1, 1)))
            continue
        if _validate(ModelFile, doc, (), shown, errors) is None:
            continue
        items = doc["models"] or []
        for i, item in enumerate(items):
            spec = _validate(ModelSpec, item, ("models", i), shown, errors, root_doc=doc)
            if spec is not None:
                raw.append((spec, item, doc["models"].pos_of(i)))
    models: list[Model] = []
    seen: dict[str, SourcePos] = {}
    for spec, mdoc, pos in raw:
        if spec.name in seen:
            errors.append(RuleError(f"model {spec.name!r} is already declared at {seen[spec.name]}",
                                    code="duplicate-model", pos=mdoc.value_pos("name")))
            continue
        seen[spec.name] = pos
        try:
            models.append(_compile(spec, mdoc, pos, errors))
        except _Skip:
            continue
    _check_combined(models, raw, errors)
    if errors:
        raise RuleSetError(sorted(errors, key=by_position))
    ordered = _dependency_order(models)
    return ModelRegistry(tuple(ordered), str(root), digest.hexdigest(), {m.name: m for m in ordered})


class _Skip(Exception):
    pass


def _error(model: str, message: str, code: str, pos: SourcePos | None) -> RuleError:
    return RuleError(f"model {model!r}: {message}", code=code, pos=pos)


def _compile(spec: ModelSpec, mdoc: PosDict, pos: SourcePos, errors: list[RuleError]) -> Model:
    n = len(errors)
    params_model = ESTIMATORS[spec.kind][spec.estimator]
    params = _validate(params_model, spec.params, ("params",), pos.path, errors, root_doc=mdoc)
    when = ALWAYS
    if spec.on is not None:
        scope = Scope(event=_EVENT_SCOPE[spec.on], features=feature_fields(spec.on))
        if spec.when is False:
            errors.append(RuleError("'when: false' never matches: remove the model instead",
                                    code="bad-model", pos=mdoc.value_pos("when")))
        elif spec.when is not True:
            source, where = mdoc.source("when")
            try:
                when = compile_condition(source, scope, pos=where)
            except RuleError as exc:
                errors.append(_error(spec.name, exc.message, exc.code, exc.pos if exc.pos and exc.pos.line else where))
        if spec.value is not None:
            _check_source(spec.value, spec.on, mdoc.value_pos("value"), spec.name, errors,
                          allow_client=spec.estimator == "rarity", numeric=spec.estimator == "amount")
        for j, feat in enumerate(spec.features):
            fdoc = mdoc["features"][j]
            _check_source(feat.source, spec.on, fdoc.value_pos("from"), spec.name, errors,
                          numeric=feat.scale != "bool", boolean=feat.scale == "bool")
    if len(errors) > n:
        raise _Skip
    sig = "|".join(
        [spec.kind, spec.estimator, spec.on or "", spec.value or "",
         ",".join(f"{f.name}:{f.source}:{f.scale}:{f.range}:{f.missing}" for f in spec.features),
         repr(sorted(params.model_dump().items()))]
    )
    return Model(spec, when, params, pos.path, pos.line, hashlib.sha1(sig.encode()).hexdigest()[:10])


def _check_source(
    source: str, on: str, where: SourcePos, name: str, errors: list[RuleError], *,
    allow_client: bool = False, numeric: bool = False, boolean: bool = False,
) -> None:
    if allow_client and source == CLIENT:
        return
    ns, _, key = source.partition(".")
    scopes: dict[str, Mapping[str, FieldType]] = {"event": _EVENT_SCOPE[on], "features": feature_fields(on)}
    if ns not in scopes or not key:
        extra = f", or {CLIENT!r}" if allow_client else ""
        errors.append(_error(name, f"{source!r} is not event.<field> or features.<name>{extra}", "bad-model", where))
        return
    ft = scopes[ns].get(key)
    if ft is None:
        errors.append(_error(name, f"unknown {on} {'field' if ns == 'event' else 'feature'} {key!r}",
                             "unknown-field" if ns == "event" else "unknown-feature", where))
    elif numeric and ft.type != "number":
        errors.append(_error(name, f"{source!r} is a {ft.type}, this needs a number", "type-error", where))
    elif boolean and ft.type != "bool":
        errors.append(_error(name, f"{source!r} is a {ft.type}, a bool feature needs a bool", "type-error", where))


def _check_combined(models: list[Model], raw: list[tuple[ModelSpec, PosDict, SourcePos]],
                    errors: list[RuleError]) -> None:
    by_name = {m.name: m for m in models}
    docs = {spec.name: mdoc for spec, mdoc, _ in raw}
    for m in models:
        if m.spec.kind != "combined":
            continue
        for j, other in enumerate(m.spec.of):
            where = docs[m.name]["of"].pos_of(j)
            if other not in by_name:
                errors.append(_error(m.name, f"unknown model {other!r} in 'of'", "unknown-model", where))
            elif by_name[other].spec.kind == "combined":
                errors.append(_error(m.name, f"{other!r} is itself combined: combine the models it combines",
                                     "bad-model", where))


def _dependency_order(models: list[Model]) -> list[Model]:
    """Combined models after the others, so their inputs are scored first."""
    return [m for m in models if m.spec.kind != "combined"] + [m for m in models if m.spec.kind == "combined"]

