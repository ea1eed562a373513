"""Publishing a status list: the current bits from storage, signed as a BitstringStatusListCredential."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from credentials.bitstring_status_list import status_list_credential
from credentials.data_integrity import RDFC, add_proof
from credentials.datetimes import format_datetime, now_utc
from credentials.receipts import IssuerKey
from credentials.status_store import StatusListRepository


def publish_status_list(
    repository: StatusListRepository,
    url: str,
    *,
    issuer_key: IssuerKey,
    cryptosuite: str = RDFC,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """The signed status list credential served at `url`, reflecting every flip committed so far.

    Verifiers may cache it; validFrom is the moment of signing so they can tell fresher from older.
    """
    status_list = repository.get_list(url, conn=conn)
    moment = format_datetime(now_utc())
    unsigned = status_list_credential(
        url,
        issuer=issuer_key.did,
        encoded_list=repository.encoded_list(url, conn=conn),
        valid_from=moment,
        purpose=status_list.purpose,
    )
    return add_proof(
        unsigned,
        private_key_multibase=issuer_key.private_key_multibase,
        verification_method=issuer_key.verification_method,
        cryptosuite=cryptosuite,
        created=moment,
    )
