"""The portal's two languages: message catalogs, language negotiation and local date formats.

Catalogs are plain JSON files (`locales/<tag>.json`) with the same keys in every language, so a missing
translation is a test failure rather than an English word on a Chinese page. The language comes from the
`consentry_lang` cookie when the customer chose one, else from `Accept-Language` (RFC 9110 §12.5.4 with
q-values), else English.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "Catalog",
    "MissingMessageError",
    "catalog",
    "negotiate_language",
]

LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "consentry_lang"
_LOCALES = Path(__file__).with_name("locales")
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class MissingMessageError(KeyError):
    """A template asked for a message key that the catalog does not have."""


def _match(tag: str) -> str | None:
    """The supported language a single language range selects (RFC 4647 basic filtering, prefix match)."""
    lowered = tag.lower()
    if lowered == "*":
        return DEFAULT_LANGUAGE
    for language in LANGUAGES:
        if lowered == language.lower():
            return language
    primary = lowered.split("-")[0]
    if primary == "zh":
        # Traditional script or Taiwan/Hong Kong regions still read Simplified better than English.
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def negotiate_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice if valid, else the best `Accept-Language` match, else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        found = _RANGE.match(part)
        if not found:
            continue
        try:
            quality = float(found.group(2)) if found.group(2) is not None else 1.0
        except ValueError:
            continue
        language = _match(found.group(1))
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Catalog:
    """One language's messages; `gettext(key, **values)` fills `{name}` placeholders."""

    language: str
    messages: dict[str, str]

    def gettext(self, key: str, /, **values: Any) -> str:
        try:
            message = self.messages[key]
        except KeyError:
            raise MissingMessageError(f"no message {key!r} in the {self.language} catalog") from None
        return message.format(**values) if values else message

    def label(self, labels: dict[str, str] | None, fallback: str = "") -> str:
        """A taxonomy label (`{zh-CN: ..., en: ...}`) in this language."""
        if not labels:
            return fallback
        return labels.get(self.language) or labels.get(DEFAULT_LANGUAGE) or fallback

    def datetime(self, value: dt.datetime | str | None) -> str:
        """A timestamp in the local format of the language, in UTC and saying so."""
        if value is None:
            return ""
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        if self.language == "zh-CN":
            return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M} UTC"
        return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"

    def date(self, value: dt.date) -> str:
        """A calendar date in the same local format as `datetime`, without the time."""
        if self.language == "zh-CN":
            return f"{value.year}年{value.month}月{value.day}日"
        return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"

    def join(self, items: Any, *, strong: bool = False) -> str:
        """A list in the language's punctuation: `, ` and `; ` in English, 、 and ； in Chinese (`strong`: the
        separator between items that themselves may contain the weaker one)."""
        return self.gettext("list.separator_strong" if strong else "list.separator").join(str(i) for i in items)

    def number(self, value: int) -> str:
        return f"{value:,}"


@cache
def catalog(language: str) -> Catalog:
    """The catalog of a supported language, read once."""
    if language not in LANGUAGES:
        raise MissingMessageError(f"unsupported language {language!r}")
    messages = json.loads((_LOCALES / f"{language}.json").read_text(encoding="utf-8"))
    return Catalog(language, messages)
