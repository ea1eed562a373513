"""A request without a sane id of its own gets a fresh one: a random UUID in canonical text, never repeated."""

from __future__ import annotations

import uuid

from gateway.web.observability import fresh_request_id


def test_a_fresh_request_id_is_a_canonical_random_uuid() -> None:
    ids = [fresh_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, dashes where RFC 9562 puts them
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
