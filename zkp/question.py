"""Questions: a template the enterprise declared, asked about one subject by one recipient, once.

A template fixes the attribute, the operator and the operands (`age >= 18`, `annual_income_cents within
[30000000, 100000000]`, `fault_code in {P0420, P0300}`): a recipient chooses a template, never a threshold,
so answers cannot be chained into a comparison oracle. A question adds who asks (audience), why (purpose),
about whom (the subject as the recipient names it), a nonce, and when it was asked and expires. The whole
question is absorbed into the proof's transcript, so a proof answers that question and no other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zkp.errors import EncodingError, SchemaError
from zkp.schema import AttributeSchema
from zkp.statement import Predicate
from zkp.times import format_utc, parse_utc, whole_seconds
from zkp.transcript import Transcript

MAX_FIELD_LENGTH = 256
MIN_NONCE_LENGTH = 16


def _text(value: object, what: str, minimum: int = 1) -> str:
    if not isinstance(value, str) or not minimum <= len(value) <= MAX_FIELD_LENGTH:
        raise EncodingError(f"{what} is a string of {minimum} to {MAX_FIELD_LENGTH} characters")
    return value


@dataclass(frozen=True)
class QuestionTemplate:
    """A question the matrix declares: its id, the attribute and the fixed predicate."""

    id: str
    attribute: str
    predicate: Predicate

    def __post_init__(self) -> None:
        _text(self.id, "the template id")
        _text(self.attribute, "the template's attribute")

    def check(self, schema: AttributeSchema) -> None:
        """Refuse a template that does not apply to the attribute `schema` describes."""
        if schema.name != self.attribute:
            raise SchemaError(f"template {self.id!r} asks about {self.attribute!r}, not {schema.name!r}")
        self.predicate.check(schema)

    def absorb(self, transcript: Transcript) -> None:
        transcript.append_message("template/id", self.id.encode())
        transcript.append_message("template/attribute", self.attribute.encode())
        transcript.append_message("template/op", self.predicate.op.value.encode())
        transcript.append_int("template/operand_count", len(self.predicate.operands))
        for operand in self.predicate.operands:
            if isinstance(operand, int):
                transcript.append_int("template/operand/int", operand)
            else:
                transcript.append_message("template/operand/str", operand.encode())

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "attribute": self.attribute, "predicate": self.predicate.to_json()}

    @classmethod
    def from_json(cls, data: object) -> QuestionTemplate:
        if not isinstance(data, Mapping) or set(data) != {"id", "attribute", "predicate"}:
            raise EncodingError("a question template is an object with exactly id, attribute and predicate")
        try:
            return cls(data["id"], data["attribute"], Predicate.from_json(data["predicate"]))
        except SchemaError as exc:
            raise EncodingError(f"question template is not well-formed: {exc}") from exc

    def describe(self) -> str:
        operands = ", ".join(map(str, self.predicate.operands))
        return f"{self.attribute} {self.predicate.op.value} {operands}"


@dataclass(frozen=True)
class Question:
    """One asking of a template: who asks, why, about whom, with which nonce, between which instants."""

    template: QuestionTemplate
    subject: str
    audience: str
    purpose: str
    nonce: str
    asked_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        _text(self.subject, "the subject")
        _text(self.audience, "the audience")
        _text(self.purpose, "the purpose")
        _text(self.nonce, "the nonce", MIN_NONCE_LENGTH)
        for name in ("asked_at", "expires_at"):
            moment = getattr(self, name)
            if not isinstance(moment, datetime) or whole_seconds(moment) != moment:
                raise EncodingError(f"{name} is a timezone-aware instant in whole seconds")
        if self.asked_at >= self.expires_at:
            raise EncodingError("a question expires after it is asked")

    def absorb(self, transcript: Transcript) -> None:
        self.template.absorb(transcript)
        transcript.append_message("question/subject", self.subject.encode())
        transcript.append_message("question/audience", self.audience.encode())
        transcript.append_message("question/purpose", self.purpose.encode())
        transcript.append_message("question/nonce", self.nonce.encode())
        transcript.append_message("question/asked_at", format_utc(self.asked_at).encode())
        transcript.append_message("question/expires_at", format_utc(self.expires_at).encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template.to_json(),
            "subject": self.subject,
            "audience": self.audience,
            "purpose": self.purpose,
            "nonce": self.nonce,
            "asked_at": format_utc(self.asked_at),
            "expires_at": format_utc(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: object) -> Question:
        keys = {"template", "subject", "audience", "purpose", "nonce", "asked_at", "expires_at"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise EncodingError(f"a question is an object with exactly {', '.join(sorted(keys))}")
        return cls(
            template=QuestionTemplate.from_json(data["template"]),
            subject=data["subject"],
            audience=data["audience"],
            purpose=data["purpose"],
            nonce=data["nonce"],
            asked_at=parse_utc(data["asked_at"], "asked_at"),
            expires_at=parse_utc(data["expires_at"], "expires_at"),
        )
