"""Zero-knowledge predicate queries: attribute registry, anchoring, sealed openings, response verification.

Only the pure parts are exported here, so a relying party can import `gateway.zk` (or just
`gateway.zk.response`) to verify responses without pulling in the web service or a database driver.
The service modules (`anchors`, `nonces`, `sealing`, `service`, `queries`) are imported by name.
"""

from gateway.zk.attributes import (
    DEFAULT_ATTRIBUTES,
    AttributeRegistry,
    AttributeRegistryError,
    DerivationError,
    NoValueError,
    UnknownAttributeError,
    ZkAttribute,
    read_pointer,
)
from gateway.zk.response import (
    COMMITMENT_EVENT,
    QUERY_EVENT,
    ResponseVerificationError,
    VerifiedAnswer,
    anchor_label,
    subject_binding,
    verify_response,
)

__all__ = [
    "COMMITMENT_EVENT",
    "DEFAULT_ATTRIBUTES",
    "QUERY_EVENT",
    "AttributeRegistry",
    "AttributeRegistryError",
    "DerivationError",
    "NoValueError",
    "ResponseVerificationError",
    "UnknownAttributeError",
    "VerifiedAnswer",
    "ZkAttribute",
    "anchor_label",
    "read_pointer",
    "subject_binding",
    "verify_response",
]
