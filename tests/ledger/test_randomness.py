"""The pooled CSPRNG draws: right sizes, never the same bytes twice, not even across a fork."""

from __future__ import annotations

import os
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import random_bytes, random_uuid4
from ledger.randomness import BLOCK_SIZE


@given(st.lists(st.integers(min_value=0, max_value=BLOCK_SIZE), min_size=1, max_size=40))
def test_draws_have_the_asked_size(sizes: list[int]) -> None:
    assert [len(random_bytes(size)) for size in sizes] == sizes


def test_draws_across_many_blocks_never_repeat() -> None:
    draws = [random_bytes(32) for _ in range(3 * BLOCK_SIZE // 32)]
    assert len(set(draws)) == len(draws)


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        random_bytes(-1)


def test_uuids_are_canonical_version_4_text_and_distinct() -> None:
    """Request ids are these: a random UUID in canonical text, never repeated."""
    ids = [random_uuid4() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, dashes where RFC 9562 puts them
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_never_draws_what_the_parent_draws_next() -> None:
    random_bytes(1)  # the parent holds a part-used block at the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(read_end)
        os.write(write_end, random_bytes(32))
        os._exit(0)
    os.close(write_end)
    parent = random_bytes(32)
    child = os.read(read_end, 32)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != parent
