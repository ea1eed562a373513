"""A gateway and a source system that speak the wallet protocol (docs/zk-wallet.md), over real HTTP.

Small enough to read in one sitting, and strict where the real ones must be: single-use challenges, DID
Authentication checked with `credentials.verify_did_auth` for this server's own domain, questions delivered
by long poll after a cursor, every answer verified with the public verifier (after attaching the ledger
evidence, as the gateway will) before it counts, grants verified with `credentials.verify_access_grant`.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from credentials import CredentialError, verify_access_grant, verify_did_auth
from tests.zkp.statement_world import World
from wallet.protocol import MAX_WAIT_SECONDS, PendingQuestion
from zkp import AnswerRejected, HeldStatement, ProvenAnswer, VerifiedAnswer, ZkpError, verify_full_answer

COOKIE = "consentry_session"
Route = Callable[["Request"], tuple[int, Any]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    did: str | None
    headers: dict[str, str]
    cookie: list[str] = field(default_factory=list)


def _problem(status: int, kind: str, detail: str) -> tuple[int, Any]:
    return status, {"type": f"https://consentry.dev/problems/{kind}", "status": status, "detail": detail}


class DidServer:
    """DID sign-in and a session cookie; subclasses add their routes."""

    def __init__(self, dids: set[str]) -> None:
        self.dids = dids
        self.challenges: set[str] = set()
        self.sessions: dict[str, str] = {}
        self.sign_ins = 0
        self.lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.domain = f"127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.lock.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def forget_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/v1/session/did/challenge"): self._challenge, ("POST", "/v1/session/did"): self._sign_in}

    def route(self, request: Request) -> tuple[int, Any]:
        handler = self.routes().get((request.method, request.path))
        if handler is None:
            return self.dynamic(request)
        if request.path.startswith("/v1/session"):
            return handler(request)
        if request.did is None:
            return _problem(401, "unauthorized", "Sign in first.")
        return handler(request)

    def dynamic(self, request: Request) -> tuple[int, Any]:
        return _problem(404, "not-found", request.path)

    def _challenge(self, request: Request) -> tuple[int, Any]:
        challenge = secrets.token_urlsafe(32)
        with self.lock:
            self.challenges.add(challenge)
        return 201, {"challenge": challenge, "domain": self.domain, "expires_at": "2099-01-01T00:00:00+00:00"}

    def _sign_in(self, request: Request) -> tuple[int, Any]:
        presentation = (request.body or {}).get("presentation", {})
        proof = presentation.get("proof", {}) if isinstance(presentation, dict) else {}
        challenge = proof.get("challenge") if isinstance(proof, dict) else None
        with self.lock:
            if challenge not in self.challenges:
                return _problem(401, "challenge", "Not a live challenge of ours.")
            self.challenges.discard(challenge)
        try:
            did = verify_did_auth(presentation, challenge=challenge, domain=self.domain)
        except CredentialError as exc:
            return _problem(401, "did-auth", str(exc))
        if did not in self.dids:
            return _problem(401, "unknown-did", "No customer has bound this DID.")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[token] = did
            self.sign_ins += 1
        return 200, {"did": did, "__cookie__": token}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                cookies = dict(
                    c.strip().split("=", 1) for c in (self.headers.get("Cookie") or "").split(";") if "=" in c
                )
                with server.lock:
                    did = server.sessions.get(cookies.get(COOKIE, ""))
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    json.loads(raw) if raw else None,
                    did,
                    {k.lower(): v for k, v in self.headers.items()},
                )
                status, document = server.route(request)
                token = document.pop("__cookie__", None) if isinstance(document, dict) else None
                data = json.dumps(document).encode()
                self.send_response(status)
                problem = isinstance(document, dict) and "type" in document and status >= 400
                self.send_header("Content-Type", "application/problem+json" if problem else "application/json")
                self.send_header("Content-Length", str(len(data)))
                if token is not None:
                    self.send_header("Set-Cookie", f"{COOKIE}={token}; HttpOnly; SameSite=lax; Path=/")
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        return Handler


class FakeGateway(DidServer):
    """Questions for one customer's wallet; answers are verified in full before they count."""

    def __init__(self, world: World, did: str) -> None:
        super().__init__({did})
        self.world = world
        self.questions: list[PendingQuestion] = []
        self.open: set[str] = set()
        self.verified: dict[str, VerifiedAnswer] = {}
        self.declined: dict[str, str] = {}
        self.grants: list[dict[str, Any]] = []

    def ask(self, pending: PendingQuestion) -> None:
        with self.lock:
            self.questions.append(pending)
            self.open.add(pending.id)
            self.lock.notify_all()

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            **super().routes(),
            ("GET", "/v1/me/wallet/questions"): self._poll,
            ("POST", "/v1/me/wallet/grants"): self._grant,
        }

    def dynamic(self, request: Request) -> tuple[int, Any]:
        pieces = request.path.split("/")
        if request.method != "POST" or len(pieces) != 7 or pieces[:5] != ["", "v1", "me", "wallet", "questions"]:
            return super().dynamic(request)
        if request.did is None:
            return _problem(401, "unauthorized", "Sign in first.")
        question_id, verb = pieces[5], pieces[6]
        with self.lock:
            pending = next((q for q in self.questions if q.id == question_id), None)
            if pending is None:
                return _problem(404, "not-found", "No such question.")
            if question_id not in self.open:
                return _problem(409, "question-closed", "This question was answered, declined or expired.")
        if verb == "decline":
            with self.lock:
                self.open.discard(question_id)
                self.declined[question_id] = request.body["reason"]
            return 200, {"status": "declined"}
        try:
            answer = ProvenAnswer.from_json(request.body["answer"])
        except ZkpError as exc:
            return _problem(422, "answer-rejected", str(exc))
        if answer.statement.statement.digest() not in self.world.anchors:
            return _problem(422, "answer-rejected", "The statement was never anchored here.")
        try:
            document = self.world.document(answer, at=datetime.now(UTC))
            verified = verify_full_answer(document, self.world.trust, question=pending.question, now=datetime.now(UTC))
        except (AnswerRejected, ZkpError) as exc:
            return _problem(422, "answer-rejected", str(exc))
        with self.lock:
            self.open.discard(question_id)
            self.verified[question_id] = verified
        return 200, {"status": "relayed", "holds": verified.holds}

    def _poll(self, request: Request) -> tuple[int, Any]:
        wait = min(int(request.query.get("wait", ["0"])[0]), MAX_WAIT_SECONDS)
        after = int(request.query.get("after", ["0"])[0])

        def fresh() -> list[tuple[int, PendingQuestion]]:
            return [(i + 1, q) for i, q in enumerate(self.questions) if i + 1 > after and q.id in self.open]

        with self.lock:
            self.lock.wait_for(lambda: bool(fresh()), timeout=wait)
            found = fresh()
        cursor = str(found[-1][0]) if found else (str(after) if after else None)
        return 200, {"questions": [q.to_json() for _, q in found], "cursor": cursor}

    def _grant(self, request: Request) -> tuple[int, Any]:
        if "idempotency-key" not in request.headers:
            return _problem(400, "idempotency-key-required", "Send an Idempotency-Key.")
        try:
            grant = verify_access_grant(request.body["grant"])
        except CredentialError as exc:
            return _problem(422, "grant-rejected", str(exc))
        if grant.grantor != request.did:
            return _problem(403, "grant-rejected", "A wallet grants only for its own DID.")
        self.grants.append(request.body["grant"])
        return 201, {"record_id": grant.id, "valid_until": request.body["grant"]["validUntil"]}


class FakeSource(DidServer):
    """A source system delivering the statements it signed, with openings, to the subject's DID."""

    def __init__(self, deliveries: dict[str, list[HeldStatement]]) -> None:
        super().__init__(set(deliveries))
        self.deliveries = deliveries

    def routes(self) -> dict[tuple[str, str], Route]:
        return {**super().routes(), ("GET", "/v1/wallet/statements"): self._statements}

    def _statements(self, request: Request) -> tuple[int, Any]:
        assert request.did is not None
        return 200, {"statements": [held.to_json() for held in self.deliveries[request.did]]}
