"""Alert templates, security reminders and the agents' call scripts, per language.

One YAML file per language under ``alerts/`` (``en.yaml``, ``ko.yaml``, ``zh.yaml``)::

    language: en
    alerts:            # rules name them: alert: {template: new_device_login}
      new_device_login:
        title: New sign-in from a device we don't recognise
        body: Your account was signed in to from a new device at {time}, from {place} …
    reminders:         # rules name them: remind: {topic: enable_2fa}
      enable_2fa: {title: …, body: …}
    call_scripts:      # per rule id, and a default
      default:
        title: Confirm recent account activity
        steps: [Introduce yourself …, …]

A user gets their language by BCP 47 matching (``zh-CN`` → ``zh``, ``ko-KR`` → ``ko``),
else English; a template missing in their language falls back to English too. Templates are
data: ``{name}`` placeholders (:data:`~stream_guard.actions.formatting.PLACEHOLDERS`) are
filled with the event's details, formatted and masked for the language, and nothing else is
evaluated. Every file is checked when loaded; problems are reported all at once as
``alerts/ko.yaml:12:31: unknown placeholder {amout}; did you mean {amount}? [bad-template]``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_guard.actions.formatting import PLACEHOLDERS
from stream_guard.actions.locale import FALLBACK, match
from stream_guard.core.errors import ConfigError, RuleError, SourcePos
from stream_guard.core.rules.yamlpos import PosDict, PosList, load_yaml
from stream_guard.paths import bundled

ALERT, REMINDER = "alert", "security_reminder"
_SECTIONS = {"alerts": ALERT, "reminders": REMINDER}
_TOP = ("language", "alerts", "reminders", "call_scripts")
_BRACES = re.compile(r"\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TemplateError(ConfigError):
    """Problems in the template files, each ``path:line:col: message [bad-template]``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems), code="bad-template")


@dataclass(frozen=True)
class Template:
    language: str
    kind: str  # alert or security_reminder
    key: str  # the template name or reminder topic
    title: str
    body: str


@dataclass(frozen=True)
class Rendered:
    language: str  # the language it was written in (after any fallback)
    kind: str
    key: str
    title: str
    body: str


@dataclass(frozen=True)
class CallScript:
    language: str
    name: str  # a rule id, or "default"
    title: str
    steps: list[str]


@dataclass
class Catalog:
    """Every language's templates and call scripts (see the module docstring)."""

    templates: dict[tuple[str, str, str], Template] = field(default_factory=dict)  # (lang, kind, key)
    scripts: dict[tuple[str, str], CallScript] = field(default_factory=dict)  # (lang, name)
    languages: tuple[str, ...] = ()
    directory: Path | None = None

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalog:
        """Load ``directory`` (default: ``./alerts`` when it has templates, else the bundled
        ones); :class:`TemplateError` with every problem found."""
        if directory is None:
            here = Path.cwd() / "alerts"
            directory = here if (here / "en.yaml").is_file() else bundled("alerts")
        directory = Path(directory)
        files = sorted(directory.glob("*.yaml"))
        problems: list[str] = []
        cat = cls(directory=directory)
        if not files:
            raise TemplateError([f"{directory}: no template files (*.yaml)"])
        for path in files:
            _load_file(cat, path, problems)
        langs = sorted({lang for lang, _, _ in cat.templates} | {lang for lang, _ in cat.scripts})
        if FALLBACK not in langs:
            problems.append(f"{directory}: no {FALLBACK}.yaml: English is every language's fallback")
        elif ("en", "default") not in cat.scripts:
            problems.append(f"{directory / 'en.yaml'}: call_scripts needs a 'default' script")
        if problems:
            raise TemplateError(problems)
        cat.languages = tuple([FALLBACK, *[x for x in langs if x != FALLBACK]])
        return cat

    def language(self, locale: str | None) -> str:
        return match(locale, self.languages)

    def template(self, kind: str, key: str, locale: str | None) -> Template | None:
        lang = self.language(locale)
        return self.templates.get((lang, kind, key)) or self.templates.get((FALLBACK, kind, key))

    def render(self, kind: str, key: str, locale: str | None, details: dict[str, str]) -> Rendered | None:
        """The message in the user's language (or English); None if no language has it."""
        t = self.template(kind, key, locale)
        if t is None:
            return None
        return Rendered(t.language, kind, key, fill(t.title, details), fill(t.body, details))

    def call_script(self, rule_ids: list[str], locale: str | None, details: dict[str, str]) -> CallScript:
        """The script for the first of ``rule_ids`` that has one, else ``default``."""
        lang = self.language(locale)
        for name in [*rule_ids, "default"]:
            for la in (lang, FALLBACK):
                s = self.scripts.get((la, name))
                if s is not None:
                    return CallScript(s.language, s.name, fill(s.title, details), [fill(x, details) for x in s.steps])
        raise LookupError("no default call script")  # load() makes sure there is one

    def script_for_task(self, task: Any, tz: Any = None) -> CallScript:
        """The call script for a :class:`~stream_guard.actions.tasks.Task`, in the task's
        language, filled from its newest decision that has event details."""
        from stream_guard.actions.formatting import details, zone

        decision = next((d for d in reversed(task.decisions) if getattr(d, "context", None)), None)
        ctx = dict(getattr(decision, "context", None) or {})
        ctx["user_id"] = task.user_id
        lang = self.language(task.locale or task.lang)
        info = details(ctx, getattr(decision, "ts", None), lang, tz or zone("Asia/Seoul"))
        return self.call_script(list(task.rule_ids), task.locale or task.lang, info)

    def missing(self, kind: str, keys: list[str]) -> list[str]:
        """Those of ``keys`` that not even English has (rules naming templates that do not exist)."""
        return [k for k in keys if (FALLBACK, kind, k) not in self.templates]


def fill(text: str, details: dict[str, str]) -> str:
    """Replace each ``{name}`` with its detail (the loader checked the names)."""
    return _BRACES.sub(lambda m: details.get(m.group(1) or "", m.group(0)), text)


def _load_file(cat: Catalog, path: Path, problems: list[str]) -> None:
    name = str(path)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"), name)
    except RuleError as exc:
        problems.append(f"{exc.pos}: {exc.message} [bad-template]")
        return
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{name}: cannot read: {exc} [bad-template]")
        return

    def bad(pos: SourcePos | None, message: str) -> None:
        problems.append(f"{pos or name}: {message} [bad-template]")

    if not isinstance(doc, PosDict):
        bad(None, "expected a mapping with language, alerts, reminders and call_scripts")
        return
    for key in doc:
        if key not in _TOP:
            bad(doc.key_pos(key), f"unknown key {key!r}; expected one of {', '.join(_TOP)}")
    lang = doc.get("language")
    if not isinstance(lang, str) or lang != path.stem:
        bad(doc.value_pos("language") if "language" in doc else doc.pos,
            f"'language' must be {path.stem!r}, the file's name")
        return
    for section, kind in _SECTIONS.items():
        if section not in doc:
            continue
        body = doc[section]
        if not isinstance(body, PosDict):
            bad(doc.value_pos(section), f"{section} must be a mapping of name: {{title, body}}")
            continue
        for key, t in body.items():
            where = f"{section}.{key}"
            if not _NAME.match(str(key)):
                bad(body.key_pos(key), f"{where}: names are snake_case")
            if not _fields(t, ("title", "body"), (), where, body.value_pos(key), bad):
                continue
            for f in ("title", "body"):
                _placeholders(t, f, f"{where}.{f}", bad)
            cat.templates[(lang, kind, str(key))] = Template(lang, kind, str(key), t["title"].strip(), t["body"].strip())
    if "call_scripts" not in doc:
        return
    scripts = doc["call_scripts"]
    if not isinstance(scripts, PosDict):
        bad(doc.value_pos("call_scripts"), "call_scripts must be a mapping of name: {title, steps}")
        return
    for key, s in scripts.items():
        where = f"call_scripts.{key}"
        if not _fields(s, ("title", "steps"), (), where, scripts.value_pos(key), bad, lists=("steps",)):
            continue
        _placeholders(s, "title", f"{where}.title", bad)
        steps = s["steps"]
        for i, step in enumerate(steps):
            if not isinstance(step, str) or not step.strip():
                bad(steps.pos_of(i), f"{where}.steps[{i}]: a step is a non-empty text")
                continue
            _placeholders(steps, i, f"{where}.steps[{i}]", bad)
        texts = [x.strip() for x in steps if isinstance(x, str)]
        cat.scripts[(lang, str(key))] = CallScript(lang, str(key), s["title"].strip(), texts)


def _fields(t: Any, required: tuple[str, ...], optional: tuple[str, ...], where: str,
            pos: SourcePos, bad: Any, lists: tuple[str, ...] = ()) -> bool:
    if not isinstance(t, PosDict):
        bad(pos, f"{where}: expected a mapping with {', '.join(required)}")
        return False
    ok = True
    for k in t:
        if k not in required + optional:
            bad(t.key_pos(k), f"{where}: unknown key {k!r}; expected {', '.join(required + optional)}")
            ok = False
    for k in required:
        if k not in t:
            bad(t.pos, f"{where}: missing {k!r}")
            ok = False
        elif k in lists:
            if not isinstance(t[k], PosList) or not t[k]:
                bad(t.value_pos(k), f"{where}.{k}: expected a non-empty list")
                ok = False
        elif not isinstance(t[k], str) or not t[k].strip():
            bad(t.value_pos(k), f"{where}.{k}: expected a non-empty text")
            ok = False
    return ok


def _placeholders(container: Any, key: Any, where: str, bad: Any) -> None:
    raw, pos = container.source(key)
    for m in _BRACES.finditer(raw):
        name = m.group(1)
        if name in PLACEHOLDERS:
            continue
        before = raw[: m.start()]
        line = pos.line + before.count("\n")
        col = (m.start() - before.rfind("\n")) if "\n" in before else pos.column + m.start()
        at = SourcePos(pos.path, line, col)
        if name is None:
            bad(at, f"{where}: a lone brace; placeholders look like {{amount}}")
            continue
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
        hint = f"; did you mean {{{close[0]}}}?" if close else f"; known: {', '.join(PLACEHOLDERS)}"
        bad(at, f"{where}: unknown placeholder {{{name}}}{hint}")
