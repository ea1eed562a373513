"""A key ring in one file: every key ever used under a name, one of them current.

Rotation appends a fresh key and makes it current; no key is ever removed, so whatever an older key signed
(tokens, checkpoints, credentials) keeps verifying. Readers re-read the file when it changes, so a rotation by
another process (`consentry keys rotate`) reaches a running server without a restart. Rotate from one process
at a time: two rotations at the same instant would each keep only their own new key.

The file's format belongs to the ring's owner, through a `RingCodec`; this module only guarantees how it is
written (0600, atomically) and when it is re-read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from keyfiles.directory import KeyDirectory
from keyfiles.errors import KeyFileError

K = TypeVar("K")


@dataclass(frozen=True)
class Ring(Generic[K]):
    """The keys of a ring in the order they were added, and which one is current."""

    keys: tuple[K, ...]
    current_index: int

    def __post_init__(self) -> None:
        if not 0 <= self.current_index < len(self.keys):
            raise KeyFileError(f"a ring of {len(self.keys)} keys has no key {self.current_index}")

    @property
    def current(self) -> K:
        return self.keys[self.current_index]


class RingCodec(Protocol[K]):
    """Reads and writes one ring format. `decode` may raise ValueError, KeyError or TypeError on a malformed
    document (reported as a KeyFileError naming the file) or an error of its own."""

    def decode(self, data: bytes) -> Ring[K]: ...

    def encode(self, ring: Ring[K]) -> bytes: ...


class RingFile(Generic[K]):
    """One ring file of a key directory, cached until the file changes."""

    def __init__(self, directory: KeyDirectory, name: str, codec: RingCodec[K]) -> None:
        self._directory = directory
        self._name = name
        self._codec = codec
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int] | None, Ring[K] | None] | None = None

    @property
    def path(self) -> Path:
        return self._directory.file(self._name)

    def load(self) -> Ring[K] | None:
        """The ring as it is on disk now (None if there is no file); decoded again only after a change."""
        cached = self._cached
        if cached is not None and cached[0] == self._directory.stamp(self._name):
            return cached[1]
        with self._lock:
            return self._reload()

    def load_or_create(self, generate: Callable[[], K]) -> Ring[K]:
        """The ring, created with one fresh current key if there is none (a concurrent creator's file wins)."""
        ring = self.load()
        if ring is not None:
            return ring
        with self._lock:
            self._directory.create(self._name, self._codec.encode(Ring((generate(),), 0)))
            ring = self._reload()
        if ring is None:
            raise KeyFileError(f"{self.path} vanished while being created")
        return ring

    def rotate(self, generate: Callable[[], K]) -> K:
        """Append a fresh key and make it current; earlier keys stay for verification."""
        with self._lock:
            ring = self._reload()
            earlier: Sequence[K] = ring.keys if ring is not None else ()
            fresh = generate()
            self._directory.replace(self._name, self._codec.encode(Ring((*earlier, fresh), len(earlier))))
            self._reload()
        return fresh

    def _reload(self) -> Ring[K] | None:
        stamp = self._directory.stamp(self._name)
        data = self._directory.read(self._name)
        ring = None
        if data is not None:
            try:
                ring = self._codec.decode(data)
            except (KeyError, TypeError, ValueError) as exc:
                raise KeyFileError(f"{self.path}: not a key ring file ({exc})") from exc
        self._cached = (stamp, ring)
        return ring
