"""Errors of the customer's rights services (consents, receipts, accesses, export, erasure).

Each carries the HTTP status and problem `type` it becomes, so the REST routes and the portal answer alike.
"""

from __future__ import annotations


class CustomerRightsError(Exception):
    """A customer's request that cannot be carried out; the message is safe to show to that customer."""

    status_code = 422
    kind = "invalid-request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(CustomerRightsError):
    """Absent or not the customer's own: one answer for both, so ids of others cannot be probed."""

    status_code = 404
    kind = "not-found"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.")


class InvalidConsentRequest(CustomerRightsError):
    """A purpose, category, recipient or language the taxonomy does not know, or a forbidden scope."""

    kind = "invalid-consent"


class SeparateConsentRequired(CustomerRightsError):
    """PIPL Art. 29: a sensitive category needs its own explicit confirmation naming it."""

    kind = "separate-consent-required"

    def __init__(self, categories: list[str]) -> None:
        super().__init__(
            "These categories are sensitive and need a separate, explicit confirmation naming each of them "
            f"(list them in `separate`): {', '.join(categories)}."
        )
        self.categories = categories


class CrossBorderConsentRequired(CustomerRightsError):
    """PIPL Art. 39: a recipient abroad needs a separate consent to the cross-border transfer."""

    kind = "cross-border-consent-required"


class NoticeChanged(CustomerRightsError):
    """The agreement the customer saw is not the current one: consent must cite the text actually shown."""

    status_code = 409
    kind = "notice-changed"


class ConsentStateConflict(CustomerRightsError):
    """The record is not in a state that allows the change (for example withdrawing a withdrawn consent)."""

    status_code = 409
    kind = "consent-state-conflict"


class ConcurrentConsentChange(CustomerRightsError):
    """Another process changed the same consent record at the same moment: nothing was recorded; retrying is safe."""

    status_code = 409
    kind = "concurrent-change"
    retry_after_seconds = 1

    def __init__(self) -> None:
        super().__init__("This consent was changed at the same moment by another request; try again.")


class ErasureInProgress(CustomerRightsError):
    status_code = 409
    kind = "erasure-in-progress"


class GrantRejected(CustomerRightsError):
    """A wallet-signed access grant that is malformed, not signed by its grantor or not in force; `rule` says which."""

    kind = "grant-rejected"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class NotYourGrant(CustomerRightsError):
    """The grant's grantor is not the DID the customer signed in with."""

    status_code = 403
    kind = "grantor-mismatch"


class GuardianConsentRequired(CustomerRightsError):
    """PIPL Art. 31, GDPR Art. 8, CCPA 1798.120(c): below the age the law sets, a guardian decides, not the minor."""

    status_code = 403
    kind = "guardian-consent-required"


class InvalidGuardianship(CustomerRightsError):
    """A guardian link the law does not call for: the ward is no minor, the guardian is one, or they are one."""

    kind = "invalid-guardianship"


class InvalidRectification(CustomerRightsError):
    """A category no source system lets the customer correct, or a value that is not one of that category."""

    kind = "invalid-rectification"


class InvalidTransfer(CustomerRightsError):
    """A transfer to a recipient the taxonomy does not know, in an unknown format or for an unbounded time."""

    kind = "invalid-transfer"


class TransferGone(CustomerRightsError):
    """The one-time transfer was fetched already, or its time ran out: ask the customer for a new one."""

    status_code = 410
    kind = "transfer-gone"


class InvalidRedemption(CustomerRightsError):
    """An item the catalogue does not hold."""

    kind = "invalid-redemption"


class InsufficientBalance(CustomerRightsError):
    """The customer's points do not cover the item."""

    status_code = 409
    kind = "insufficient-points"
