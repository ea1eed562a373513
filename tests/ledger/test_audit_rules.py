"""The audit rules without storage: an auditor holding only an export (entries, signed checkpoints, the
verifier key) recomputes every tree head from the entries and checks it against the signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import (
    Checkpoint,
    LedgerError,
    TamperError,
    TreeReplay,
    check_entry,
    check_tree_head,
    root_hash,
    verify_checkpoint,
)
from tests.ledger.cli_support import events_jsonl, run


@pytest.fixture
def export(tmp_path: Path) -> dict[str, Any]:
    """A ledger of 10 entries with checkpoints at sizes 3, 7 and 10, exported as one JSON document."""
    data_dir = tmp_path / "data"
    assert run(data_dir, "init").exit_code == 0
    for count, start in ((3, 0), (4, 3), (3, 7)):
        assert run(data_dir, "append", stdin=events_jsonl(count, start=start)).exit_code == 0
        assert run(data_dir, "checkpoint").exit_code == 0
    result = run(data_dir, "export", "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def replay_export(document: dict[str, Any]) -> list[Checkpoint]:
    """What an offline auditor does: verify every signature, replay the entries once, compare each tree head."""
    checkpoints = [verify_checkpoint(note, document["verifier_keys"]) for note in document["checkpoints"]]
    replay = TreeReplay(keep=[c.size for c in checkpoints])
    for index, entry in enumerate(document["entries"]):
        data = entry.encode("utf-8")
        check_entry(index, data)
        replay.append(data)
    for seq, checkpoint in enumerate(checkpoints):
        check_tree_head(f"checkpoint {seq}", checkpoint, replay)
    return checkpoints


def test_an_export_verifies_against_its_signed_checkpoints(export: dict[str, Any]) -> None:
    assert [c.size for c in replay_export(export)] == [3, 7, 10]


def test_an_altered_entry_fails_the_first_checkpoint_that_covers_it(export: dict[str, Any]) -> None:
    export["entries"][5] = export["entries"][5].replace('"actor":"system"', '"actor":"someone"')
    with pytest.raises(TamperError, match=r"checkpoint 1: signed root differs from the recomputed root at size 7"):
        replay_export(export)


def test_a_dropped_entry_leaves_the_last_checkpoint_beyond_the_log(export: dict[str, Any]) -> None:
    del export["entries"][-1]
    with pytest.raises(TamperError, match=r"checkpoint 2: signed size 10 is beyond the log's size 9"):
        replay_export(export)


def test_an_entry_that_is_not_a_canonical_envelope_is_named(export: dict[str, Any]) -> None:
    export["entries"][2] = export["entries"][2].replace(",", ", ", 1)
    with pytest.raises(TamperError, match=r"^entry 2: "):
        replay_export(export)


@given(st.lists(st.binary(max_size=8), max_size=70), st.data())
def test_the_replay_keeps_the_rfc9162_root_of_every_size_asked_for(leaves: list[bytes], data: st.DataObject) -> None:
    keep = data.draw(st.sets(st.integers(min_value=0, max_value=len(leaves))))
    replay = TreeReplay(keep=keep)
    for leaf in leaves:
        replay.append(leaf)
    assert replay.size == len(leaves)
    assert replay.root() == root_hash(leaves)
    for size in keep:
        assert replay.root(size) == root_hash(leaves[:size])


def test_a_root_the_replay_was_not_asked_to_keep_is_refused() -> None:
    replay = TreeReplay(keep=[1])
    for leaf in (b"a", b"b", b"c"):
        replay.append(leaf)
    assert replay.root(1) == root_hash([b"a"])
    with pytest.raises(LedgerError, match="did not keep the root at size 2"):
        replay.root(2)
