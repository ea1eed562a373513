"""The name a customer goes by in the ledger: a keyed HMAC of their id, so the ledger never holds the raw id.

Erasing a subject's payloads keeps every proof valid because leaves carry only this pseudonym; the key is the
gateway's `pseudonym` secret, so nobody without it can link a leaf to a customer.
"""

from __future__ import annotations

from ledger import pseudonym

__all__ = ["Pseudonyms"]


class Pseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, subject_id: str) -> str:
        return pseudonym(self._key, subject_id)
