"""Which of our languages a user's BCP 47 locale gets (RFC 4647 lookup, simplified).

Templates, call scripts and the task queues exist per *language* (``ko``, ``en``, ``zh``);
users come with locales such as ``ko-KR``, ``zh-Hant-TW`` or ``en_US``. :func:`match` takes
the most specific available tag that the locale starts with, else the fallback:

>>> match("zh-CN", ("ko", "en", "zh")), match("ko-KR", ("ko", "en", "zh"))
('zh', 'ko')
>>> match("en_US", ("ko", "en", "zh")), match("ja", ("ko", "en", "zh")), match(None, ("ko", "en"))
('en', 'en', 'en')
"""

from __future__ import annotations

from collections.abc import Iterable

#: The languages the bundled templates, call scripts and task queues cover.
LANGUAGES: tuple[str, ...] = ("ko", "en", "zh")
FALLBACK = "en"


def normalise(locale: str) -> str:
    """``zh_hant_TW`` → ``zh-hant-tw``: lower case, hyphens (for matching only)."""
    return locale.strip().replace("_", "-").lower()


def match(locale: str | None, available: Iterable[str], fallback: str = FALLBACK) -> str:
    """The available language tag for ``locale``: the longest prefix of its subtags."""
    have = {normalise(a): a for a in available}
    if locale:
        parts = normalise(locale).split("-")
        while parts:
            tag = "-".join(parts)
            if tag in have:
                return have[tag]
            parts.pop()
    return fallback
