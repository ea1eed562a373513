"""Timestamps as the customer's documents show them: RFC 3339 in UTC with the `Z` designator.

Stored times come back aware (PostgreSQL) or naive (SQLite, which keeps what was written: UTC), so a naive value
is read as UTC rather than as the server's local time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["rfc3339"]


@overload
def rfc3339(value: datetime) -> str: ...
@overload
def rfc3339(value: None) -> None: ...
@overload
def rfc3339(value: datetime | None) -> str | None: ...


def rfc3339(value: datetime | None) -> str | None:
    """None stays None (a time not set), so optional fields need no check of their own."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
