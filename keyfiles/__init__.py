"""Key files: the one store for the keys and secrets a party keeps on disk.

A `KeyDirectory` holds files of mode 0600 in a 0700 directory, written atomically and durably; its secrets are
created once and never rotate. A `RingFile` keeps a signing key ring in one of them (rotation appends, old keys
keep verifying, other processes' rotations are picked up). A `SealedBox` seals data at rest under a directory
secret with AES-256-GCM. It needs only `cryptography`: no web framework, no database, so a wallet or a verifier
can keep its keys the way the gateway does.
"""

from keyfiles.directory import SECRET_BYTES, KeyDirectory, decode_secret
from keyfiles.errors import KeyFileError
from keyfiles.ring import Ring, RingCodec, RingFile
from keyfiles.sealing import NONCE_BYTES, SealedBox, SealedDataError

__all__ = [
    "NONCE_BYTES",
    "SECRET_BYTES",
    "KeyDirectory",
    "KeyFileError",
    "Ring",
    "RingCodec",
    "RingFile",
    "SealedBox",
    "SealedDataError",
    "decode_secret",
]
