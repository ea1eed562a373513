"""The wallet's side of the protocol over HTTP: DID sign-in, long-polling for questions, answers, declines,
grants, and statement deliveries from source systems.

The wallet signs a presentation only for the domain it is talking to: a server that forwarded another
server's challenge (to sign in there as the customer) gets a refusal, not a signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from wallet.identity import DidKey
from wallet.protocol import (
    BINDING_CHALLENGE_PATH,
    BINDINGS_PATH,
    CHALLENGE_PATH,
    CUSTODY_PATH,
    CUSTODY_STATEMENTS_PATH,
    GRANTS_PATH,
    MAX_WAIT_SECONDS,
    QUESTIONS_PATH,
    SESSION_PATH,
    STATEMENTS_PATH,
    DeclineReason,
    ProtocolError,
    QuestionBatch,
    answer_path,
    decline_path,
    statements_from_json,
)
from zkp import HeldStatement, ProvenAnswer, VerificationError, parse_source_keys

USER_AGENT = "consentry-wallet/1"


class WalletProtocolError(Exception):
    """The server refused (its problem document's type and detail are kept) or left the protocol."""

    def __init__(self, message: str, *, status: int | None = None, problem_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem_type = problem_type


def _body(response: httpx.Response, expected: Sequence[int], what: str) -> Any:
    if response.status_code not in expected:
        problem_type = detail = None
        try:
            document = response.json()
        except ValueError:
            document = None
        if isinstance(document, Mapping):
            problem_type, detail = document.get("type"), document.get("detail")
        raise WalletProtocolError(
            f"{what}: HTTP {response.status_code}{f': {detail}' if detail else ''}",
            status=response.status_code,
            problem_type=problem_type if isinstance(problem_type, str) else None,
        )
    try:
        return response.json()
    except ValueError as exc:
        raise WalletProtocolError(f"{what}: the response is not JSON") from exc


class DidSession:
    """An HTTP session with one server, signed in with the wallet's DID (again whenever it answers 401)."""

    def __init__(
        self, base_url: str, key: DidKey, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self.domain = parts.netloc
        self.key = key
        self._signed_in = False
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def __enter__(self) -> DidSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _presentation(self, challenge_path: str) -> dict[str, Any]:
        """DID Authentication over a fresh challenge from `challenge_path`, for this server's domain only."""
        issued = _body(self._http.post(challenge_path), (200, 201), "DID challenge")
        if not isinstance(issued, Mapping) or not all(isinstance(issued.get(k), str) for k in ("challenge", "domain")):
            raise WalletProtocolError("DID challenge: the server sent no challenge and domain")
        if issued["domain"] != self.domain:
            raise WalletProtocolError(
                f"DID challenge: the server asks for a signature for {issued['domain']!r}, not for itself "
                f"({self.domain!r}); refused"
            )
        return self.key.login_presentation(issued["challenge"], issued["domain"])

    def sign_in(self) -> None:
        presentation = self._presentation(CHALLENGE_PATH)
        _body(self._http.post(SESSION_PATH, json={"presentation": presentation}), (200,), "DID sign-in")
        self._signed_in = True

    def bind(self, code: str) -> Any:
        """Bind this wallet's DID to the account the one-time `code` was shown to (no sign-in needed: the
        code is the customer's say-so, the signature the wallet's proof of its key)."""
        body = {"code": code, "presentation": self._presentation(BINDING_CHALLENGE_PATH)}
        return _body(self._http.post(BINDINGS_PATH, json=body), (201,), "wallet binding")

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        if not self._signed_in:
            self.sign_in()
        response = self._http.request(method, path, **options)
        if response.status_code == 401:
            self.sign_in()
            response = self._http.request(method, path, **options)
        return response


class GatewayClient:
    """The gateway's wallet routes, for the customer the session signed in as."""

    def __init__(self, session: DidSession) -> None:
        self.session = session

    def poll(self, cursor: str | None, wait: int) -> QuestionBatch:
        """Wait up to `wait` seconds for questions created after `cursor` (all pending ones when None)."""
        wait = max(0, min(wait, MAX_WAIT_SECONDS))
        params: dict[str, str | int] = {"wait": wait}
        if cursor is not None:
            params["after"] = cursor
        response = self.session.request("GET", QUESTIONS_PATH, params=params, timeout=wait + 15)
        try:
            return QuestionBatch.from_json(_body(response, (200,), "questions"))
        except ProtocolError as exc:
            raise WalletProtocolError(f"questions: {exc}") from exc

    def answer(self, question_id: str, answer: ProvenAnswer) -> Any:
        response = self.session.request("POST", answer_path(question_id), json={"answer": answer.to_json()})
        return _body(response, (200,), f"answer to {question_id}")

    def decline(self, question_id: str, reason: DeclineReason) -> Any:
        response = self.session.request("POST", decline_path(question_id), json={"reason": reason.value})
        return _body(response, (200,), f"decline of {question_id}")

    def grant(self, grant: Mapping[str, Any], *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        response = self.session.request("POST", GRANTS_PATH, json={"grant": dict(grant)}, headers=headers)
        return _body(response, (200, 201), "grant")

    def custody(self, enabled: bool) -> Any:
        """Switch custodial answering on (the gateway answers for the customer) or off (only this wallet)."""
        response = self.session.request("PUT", CUSTODY_PATH, json={"enabled": enabled})
        return _body(response, (200,), "custody")

    def hand_over(self, statements: Sequence[HeldStatement], rules: Mapping[str, Any]) -> Any:
        """Give the gateway, in custodial mode, the statements (openings included) and rules to answer by."""
        body = {"statements": [held.to_json() for held in statements], "rules": dict(rules)}
        response = self.session.request("POST", CUSTODY_STATEMENTS_PATH, json=body)
        return _body(response, (200,), "custody hand-over")


class SourceClient:
    """A source system's delivery route: the statements it signed about this DID's subject, with openings."""

    def __init__(self, session: DidSession, source_keys: Sequence[str] = ()) -> None:
        self.session = session
        self._keys = parse_source_keys(source_keys) if source_keys else None

    def fetch(self) -> list[HeldStatement]:
        response = self.session.request("GET", STATEMENTS_PATH)
        try:
            delivered = statements_from_json(_body(response, (200,), "statements"))
        except ProtocolError as exc:
            raise WalletProtocolError(f"statements: {exc}") from exc
        if self._keys is not None:
            for held in delivered:
                try:
                    held.signed.check_signature(self._keys)
                except VerificationError as exc:
                    raise WalletProtocolError(f"statements: {exc}") from exc
        return delivered
