"""Named exceptions: every failure says which rule it broke, so callers can map it to a problem type."""

from __future__ import annotations


class CredentialError(Exception):
    """Base of every error raised by the credentials package."""

    rule = "credential-error"


class KeyFormatError(CredentialError):
    """A key, multibase string or multicodec prefix is not what the suite requires."""

    rule = "key-format"


class DidResolutionError(CredentialError):
    """A DID or DID URL cannot be resolved offline, or resolves to no usable verification method."""

    rule = "did-resolution"


class ContextError(CredentialError):
    """A JSON-LD context is not bundled, or a bundled file does not match its pinned SHA-256."""

    rule = "context"


class CanonicalizationError(CredentialError):
    """A document cannot be canonicalized without losing data, or exceeds the work limits."""

    rule = "canonicalization"


class DataLossError(CanonicalizationError):
    """A term or type does not expand to an absolute IRI: signing it would sign less than the document says."""

    rule = "undefined-term"


class LimitExceededError(CanonicalizationError):
    """The input is larger or more expensive to canonicalize than the configured caps allow."""

    rule = "limit-exceeded"


class ValidationError(CredentialError):
    """A document breaks a rule of the VC 2.0 data model."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class ProofError(CredentialError):
    """A proof cannot be created or does not verify."""

    rule = "proof"


class StatusListError(CredentialError):
    """A status list operation names an unknown list, an index out of range, or an unallocated entry."""

    rule = "status-list"


class SdJwtError(CredentialError):
    """An SD-JWT is malformed, its signature fails, or a disclosure does not match a digest."""

    rule = "sd-jwt"


class InteropError(CredentialError):
    """didkit refused to issue or verify."""

    rule = "didkit"
