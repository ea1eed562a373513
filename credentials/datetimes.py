"""XML Schema dateTime as VC 2.0 requires it: RFC 3339 with a mandatory time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DATETIME = re.compile(
    r"^-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def parse_datetime(value: object) -> datetime | None:
    """The instant a dateTimeStamp names, or None when it is not one (no zone, bad field, not a string)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    text = value.replace("Z", "+00:00")
    text = re.sub(r":60(?=[.+-])", ":59", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
