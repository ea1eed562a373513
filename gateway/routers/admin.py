"""Administration: register OAuth clients, enrol customers, rotate keys, replace the matrix. Admin clients only."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from credentials import CredentialError, DidResolver
from gateway.auth.clients import ClientRegistrationError, taxonomy_vocabulary
from gateway.auth.customers import CustomerExistsError, DidInUseError, InvalidCustomerError
from gateway.auth.passwords import WeakPasswordError
from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import (
    ClientsDep,
    CredentialsDep,
    CustomersDep,
    KeysDep,
    PoliciesDep,
    ZkDep,
    idempotent,
    require_admin,
)
from gateway.routers.customer import CustomerProfile
from gateway.web.problems import Problem, problem_responses
from gateway.zk.templates import attribute_problems
from keyfiles import KeyFileError
from policies import PolicyConflictError, UnchangedMatrixError, ValidationError, matrix_from_document

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403))

_CLIENT_EXAMPLE: dict[str, Any] = {
    "client_id": "crm-dealer-4s",
    "name": "4S dealership CRM",
    "organization": "Shanghai 4S Dealer Ltd.",
    "roles": ["crm"],
    "scopes": ["proxy", "zk"],
    "allowed_purposes": ["service-reminder", "warranty"],
    "jurisdiction": "CN",
    "token_endpoint_auth_method": "client_secret_basic",
}


class ClientRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CLIENT_EXAMPLE]})

    client_id: str | None = Field(None, description="Chosen id; a random one when absent.")
    name: str = Field(min_length=1, max_length=200)
    organization: str = Field(min_length=1, max_length=200, description="The recipient organization.")
    roles: list[Literal["crm", "auditor", "admin"]] = Field(min_length=1)
    scopes: list[Literal["proxy", "zk", "ledger:read", "admin", "metrics"]] = Field(min_length=1)
    allowed_purposes: list[str] = Field(default_factory=list, description="Purposes this client may declare.")
    jurisdiction: str = Field(description="ISO 3166 code of where the client processes data (e.g. CN, DE, EU).")
    token_endpoint_auth_method: Literal["client_secret_basic", "private_key_jwt"] = "client_secret_basic"  # noqa: S105
    jwks: dict[str, Any] | None = Field(None, description="Public JWK Set, for private_key_jwt clients.")


class ClientView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**_CLIENT_EXAMPLE, "jwks": None, "disabled": False, "created_at": "2026-01-01T00:00:00+00:00"}
            ]
        }
    )

    client_id: str
    name: str
    organization: str
    roles: list[str]
    scopes: list[str]
    allowed_purposes: list[str]
    jurisdiction: str
    token_endpoint_auth_method: str
    jwks: dict[str, Any] | None
    disabled: bool
    created_at: str


class ClientCreated(ClientView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_CLIENT_EXAMPLE,
                    "jwks": None,
                    "disabled": False,
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "client_secret": "kq3…",
                }
            ]
        }
    )
    client_secret: str | None = Field(description="Shown once; only its hash is stored.")


class ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disabled": True}]})
    disabled: bool = Field(description="A disabled client gets no tokens and its tokens stop working at once.")


class ClientSecret(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"client_id": "crm-dealer-4s", "client_secret": "kq3…"}]})
    client_id: str
    client_secret: str


class CustomerEnrolment(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "li.wei",
                    "password": "correct horse battery",
                    "display_name": "Li Wei",
                    "jurisdiction": "CN",
                }
            ]
        },
    )
    username: str = Field(min_length=3, max_length=200)
    password: str = Field(min_length=10, max_length=1024)
    display_name: str = Field("", max_length=200)
    jurisdiction: str = Field(
        min_length=2,
        max_length=6,
        description="A jurisdiction of the taxonomy: ISO 3166-1 alpha-2 (`CN`, `DE`) or ISO 3166-2 (`US-CA`).",
    )
    customer_type: str = Field("standard", max_length=64, description="A taxonomy customer type (`minor`, …).")
    source_subject: str | None = Field(
        None, max_length=128, description="The customer number source systems use in their paths."
    )
    did: str | None = Field(
        None,
        max_length=200,
        description="The customer's wallet did:key, if known; otherwise the customer binds one at PUT /v1/me/did.",
    )


class RotatedKey(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ring": "token", "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "keys": 2}]
        }
    )
    ring: str
    kid: str = Field(description="The new current key; earlier keys keep verifying.")
    keys: int = Field(description="How many keys the ring now holds.")


_MATRIX_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "rules": [
        {
            "id": "finance-age-predicate",
            "effect": "allow",
            "role": "finance",
            "category": "profile.birth_date",
            "purpose": "financial_product_recommendation",
            "mode": "predicate",
        }
    ],
    "questions": {
        "budget": 1,
        "templates": [{"id": "adult", "attribute": "age", "op": ">=", "operands": [18]}],
        "asked": [{"role": "finance", "purpose": "financial_product_recommendation", "templates": ["adult"]}],
    },
}


class MatrixView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MATRIX_EXAMPLE]})

    version: int = Field(description="The version in force (the database's counter).")
    rules: list[dict[str, Any]]
    questions: dict[str, Any] = Field(description="Question templates, who may ask which, and the budget.")


class MatrixChangeView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 2,
                    "ledger_index": 41,
                    "diff": {
                        "added": [],
                        "removed": [],
                        "changed": [],
                        "questions": {
                            "asked": {
                                "added": [],
                                "removed": [
                                    {
                                        "role": "finance",
                                        "purpose": "financial_product_recommendation",
                                        "template": "adult",
                                    }
                                ],
                            }
                        },
                    },
                    "consents": {"widened": [], "narrowed": []},
                }
            ]
        }
    )

    version: int = Field(description="The new version (or, for a document that changed nothing, the one in force).")
    ledger_index: int | None = Field(
        description="The `policy.change` entry recording who changed what; null when nothing changed."
    )
    diff: dict[str, Any] = Field(description="Rules added, removed, changed; and `questions` when they changed.")
    consents: dict[str, Any] = Field(description="Flows widened (awaiting a fresh consent) and narrowed (stopped).")


_ClientId = Path(description="The client's id.", examples=["crm-dealer-4s"])


@router.post(
    "/clients",
    status_code=201,
    summary="Register an OAuth client",
    description="Admits a CRM, auditor or admin client with its organization, roles, scopes, allowed purposes "
    "and jurisdiction. A `client_secret_basic` client gets a generated secret, shown only in this response; a "
    "`private_key_jwt` client registers its public JWK Set. Allowed purposes must be the taxonomy's, and a CRM "
    "client's organization one of its recipients. Scopes must suit the roles (`proxy`/`zk` need "
    "`crm`, `ledger:read` and `metrics` need `auditor` or `admin`, `admin` needs `admin`).",
    response_model=ClientCreated,
    responses=problem_responses(409, 422),
    dependencies=[Depends(idempotent(require_admin))],
)
async def register_client(
    clients: ClientsDep,
    policies: PoliciesDep,
    body: ClientRegistration,
    admin: ClientPrincipal = Depends(require_admin),
) -> ClientCreated:
    try:
        client, secret = await run_in_threadpool(
            lambda: clients.register(
                client_id=body.client_id,
                name=body.name,
                organization=body.organization,
                roles=body.roles,
                scopes=body.scopes,
                allowed_purposes=body.allowed_purposes,
                jurisdiction=body.jurisdiction,
                auth_method=body.token_endpoint_auth_method,
                jwks=body.jwks,
                actor=admin.actor,
                vocabulary=taxonomy_vocabulary(policies.taxonomy),
            )
        )
    except ClientRegistrationError as exc:
        status, kind = (409, "conflict") if "already registered" in str(exc) else (422, "invalid-client-metadata")
        raise Problem(status, kind, str(exc)) from exc
    return ClientCreated(**client.public_view(), client_secret=secret)


@router.get(
    "/clients",
    summary="List OAuth clients",
    description="Every registered client, enabled or not, without secrets.",
    response_model=list[ClientView],
)
def list_clients(clients: ClientsDep, _: ClientPrincipal = Depends(require_admin)) -> list[ClientView]:
    return [ClientView(**client.public_view()) for client in clients.list()]


@router.get(
    "/clients/{client_id}",
    summary="Show one OAuth client",
    description="The client's registration, without its secret.",
    response_model=ClientView,
    responses=problem_responses(404),
)
def get_client(
    clients: ClientsDep, client_id: str = _ClientId, _: ClientPrincipal = Depends(require_admin)
) -> ClientView:
    client = clients.get(client_id)
    if client is None:
        raise Problem(404, "not-found", "No such client.")
    return ClientView(**client.public_view())


@router.patch(
    "/clients/{client_id}",
    summary="Enable or disable an OAuth client",
    description="Disabling takes effect on the next request: the bearer check loads the client every time.",
    response_model=ClientView,
    responses=problem_responses(404, 422),
)
def update_client(
    clients: ClientsDep, body: ClientUpdate, client_id: str = _ClientId, admin: ClientPrincipal = Depends(require_admin)
) -> ClientView:
    if not clients.set_disabled(client_id, body.disabled, actor=admin.actor):
        raise Problem(404, "not-found", "No such client.")
    client = clients.get(client_id)
    assert client is not None
    return ClientView(**client.public_view())


@router.post(
    "/clients/{client_id}/secret",
    summary="Issue a new client secret",
    description="Replaces the secret of a `client_secret_basic` client; the old one stops working at once.",
    response_model=ClientSecret,
    responses=problem_responses(404),
)
def rotate_client_secret(
    clients: ClientsDep, client_id: str = _ClientId, admin: ClientPrincipal = Depends(require_admin)
) -> ClientSecret:
    secret = clients.rotate_secret(client_id, actor=admin.actor)
    if secret is None:
        raise Problem(404, "not-found", "No client with a secret under this id.")
    return ClientSecret(client_id=client_id, client_secret=secret)


@router.post(
    "/customers",
    status_code=201,
    summary="Enrol a customer",
    description="Creates a customer account (argon2id password hash). The customer signs in at `POST /v1/session`. "
    "Given `did` (the customer's wallet DID), the account is bound to it; otherwise the gateway creates a did:key "
    "in the same transaction and keeps its private key sealed until the customer takes custody of it "
    "(`POST /v1/me/did/custody`).",
    response_model=CustomerProfile,
    responses=problem_responses(409, 422),
    dependencies=[Depends(idempotent(require_admin))],
)
async def enrol_customer(
    customers: CustomersDep,
    policies: PoliciesDep,
    body: CustomerEnrolment,
    admin: ClientPrincipal = Depends(require_admin),
) -> CustomerProfile:
    if body.did is not None:
        try:
            DidResolver().resolve(body.did)
        except CredentialError as exc:
            raise Problem(422, "validation", f"did: {exc} (a did:key is expected)") from exc
    try:
        customer = await run_in_threadpool(
            lambda: customers.create(
                username=body.username,
                password=body.password,
                display_name=body.display_name,
                jurisdiction=body.jurisdiction,
                customer_type=body.customer_type,
                source_subject=body.source_subject,
                did=body.did,
                jurisdictions=policies.taxonomy.jurisdictions,
                customer_types=policies.taxonomy.customer_types,
                actor=admin.actor,
            )
        )
    except (CustomerExistsError, DidInUseError) as exc:
        raise Problem(409, "conflict", str(exc)) from exc
    except (InvalidCustomerError, WeakPasswordError) as exc:
        raise Problem(422, "validation", str(exc)) from exc
    return CustomerProfile.of(customer)


@router.get(
    "/customers",
    summary="List customers",
    description="Every customer account (no password hashes).",
    response_model=list[CustomerProfile],
)
def list_customers(customers: CustomersDep, _: ClientPrincipal = Depends(require_admin)) -> list[CustomerProfile]:
    return [CustomerProfile.of(customer) for customer in customers.list()]


@router.post(
    "/keys/{ring}/rotate",
    summary="Rotate a signing key",
    description="Adds a fresh key to the ring (`token` or `issuer`) and makes it current. Earlier keys stay in the "
    "ring and are still published (token keys in the JWKS, credential issuer keys in `/.well-known/did.json`), so "
    "everything signed before keeps verifying. For `issuer`, `kid` is the new verification method of the "
    "gateway's did:web. The ledger's checkpoint key is rotated with `consentry keys rotate checkpoint` and a "
    "restart, since the running ledger holds its signer.",
    response_model=RotatedKey,
    responses=problem_responses(409, 422),
)
def rotate_key(
    credentials: CredentialsDep,
    keys: KeysDep,
    ring: Literal["token", "issuer"] = Path(description="Which key ring.", examples=["token"]),
    _: ClientPrincipal = Depends(require_admin),
) -> RotatedKey:
    if ring == "issuer":
        keyring = credentials.keyring
        issued = keyring.rotate()
        return RotatedKey(ring=ring, kid=issued.verification_method, keys=len(keyring.public_keys_multibase))
    try:
        fresh = keys.rotate(ring)
    except KeyFileError as exc:
        raise Problem(409, "conflict", str(exc)) from exc
    return RotatedKey(ring=ring, kid=fresh.kid, keys=len(keys.ring(ring).keys))


@router.get(
    "/matrix",
    summary="Show the authorization matrix in force",
    description="The rules and the question templates of the version in force; a valid body for `PUT`.",
    response_model=MatrixView,
)
def get_matrix(policies: PoliciesDep, _: ClientPrincipal = Depends(require_admin)) -> MatrixView:
    version, questions = policies.matrix.questions_in_force()
    rules = policies.matrix.rules(version)
    return MatrixView(version=version, rules=[r.as_dict() for r in rules], questions=questions.as_dict())


@router.put(
    "/matrix",
    summary="Replace the authorization matrix",
    description="Replaces the rules and the question templates (`questions`: templates with a fixed attribute, "
    "operator and operands, which role may ask which for which purpose, and the budget of distinct questions). "
    "The document is validated whole, against the taxonomy and the attribute registry: any problem (an unknown "
    "role, purpose, category, attribute or template id, a duplicate id, operands unfit for the operator or the "
    "attribute) applies nothing and is listed in `errors`. The change is diffed, recorded in the ledger "
    "(`policy.change`) and in force at once, for decisions and questions alike. `PUT` is idempotent: a document "
    "equal to the version in force records nothing and answers 200 with that version, an empty diff and no "
    "ledger index.",
    response_model=MatrixChangeView,
    responses=problem_responses(409, 422),
)
async def put_matrix(
    policies: PoliciesDep,
    zk: ZkDep,
    document: dict[str, Any] = Body(openapi_examples={"matrix": {"value": _MATRIX_EXAMPLE}}),
    note: str | None = Query(None, max_length=500, description="Why, for the ledger and the history."),
    admin: ClientPrincipal = Depends(require_admin),
) -> MatrixChangeView:
    try:
        matrix = matrix_from_document(policies.taxonomy, document, "matrix")
        problems = attribute_problems(matrix.questions, zk.registry, "matrix")
        if problems:
            raise ValidationError(problems)
        change = await run_in_threadpool(policies.matrix.apply, matrix, actor=admin.actor, note=note)
    except UnchangedMatrixError as exc:
        return MatrixChangeView(
            version=exc.version, ledger_index=None, diff={"added": [], "removed": [], "changed": []}, consents={}
        )
    except ValidationError as exc:
        messages = [p.message for p in exc.problems]
        raise Problem(422, "invalid-matrix", "; ".join(messages), errors=[{"message": m} for m in messages]) from None
    except PolicyConflictError as exc:
        raise Problem(409, "conflict", str(exc)) from exc
    return MatrixChangeView(
        version=change.version, ledger_index=change.ledger_index, diff=dict(change.diff), consents=dict(change.consents)
    )
