"""The VC Data Model 2.0 rules a verifier must enforce before it trusts a proof over the document.

Each rule raises ValidationError with a stable rule name (the gateway turns it into a problem type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from credentials.contexts import VC_V2
from credentials.datetimes import parse_datetime
from credentials.errors import CanonicalizationError, LimitExceededError, ValidationError
from credentials.rdfc import DEFAULT_LIMITS, Limits, expand_strict
from credentials.related_resource import validate_related_resources

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
TYPED_PROPERTIES = ("credentialStatus", "evidence", "credentialSchema", "termsOfUse", "refreshService")


def is_url(value: object) -> bool:
    """An absolute URL (DIDs and URNs included), as VC 2.0 requires for `id`, `issuer` and `holder`."""
    return isinstance(value, str) and bool(_URL.match(value))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_context(document: Mapping[str, Any]) -> None:
    context = document.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_V2:
        raise ValidationError("context", f"@context must be a list whose first item is {VC_V2}")


def _check_types(document: Mapping[str, Any], required: str, limits: Limits, expand: bool) -> None:
    types = document.get("type")
    if types is None or required not in _as_list(types):
        raise ValidationError("type", f"type must include {required}")
    if not all(isinstance(t, str) for t in _as_list(types)):
        raise ValidationError("type", "every type must be a string")
    if not expand:
        return
    try:
        expand_strict(dict(document), limits)
    except LimitExceededError:
        raise
    except CanonicalizationError as exc:
        raise ValidationError("type-expansion", str(exc)) from None


def _check_id(document: Mapping[str, Any], rule: str) -> None:
    if "id" in document and not is_url(document["id"]):
        raise ValidationError(rule, f"id {document['id']!r} must be a URL")


def issuer_id(credential: Mapping[str, Any]) -> str:
    issuer = credential.get("issuer")
    value = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not is_url(value):
        raise ValidationError("issuer", "issuer must be a URL or an object whose id is a URL")
    return str(value)


def validate_credential(
    credential: Any,
    *,
    limits: Limits = DEFAULT_LIMITS,
    check_expansion: bool = True,
    resources: Mapping[str, bytes] | None = None,
) -> list[str]:
    """Raise on the first broken rule; return the related resources whose digests could not be checked.

    `check_expansion=False` skips the JSON-LD expansion only for callers that canonicalize the same
    document with eddsa-rdfc-2022 right after, which refuses unexpandable terms and types itself.
    `resources` maps related resource ids to bytes the caller holds (bundled contexts are always held).
    """
    if not isinstance(credential, Mapping):
        raise ValidationError("credential", "a credential must be a JSON object")
    _check_context(credential)
    _check_id(credential, "id")
    issuer_id(credential)
    subjects = credential.get("credentialSubject")
    if not subjects or not all(isinstance(s, Mapping) and s for s in _as_list(subjects)):
        raise ValidationError("credential-subject", "credentialSubject must be a non-empty object or list of them")
    for subject in _as_list(subjects):
        _check_id(subject, "credential-subject")
    valid_from = _check_datetime(credential, "validFrom")
    valid_until = _check_datetime(credential, "validUntil")
    if valid_from and valid_until and valid_until < valid_from:
        raise ValidationError("validity-period", "validUntil precedes validFrom")
    for name in TYPED_PROPERTIES:
        for item in _as_list(credential.get(name, [])):
            if not isinstance(item, Mapping) or not item.get("type"):
                raise ValidationError(f"{name}-type", f"each {name} object needs a type")
            _check_id(item, f"{name}-id")
    for schema in _as_list(credential.get("credentialSchema", [])):
        # VC 2.0 §4.11: a schema is named by its id, so a validator can find it.
        if "id" not in schema:
            raise ValidationError("credentialSchema-id", "each credentialSchema needs an id (a URL) and a type")
    unchecked = validate_related_resources(credential, resources=resources)
    _check_types(credential, "VerifiableCredential", limits, check_expansion)
    return unchecked


def validate_presentation(presentation: Any, *, limits: Limits = DEFAULT_LIMITS, check_expansion: bool = True) -> None:
    if not isinstance(presentation, Mapping):
        raise ValidationError("presentation", "a presentation must be a JSON object")
    _check_context(presentation)
    _check_id(presentation, "id")
    if "holder" in presentation:
        holder = presentation["holder"]
        value = holder.get("id") if isinstance(holder, Mapping) else holder
        if not is_url(value):
            raise ValidationError("holder", "holder must be a URL or an object whose id is a URL")
    _check_types(
        {k: v for k, v in presentation.items() if k != "verifiableCredential"},
        "VerifiablePresentation",
        limits,
        check_expansion,
    )


def _check_datetime(document: Mapping[str, Any], name: str) -> Any:
    if name not in document:
        return None
    moment = parse_datetime(document[name])
    if moment is None:
        raise ValidationError("datetime", f"{name} {document[name]!r} is not an XML Schema dateTimeStamp")
    return moment
