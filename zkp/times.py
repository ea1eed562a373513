"""Instants in signed and proven data: RFC 3339 in UTC with a `Z` and whole seconds, one spelling each.

A signature or a transcript covers bytes, so one instant must have exactly one spelling; anything else
(offsets, fractions, a missing zone) is refused rather than normalised.
"""

from __future__ import annotations

from datetime import UTC, datetime

from zkp.errors import EncodingError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_utc(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EncodingError("instants must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_utc(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise EncodingError(f"{what} is an RFC 3339 UTC timestamp string")
    try:
        moment = datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise EncodingError(f"{what} {text[:40]!r} is not YYYY-MM-DDTHH:MM:SSZ") from exc
    if format_utc(moment) != text:
        raise EncodingError(f"{what} {text[:40]!r} is not in canonical form")
    return moment


def whole_seconds(moment: datetime) -> datetime:
    """The instant in UTC without its fraction of a second (what `format_utc` keeps)."""
    return parse_utc(format_utc(moment), "instant")
