"""Verifiable consent credentials: DIDs, Data Integrity EdDSA, VC 2.0 receipts, status lists, SD-JWT.

Everything here runs offline: contexts are bundled and pinned, did:web resolves only from documents
we are given. The gateway calls these functions; nothing here imports the gateway. `import credentials`
loads no database library: the stored status lists (`StatusList`, `StatusListRepository`,
`publish_status_list`, `CredentialService`) load SQLAlchemy on first use, so a wallet or a verifier
can use the rest alone.
"""

import importlib
from typing import TYPE_CHECKING, Any

from credentials.access_grant import AccessGrant, AccessGrantError, sign_access_grant, verify_access_grant
from credentials.bitstring_status_list import (
    MIN_LIST_SIZE,
    check_status,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    set_bit,
    status_entry,
    status_list_credential,
)
from credentials.contexts import CONSENTRY_V1, VC_V1, VC_V2, bundled_urls, document_loader
from credentials.data_integrity import JCS, RDFC, Issue, VerificationResult, add_proof, verify_proof
from credentials.did_auth import DidAuthError, create_did_auth_presentation, new_challenge, verify_did_auth
from credentials.didkit_interop import didkit_issue, didkit_issue_sync, didkit_verify, didkit_verify_sync, receipt_v11
from credentials.dids import (
    DidResolver,
    VerificationMethod,
    did_key_document,
    did_key_from_multibase,
    did_key_verification_method,
    did_web_document,
    did_web_document_url,
    did_web_from_domain,
)
from credentials.errors import (
    CanonicalizationError,
    ContextError,
    CredentialError,
    DataLossError,
    DidResolutionError,
    InteropError,
    KeyFormatError,
    LimitExceededError,
    ProofError,
    SdJwtError,
    StatusListError,
    ValidationError,
)
from credentials.keyring import IssuerKeyring
from credentials.keys import (
    Ed25519KeyPair,
    generate_key_pair,
    key_pair_from_private,
    private_key_from_multibase,
    public_jwk,
    public_key_from_multibase,
)
from credentials.rdfc import DEFAULT_LIMITS, Limits, canonicalize
from credentials.receipts import ConsentReceiptClaims, IssuerKey, build_consent_receipt, issue_consent_receipt
from credentials.sd_jwt import issue_sd_jwt
from credentials.sd_jwt import present as present_sd_jwt
from credentials.sd_jwt import verify as verify_sd_jwt
from credentials.vc11 import add_ed25519_signature_2018, issue_jwt_vc, verify_ed25519_signature_2018, verify_jwt_vc
from credentials.vcdm2 import validate_credential, validate_presentation
from credentials.verification import StatusListLookup, verify_credential, verify_presentation

if TYPE_CHECKING:
    from credentials.service import CredentialService
    from credentials.status_list_service import publish_status_list
    from credentials.status_store import StatusList, StatusListRepository

_STORAGE = {
    "CredentialService": "credentials.service",
    "StatusList": "credentials.status_store",
    "StatusListRepository": "credentials.status_store",
    "publish_status_list": "credentials.status_list_service",
}


def __getattr__(name: str) -> Any:
    """PEP 562: the stored parts are imported when first named, so verifiers never load a database library."""
    module = _STORAGE.get(name)
    if module is None:
        raise AttributeError(f"module 'credentials' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CONSENTRY_V1",
    "DEFAULT_LIMITS",
    "JCS",
    "MIN_LIST_SIZE",
    "RDFC",
    "VC_V1",
    "VC_V2",
    "AccessGrant",
    "AccessGrantError",
    "CanonicalizationError",
    "ConsentReceiptClaims",
    "ContextError",
    "CredentialError",
    "CredentialService",
    "DataLossError",
    "DidAuthError",
    "DidResolutionError",
    "DidResolver",
    "Ed25519KeyPair",
    "InteropError",
    "Issue",
    "IssuerKey",
    "IssuerKeyring",
    "KeyFormatError",
    "LimitExceededError",
    "Limits",
    "ProofError",
    "SdJwtError",
    "StatusList",
    "StatusListError",
    "StatusListLookup",
    "StatusListRepository",
    "ValidationError",
    "VerificationMethod",
    "VerificationResult",
    "add_ed25519_signature_2018",
    "add_proof",
    "build_consent_receipt",
    "bundled_urls",
    "canonicalize",
    "check_status",
    "create_did_auth_presentation",
    "decode_list",
    "did_key_document",
    "did_key_from_multibase",
    "did_key_verification_method",
    "did_web_document",
    "did_web_document_url",
    "did_web_from_domain",
    "didkit_issue",
    "didkit_issue_sync",
    "didkit_verify",
    "didkit_verify_sync",
    "document_loader",
    "encode_list",
    "generate_key_pair",
    "get_bit",
    "issue_consent_receipt",
    "issue_jwt_vc",
    "issue_sd_jwt",
    "key_pair_from_private",
    "new_bitstring",
    "new_challenge",
    "present_sd_jwt",
    "private_key_from_multibase",
    "public_jwk",
    "public_key_from_multibase",
    "publish_status_list",
    "receipt_v11",
    "set_bit",
    "sign_access_grant",
    "status_entry",
    "status_list_credential",
    "validate_credential",
    "validate_presentation",
    "verify_access_grant",
    "verify_credential",
    "verify_did_auth",
    "verify_ed25519_signature_2018",
    "verify_jwt_vc",
    "verify_presentation",
    "verify_proof",
    "verify_sd_jwt",
]
