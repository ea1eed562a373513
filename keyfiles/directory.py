"""A directory of key files: mode 0700, every file 0600, every write atomic and durable.

Files are written to a temporary name, flushed and fsync'd, then linked (created) or renamed (replaced) into place,
and the directory itself is fsync'd, so a reader never sees half a key and a write that returned survives a crash.
Two processes creating the same file race harmlessly: the first link wins and the loser uses the winner's file.
A file that group or others can read is refused, never silently used.

Secrets are 32 random bytes in base64url without padding, in `NAME.secret`, created on first use. They never
rotate: the pseudonym secret names every subject in the ledger, and the sealing secrets open rows already sealed.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from keyfiles.errors import KeyFileError

SECRET_BYTES = 32


def _b64u_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_secret(text: str, source: str) -> bytes:
    """A base64url secret of at least 32 bytes; `source` names the file or variable in the error."""
    try:
        value = _b64u_decode(text.strip())
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{source} is not base64url") from exc
    if len(value) < SECRET_BYTES:
        raise KeyFileError(f"{source} must hold at least {SECRET_BYTES} bytes")
    return value


class KeyDirectory:
    """The key files of one directory, created on first write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"KeyDirectory({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    def stamp(self, name: str) -> tuple[int, int] | None:
        """Changes whenever the file is replaced (a new inode, even within one tick of the clock) or written;
        None while it does not exist."""
        try:
            info = self.file(name).stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, None if it does not exist; refused if group or others may access it."""
        path = self.file(name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if mode & 0o077:
                raise KeyFileError(
                    f"{path} is accessible by group or others (mode {mode:04o}); it must be 0600: chmod 600 it"
                )
            return handle.read()

    def check_private(self) -> None:
        """Refuse a directory that group or others may enter: they could swap a key file for their own."""
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError as exc:
            raise KeyFileError(f"{self.path} does not exist") from exc
        if mode & 0o077:
            raise KeyFileError(f"{self.path} is accessible by group or others (mode {mode:04o}); chmod 700 it")

    def create(self, name: str, data: bytes) -> bool:
        """Write a new file; False (and nothing written) if it exists already, e.g. made by another process."""
        return self._write(name, data, replace=False)

    def replace(self, name: str, data: bytes) -> None:
        self._write(name, data, replace=True)

    def secret(self, name: str, *, override: str | None = None, variable: str | None = None) -> bytes:
        """The secret `NAME.secret`, created on first use; `override` (from the environment variable `variable`)
        takes its place and leaves the directory alone."""
        if override:
            return decode_secret(override, variable or "the secret's override")
        filename = f"{name}.secret"
        if self.read(filename) is None:
            self.create(filename, _b64u_encode(secrets.token_bytes(SECRET_BYTES)))
        data = self.read(filename)
        if data is None:
            raise KeyFileError(f"{self.file(filename)} vanished while being created")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise KeyFileError(f"{self.file(filename)} is not base64url") from exc
        return decode_secret(text, str(self.file(filename)))

    def _write(self, name: str, data: bytes, *, replace: bool) -> bool:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.file(name)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if replace:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return False
            self._sync_directory()
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
