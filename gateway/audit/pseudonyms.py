"""The name a customer goes by in the ledger: a keyed HMAC of their id, so the ledger never holds the raw id.

Erasing a subject's payloads keeps every proof valid because leaves carry only this pseudonym; the key is the
gateway's `pseudonym` secret, so nobody without it can link a leaf to a customer.
"""

from __future__ import annotations

from ledger import pseudonym

__all__ = ["Pseudonyms"]


# Every proxied read names its subject by pseudonym: a warm customer's is looked up instead of re-keyed (an HMAC
# costs several microseconds). The map is bounded and simply starts over when full.
CACHED_PSEUDONYMS = 4096


class Pseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key
        self._known: dict[str, str] = {}

    def __call__(self, subject_id: str) -> str:
        known = self._known.get(subject_id)
        if known is None:
            known = pseudonym(self._key, subject_id)
            if len(self._known) >= CACHED_PSEUDONYMS:
                self._known = {}
            self._known[subject_id] = known
        return known
