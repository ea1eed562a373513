"""Anchoring: commit to an attribute value, put the commitment in the ledger, keep the opening sealed.

The ledger entry (`zk.commitment`) and the sealed opening's row commit in one transaction (the
ledger's `effects` hook), so there is never a commitment without its opening or the reverse. An
unchanged value keeps its anchor; a changed one gets the next epoch, a new commitment and a new entry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import zk_anchors
from gateway.zk.attributes import ZkAttribute
from gateway.zk.response import COMMITMENT_EVENT, subject_binding
from gateway.zk.sealing import OpeningSealer, row_binding
from ledger import Event
from ledger.store import Ledger
from zkp import Commitment, Opening, commit

SUBJECT_SALT_SIZE = 16
_RETRIES = 5


class AnchorConflictError(RuntimeError):
    """Concurrent writers kept taking the next epoch first; nothing was anchored."""


@dataclass(frozen=True)
class Anchor:
    """A commitment anchored in the ledger; `subject` is the subject's pseudonym."""

    subject: str
    attribute: str
    epoch: int
    schema_version: int
    ledger_index: int
    commitment: Commitment
    as_of: date
    source: str
    subject_salt: bytes
    sealed_opening: bytes

    def __repr__(self) -> str:
        return f"Anchor({self.attribute!r}, epoch={self.epoch}, ledger_index={self.ledger_index})"


@dataclass(frozen=True)
class AnchorResult:
    anchor: Anchor
    created: bool


def commitment_payload(
    attribute: ZkAttribute, commitment: Commitment, epoch: int, as_of: date, source: str, binding: str
) -> dict[str, object]:
    """The ledger payload of a commitment: what a verifier checks a proven statement against."""
    return {
        "attribute": attribute.id,
        "schema_version": attribute.version,
        "schema": attribute.schema.to_json(),
        "commitment": commitment.to_json(),
        "epoch": epoch,
        "as_of": as_of.isoformat(),
        "source": source,
        "subject_binding": binding,
    }


class AnchorStore:
    """The `gw_zk_anchors` table: latest anchor per subject and attribute, and inserts inside appends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest(self, subject: str, attribute: str) -> Anchor | None:
        t = zk_anchors
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(t)
                    .where(t.c.subject == subject, t.c.attribute == attribute)
                    .order_by(t.c.epoch.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Anchor(
            subject=row["subject"],
            attribute=row["attribute"],
            epoch=int(row["epoch"]),
            schema_version=int(row["schema_version"]),
            ledger_index=int(row["ledger_index"]),
            commitment=Commitment.from_json(row["commitment"]),
            as_of=date.fromisoformat(row["as_of"]),
            source=row["source"],
            subject_salt=bytes(row["subject_salt"]),
            sealed_opening=bytes(row["sealed_opening"]),
        )

    def forget(self, subject: str) -> int:
        """Delete a subject's anchors and sealed openings (erasure, GDPR Art. 17); returns how many.

        The ledger keeps the commitments (hiding, and their payloads go with the ledger's own erasure);
        without the openings nothing more can ever be proved about the subject."""
        with self.engine.connect().execution_options(ledger_write=True) as conn, conn.begin():
            return int(conn.execute(delete(zk_anchors).where(zk_anchors.c.subject == subject)).rowcount)

    @staticmethod
    def insert(conn: Connection, anchor: Anchor) -> None:
        conn.execute(
            insert(zk_anchors).values(
                subject=anchor.subject,
                attribute=anchor.attribute,
                epoch=anchor.epoch,
                schema_version=anchor.schema_version,
                ledger_index=anchor.ledger_index,
                commitment=anchor.commitment.to_json(),
                as_of=anchor.as_of.isoformat(),
                source=anchor.source,
                subject_salt=anchor.subject_salt,
                sealed_opening=anchor.sealed_opening,
                created_at=datetime.now(UTC),
            )
        )


class Anchorer:
    """Commits values and anchors them; the only code that ever sees an opening in the clear."""

    def __init__(self, ledger: Ledger, store: AnchorStore, sealer: OpeningSealer) -> None:
        self.ledger = ledger
        self.store = store
        self.sealer = sealer

    def opening(self, anchor: Anchor) -> Opening:
        """Unseal an anchor's opening (for proving only: never return or log it)."""
        binding = row_binding(anchor.subject, anchor.attribute, anchor.epoch, anchor.commitment.to_json())
        return self.sealer.open(anchor.sealed_opening, binding)

    def is_current(self, anchor: Anchor, attribute: ZkAttribute, value: int | str, as_of: date) -> bool:
        """Does the anchor still stand for `value` (and, for time-dependent attributes, this as-of day)?"""
        if anchor.schema_version != attribute.version:
            return False
        if attribute.time_dependent and anchor.as_of != as_of:
            return False
        return self.opening(anchor).value == value

    def anchor(
        self,
        subject: str,
        subject_id: str,
        attribute: ZkAttribute,
        value: int | str,
        *,
        actor: str,
        source: str,
        as_of: date,
    ) -> AnchorResult:
        """Anchor `value` for the subject (pseudonym `subject`, raw id `subject_id`) unless already anchored.

        Blocking (it waits for the ledger append): call it from a worker thread in async code."""
        attribute.schema.scalar(value)
        for _ in range(_RETRIES):
            latest = self.store.latest(subject, attribute.id)
            if latest is not None and self.is_current(latest, attribute, value, as_of):
                return AnchorResult(latest, created=False)
            epoch = 1 if latest is None else latest.epoch + 1
            try:
                anchored = self._append(subject, subject_id, attribute, value, epoch, actor, source, as_of)
            except IntegrityError:
                continue  # another writer took this epoch first: look again
            return AnchorResult(anchored, created=True)
        raise AnchorConflictError(f"could not anchor {attribute.id!r}: the epoch kept changing under us")

    def _append(
        self,
        subject: str,
        subject_id: str,
        attribute: ZkAttribute,
        value: int | str,
        epoch: int,
        actor: str,
        source: str,
        as_of: date,
    ) -> Anchor:
        """One attempt: the ledger entry and the sealed opening's row commit together or not at all."""
        commitment, opening = commit(attribute.schema, value)
        salt = secrets.token_bytes(SUBJECT_SALT_SIZE)
        sealed = self.sealer.seal(opening, row_binding(subject, attribute.id, epoch, commitment.to_json()))
        payload = commitment_payload(attribute, commitment, epoch, as_of, source, subject_binding(salt, subject_id))
        stored: list[Anchor] = []

        def keep_opening(conn: Connection, index: int) -> None:
            row = Anchor(
                subject, attribute.id, epoch, attribute.version, index, commitment, as_of, source, salt, sealed
            )
            AnchorStore.insert(conn, row)
            stored.append(row)

        self.ledger.append(
            Event(type=COMMITMENT_EVENT, actor=actor, subject=subject, payload=payload), effects=keep_opening
        )
        return stored[0]
