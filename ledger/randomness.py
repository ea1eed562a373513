"""Random bytes from the operating system's CSPRNG, drawn in blocks rather than per call.

Every proxied read needs fresh randomness twice (the ledger entry's payload salt and the request id), and each
`os.urandom` call releases the interpreter lock around its system call. With the ledger's writer thread waiting
for that lock, every release hands it over and back, a context switch pair per call (the "GIL convoy"). One
`os.urandom(BLOCK_SIZE)` call serves hundreds of draws instead. The bytes are the same kernel CSPRNG output,
each handed out once; the buffer is dropped in a forked child, so two processes never share a draw.
"""

from __future__ import annotations

import os
import threading

__all__ = ["BLOCK_SIZE", "random_bytes", "random_uuid4"]

BLOCK_SIZE = 16 * 1024


class _Pool:
    """Bytes of one `os.urandom` block, consumed front to back under a lock (appenders run on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0

    def take(self, size: int) -> bytes:
        if size < 0:
            raise ValueError(f"cannot draw {size} random bytes")
        if size > BLOCK_SIZE // 4:  # a large draw gains nothing from the pool and would drain it
            return os.urandom(size)
        with self._lock:
            start = self._offset
            if start + size > len(self._block):
                self._block = os.urandom(BLOCK_SIZE)
                start = 0
            self._offset = start + size
            return self._block[start : start + size]

    def forget(self) -> None:
        """In a forked child: the parent may hand out the rest of the block, so the child must not."""
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.forget)


def random_bytes(size: int) -> bytes:
    """`size` bytes from the OS CSPRNG (as `os.urandom` / `secrets.token_bytes`), never handed out twice."""
    return _POOL.take(size)


def random_uuid4() -> str:
    """A random (version 4) UUID in its canonical text, as `str(uuid.uuid4())`, from the pooled bytes; a third of
    the cost, since `uuid.UUID`'s checks and conversions were most of it (every request without an id gets one)."""
    raw = bytearray(_POOL.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
