"""The demo vehicle cloud as a signing source (issue 15): it commits to a customer's attribute values, signs
statements, anchors them at the gateway and delivers them, openings included, to the customer's wallet after
DID Authentication. The gateway only ever sees the signed statement.

Windows are whole UTC days ([00:00, next 00:00), sequence number = the day's number), so successive statements
of a series never overlap and a statement is superseded exactly when its day ends. The subject salt is random
per subject and stays here; the wallet receives it with each statement and discloses it to the recipient it
answers.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from credentials import CredentialError, verify_did_auth
from keyfiles import KeyDirectory
from ledger import generate_signer_key
from zkp import AttributeSchema, HeldStatement, issue_statement, new_subject_salt
from zkp.encoding import b64url_encode

SOURCE_NAME = "vehicle-cloud.consentry.demo"
SESSION_COOKIE = "vehicle_cloud_session"
PROBLEM_JSON = "application/problem+json"
FAULT_CODE_SLOTS = 4
ATTRIBUTES: tuple[AttributeSchema, ...] = (
    AttributeSchema.integer("age", 8),
    AttributeSchema.integer("annual_income_cents", 48),
    AttributeSchema.categorical("city"),
    AttributeSchema.categorical_set("fault_code", FAULT_CODE_SLOTS),
)
_EPOCH = date(1970, 1, 1)


def load_or_create_source_key(path: Path) -> tuple[str, str]:
    """The source's (signer, verifier) key pair from `path` (0600), made on first use."""
    keys = KeyDirectory(path.parent)
    if keys.read(path.name) is None:
        signer, verifier = generate_signer_key(SOURCE_NAME)
        keys.create(path.name, json.dumps({"signer": signer, "verifier": verifier}).encode())
    data = keys.read(path.name)
    assert data is not None
    document = json.loads(data)
    return str(document["signer"]), str(document["verifier"])


def _problem(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": f"https://consentry.dev/problems/{kind}", "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def _value(schema: AttributeSchema, record: Mapping[str, Any], today: date) -> int | str | list[str] | None:
    """The attribute's value from the customer's record, or None when the record has none."""
    if schema.name == "age":
        born = date.fromisoformat(str(record["birth_date"]))
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if schema.name == "annual_income_cents":
        return round(float(record["annual_income"]["amount"]) * 100)
    if schema.name == "city":
        return str(record["location"]["city"])
    codes = [str(code) for code in record.get("vehicle", {}).get("fault_codes", [])]
    return codes[:FAULT_CODE_SLOTS]


@dataclass
class StatementSource:
    """The vehicle cloud's signing side; `gateway_url` is where statements are anchored (None: not anchored).

    `gateway_ca` is the PEM certificate (or CA) an https gateway is trusted by, instead of the system's: the
    demo's self-signed one. Verification stays on; the file is read at each anchoring, since the demo's gateway
    writes it after the vehicle cloud starts."""

    signer_key: str
    verifier_key: str
    gateway_url: str | None = None
    gateway_ca: Path | None = None
    wallets: dict[str, str] = field(default_factory=dict)  # wallet DID -> customer id
    _salts: dict[str, bytes] = field(default_factory=dict)
    _issued: dict[tuple[str, str, int], HeldStatement] = field(default_factory=dict)
    _challenges: set[str] = field(default_factory=set)
    _sessions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def generate(cls, gateway_url: str | None = None) -> StatementSource:
        signer, verifier = generate_signer_key(SOURCE_NAME)
        return cls(signer, verifier, gateway_url)

    def issue(self, subject: str, record: Mapping[str, Any], now: datetime) -> list[HeldStatement]:
        """Today's statements about the subject (the same ones on every call during the day)."""
        today = now.astimezone(UTC).date()
        start = datetime(today.year, today.month, today.day, tzinfo=UTC)
        day = (today - _EPOCH).days
        held: list[HeldStatement] = []
        for schema in ATTRIBUTES:
            key = (subject, schema.name, day)
            with self._lock:
                existing = self._issued.get(key)
                salt = self._salts.setdefault(subject, new_subject_salt())
            if existing is not None:
                held.append(existing)
                continue
            value = _value(schema, record, today)
            if value is None:
                continue
            statement = issue_statement(
                self.signer_key,
                attribute=schema,
                schema_version=1,
                subject=subject,
                subject_salt=salt,
                value=value,
                seq=day,
                issued_at=start,
                valid_until=start + timedelta(days=1),
            )
            with self._lock:
                held.append(self._issued.setdefault(key, statement))
        return held

    async def anchor(self, statements: list[HeldStatement]) -> None:
        """Anchor each statement at the gateway (idempotent there); raises `httpx.HTTPError` when it refuses."""
        if self.gateway_url is None:
            return
        trust = ssl.create_default_context(cafile=self.gateway_ca) if self.gateway_ca is not None else True
        async with httpx.AsyncClient(base_url=self.gateway_url, timeout=30, verify=trust) as http:
            for held in statements:
                body = {
                    "statement": held.signed.to_json(),
                    "subject": held.subject,
                    "subject_salt": b64url_encode(held.subject_salt),
                }
                (await http.post("/v1/zk/statements", json=body)).raise_for_status()

    def routes(self, customers: Mapping[str, Mapping[str, Any]]) -> list[Route]:
        async def source_key(request: Request) -> Response:
            return JSONResponse({"source": SOURCE_NAME, "verifier_key": self.verifier_key})

        async def bind_wallet(request: Request) -> Response:
            customer_id = request.path_params["customer_id"]
            if customer_id not in customers:
                return _problem(404, "not-found", f"no customer {customer_id!r}")
            body = await request.json()
            did = body.get("did") if isinstance(body, dict) else None
            if not isinstance(did, str) or not did.startswith("did:key:"):
                return _problem(422, "validation", "did is the customer's wallet did:key")
            with self._lock:
                self.wallets[did] = customer_id
            return Response(status_code=204)

        async def challenge(request: Request) -> Response:
            issued = secrets.token_urlsafe(32)
            with self._lock:
                self._challenges.add(issued)
            expires = datetime.now(UTC) + timedelta(minutes=5)
            domain = request.headers.get("host", "")
            return JSONResponse(
                {"challenge": issued, "domain": domain, "expires_at": expires.isoformat()}, status_code=201
            )

        async def sign_in(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return _problem(400, "bad-request", "the body is not JSON")
            presentation = body.get("presentation") if isinstance(body, dict) else None
            proof = presentation.get("proof") if isinstance(presentation, dict) else None
            offered = proof.get("challenge") if isinstance(proof, dict) else None
            with self._lock:
                live = offered in self._challenges
                self._challenges.discard(offered)
            if not live or not isinstance(offered, str) or not isinstance(presentation, dict):
                return _problem(401, "challenge", "not a live challenge of ours")
            try:
                did = verify_did_auth(presentation, challenge=offered, domain=request.headers.get("host", ""))
            except CredentialError as exc:
                return _problem(401, "did-auth", str(exc))
            if did not in self.wallets:
                return _problem(401, "unknown-did", "no customer of ours has bound this DID")
            token = secrets.token_urlsafe(24)
            with self._lock:
                self._sessions[token] = did
            response = JSONResponse({"did": did})
            response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")
            return response

        async def statements(request: Request) -> Response:
            with self._lock:
                did = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
            if did is None:
                return _problem(401, "unauthorized", "sign in with your wallet first")
            subject = self.wallets[did]
            record = customers.get(subject)
            if record is None:
                return _problem(404, "not-found", "your record was erased")
            held = self.issue(subject, record, datetime.now(UTC))
            try:
                await self.anchor(held)
            except httpx.HTTPError as exc:
                return _problem(502, "anchoring-failed", f"the gateway did not anchor the statements: {exc}")
            return JSONResponse({"statements": [h.to_json() for h in held]})

        return [
            Route("/v1/zk/source-key", source_key, methods=["GET"]),
            Route("/customers/{customer_id}/wallet", bind_wallet, methods=["PUT"]),
            Route("/v1/session/did/challenge", challenge, methods=["POST"]),
            Route("/v1/session/did", sign_in, methods=["POST"]),
            Route("/v1/wallet/statements", statements, methods=["GET"]),
        ]
