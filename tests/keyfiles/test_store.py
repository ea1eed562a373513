"""The key-file store's promises: owner-only files in an owner-only directory, whole files or none, readable files
refused, secrets created once and never rotated, rings that only grow, and sealed data bound to its place."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from keyfiles import KeyDirectory, KeyFileError, Ring, RingFile, SealedBox, SealedDataError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class NumberRing:
    """A test ring format: `{"keys": [...], "current": i}` of integers."""

    def decode(self, data: bytes) -> Ring[int]:
        document = json.loads(data)
        return Ring(tuple(int(k) for k in document["keys"]), int(document["current"]))

    def encode(self, ring: Ring[int]) -> bytes:
        return json.dumps({"keys": list(ring.keys), "current": ring.current_index}).encode()


def test_files_are_0600_in_a_0700_directory_and_creation_never_overwrites(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path / "data" / "keys")
    assert keys.create("a.json", b"first")
    assert not keys.create("a.json", b"second")
    assert keys.read("a.json") == b"first"
    assert mode(tmp_path / "data" / "keys") == 0o700
    assert mode(keys.file("a.json")) == 0o600
    keys.replace("a.json", b"third")
    assert keys.read("a.json") == b"third" and mode(keys.file("a.json")) == 0o600
    assert keys.read("missing.json") is None
    assert [p.name for p in keys.path.iterdir()] == ["a.json"]


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path)
    keys.create("a.secret", b"x")
    os.chmod(keys.file("a.secret"), 0o640)
    with pytest.raises(KeyFileError, match="must be 0600: chmod 600"):
        keys.read("a.secret")


def test_a_write_interrupted_before_its_rename_leaves_the_key_intact(tmp_path: Path) -> None:
    """A crash mid-write leaves only a temporary file, which nothing reads."""
    keys = KeyDirectory(tmp_path)
    keys.create("a.json", b"whole")
    (tmp_path / ".a.json.0123456789abcdef.tmp").write_bytes(b"ha")
    assert keys.read("a.json") == b"whole"
    assert keys.create("b.json", b"other")


def test_a_secret_is_created_once_and_an_override_replaces_it(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path)
    first = keys.secret("pseudonym")
    assert len(first) == 32 and keys.secret("pseudonym") == first == KeyDirectory(tmp_path).secret("pseudonym")
    assert b"=" not in keys.read("pseudonym.secret")  # type: ignore[operator]
    override = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY"
    assert keys.secret("other", override=override, variable="X") == b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
    assert not keys.file("other.secret").exists()
    with pytest.raises(KeyFileError, match="X must hold at least 32 bytes"):
        keys.secret("other", override="c2hvcnQ", variable="X")
    with pytest.raises(KeyFileError, match="X is not base64url"):
        keys.secret("other", override="not base64!", variable="X")


def test_a_damaged_secret_file_is_named(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path)
    keys.create("custody.secret", b"c2hvcnQ")
    with pytest.raises(KeyFileError, match=r"custody\.secret must hold at least 32 bytes"):
        keys.secret("custody")


def test_a_malformed_ring_file_is_named(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path)
    keys.create("ring.json", b"[1, 2]")
    with pytest.raises(KeyFileError, match=r"ring\.json: not a key ring file"):
        RingFile(keys, "ring.json", NumberRing()).load()


def test_a_replacement_within_one_clock_tick_is_still_seen(tmp_path: Path) -> None:
    """Coarse file-system clocks give two writes the same mtime; the new inode still marks the change."""
    keys = KeyDirectory(tmp_path)
    ring = RingFile(keys, "ring.json", NumberRing())
    ring.load_or_create(lambda: 1)
    before = keys.file("ring.json").stat()
    RingFile(keys, "ring.json", NumberRing()).rotate(lambda: 2)
    os.utime(keys.file("ring.json"), ns=(before.st_atime_ns, before.st_mtime_ns))
    loaded = ring.load()
    assert loaded is not None and loaded.keys == (1, 2)


class TwoProcessesRotating(RuleBasedStateMachine):
    """A server's handle and a CLI's handle on one ring file: keys are only ever appended, the newest is current,
    and each handle sees the other's rotation on its next load."""

    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        directory = KeyDirectory(Path(self._tmp.name))
        self.handles = [RingFile(directory, "ring.json", NumberRing()) for _ in range(2)]
        self.expected = [self.handles[0].load_or_create(lambda: 0).current]
        self.counter = 0

    @rule(who=st.integers(0, 1))
    def rotate(self, who: int) -> None:
        self.counter += 1
        fresh = self.handles[who].rotate(lambda: self.counter)
        self.expected.append(fresh)

    @rule(who=st.integers(0, 1))
    def load(self, who: int) -> None:
        ring = self.handles[who].load()
        assert ring is not None
        assert list(ring.keys) == self.expected
        assert ring.current == self.expected[-1]

    @invariant()
    def owner_only(self) -> None:
        assert mode(Path(self._tmp.name) / "ring.json") == 0o600

    def teardown(self) -> None:
        self._tmp.cleanup()


TestTwoProcessesRotating = TwoProcessesRotating.TestCase
# Every rotation fsyncs a file and its directory: fewer, shorter runs keep this test at a few seconds.
TestTwoProcessesRotating.settings = settings(max_examples=30, stateful_step_count=15)


def test_sealed_data_opens_only_with_its_key_and_in_its_place() -> None:
    secret = os.urandom(32)
    box = SealedBox.hkdf(secret, info=b"use one")
    sealed = box.seal(b"seed", b"did:key:z1")
    assert box.open(sealed, b"did:key:z1") == b"seed"
    assert sealed[:12] != box.seal(b"seed", b"did:key:z1")[:12]
    for other_box, place in [
        (box, b"did:key:z2"),
        (SealedBox.hkdf(secret, info=b"use two"), b"did:key:z1"),
        (SealedBox.labelled_sha256(secret, label=b"use one"), b"did:key:z1"),
    ]:
        with pytest.raises(SealedDataError):
            other_box.open(sealed, place)
    with pytest.raises(SealedDataError, match="truncated"):
        box.open(sealed[:12], b"did:key:z1")
    with pytest.raises(SealedDataError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"did:key:z1")
    with pytest.raises(ValueError, match="32 bytes"):
        SealedBox.hkdf(b"short", info=b"x")
    assert "key" in repr(box) and secret.hex() not in repr(box)
