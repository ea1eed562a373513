"""The portal's languages: catalogs complete in both, Accept-Language negotiation, local date formats."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.portal.i18n import LANGUAGES, MissingMessageError, catalog, negotiate_language
from policies import CellState, Reason

LOCALES = Path(__file__).resolve().parents[2] / "gateway" / "portal" / "locales"
TEMPLATES = LOCALES.with_name("templates")


def test_every_language_has_exactly_the_same_message_keys_and_placeholders() -> None:
    english = json.loads((LOCALES / "en.json").read_text(encoding="utf-8"))
    chinese = json.loads((LOCALES / "zh-CN.json").read_text(encoding="utf-8"))
    assert set(english) == set(chinese)
    for key, message in english.items():
        assert set(re.findall(r"\{(\w+)\}", message)) == set(re.findall(r"\{(\w+)\}", chinese[key])), key
        assert chinese[key].strip(), key


def test_every_message_a_template_asks_for_exists() -> None:
    keys = set(json.loads((LOCALES / "en.json").read_text(encoding="utf-8")))
    for template in TEMPLATES.glob("*.html"):
        for key in re.findall(r"""_\(\s*["']([\w.\-]+)["']\s*[,)]""", template.read_text(encoding="utf-8")):
            assert key in keys, f"{template.name} asks for {key!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_state_and_reason_the_engine_can_produce_has_text(language: str) -> None:
    """Enumerated from the engine's own enums, not a copy: a new state or reason without text fails here (issue 14:
    `separate_consent_required` had none, and the consents page answered 500)."""
    messages = catalog(language).messages
    missing = [
        key
        for key in [f"state.{s.value}" for s in CellState]
        + [f"state.{s.value}.help" for s in CellState]
        + [f"reason.{r.value}" for r in Reason]
        if not messages.get(key, "").strip()
    ]
    assert not missing, f"{language} lacks {missing}"


def test_the_chinese_catalog_is_actually_chinese() -> None:
    chinese = catalog("zh-CN").messages
    han = [key for key, message in chinese.items() if re.search(r"[\u4e00-\u9fff]", message)]
    # Punctuation (list separators, sentence frames of placeholders) has no words to translate, but it must be
    # Chinese punctuation, not the English.
    frames = {
        key: message
        for key, message in chinese.items()
        if not re.search(r"[A-Za-z\u4e00-\u9fff]", re.sub(r"\{\w+\}", "", message))
    }
    assert all(re.search(r"[\u3000-\u303f\uff00-\uffef\u2014]", message) for message in frames.values()), frames
    # Only brand names and language names may stay in Latin script.
    assert len(han) + len(frames) >= len(chinese) - 2


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "de-DE,zh-TW;q=0.5", "zh-CN"),  # any Chinese beats the English default when nothing else fits
        (None, "fr-FR, en;q=0.3, zh;q=0.7", "zh-CN"),  # highest q wins, not the first listed
        (None, "zh;q=0, en", "en"),  # q=0 means "not acceptable" (RFC 9110 §12.4.2)
        (None, "", "en"),
        (None, None, "en"),
        (None, "*", "en"),
        ("zh-CN", "en-US", "zh-CN"),  # the customer's explicit choice wins over the browser
        ("xx", "zh-CN", "zh-CN"),  # a forged cookie is ignored
    ],
)
def test_language_negotiation(cookie: str | None, header: str | None, expected: str) -> None:
    assert negotiate_language(cookie, header) == expected


@given(st.text(max_size=200))
def test_any_accept_language_header_yields_a_supported_language(header: str) -> None:
    assert negotiate_language(None, header) in LANGUAGES


def test_dates_are_written_the_local_way_in_utc() -> None:
    moment = datetime(2026, 3, 7, 9, 5, tzinfo=UTC)
    assert catalog("en").datetime(moment) == "7 Mar 2026, 09:05 UTC"
    assert catalog("zh-CN").datetime(moment) == "2026年3月7日 09:05 UTC"
    assert catalog("zh-CN").datetime("2026-03-07T17:05:00+08:00") == "2026年3月7日 09:05 UTC"


def test_an_unknown_message_key_is_an_error_not_a_blank() -> None:
    with pytest.raises(MissingMessageError, match="no message 'nope'"):
        catalog("en").gettext("nope")
