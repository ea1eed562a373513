"""The customer's terminal: holds the customer's DID key and the openings source systems delivered, answers
the questions addressed to the customer by their standing rules (or asks them), proves each answer locally,
and signs temporary access grants. No server dependencies: it connects out to the gateway.

The protocol is specified in docs/zk-wallet.md; `python -m wallet --help` is the command line.
"""

from wallet.agent import Outcome, Result, Wallet
from wallet.client import DidSession, GatewayClient, SourceClient, WalletProtocolError
from wallet.identity import DidKey
from wallet.protocol import (
    PROTOCOL_VERSION,
    DeclineReason,
    PendingQuestion,
    ProtocolError,
    QuestionBatch,
    Recipient,
)
from wallet.rules import Action, Rule, StandingRules
from wallet.store import WalletStore, WalletStoreError

__all__ = [
    "PROTOCOL_VERSION",
    "Action",
    "DeclineReason",
    "DidKey",
    "DidSession",
    "GatewayClient",
    "Outcome",
    "PendingQuestion",
    "ProtocolError",
    "QuestionBatch",
    "Recipient",
    "Result",
    "Rule",
    "SourceClient",
    "StandingRules",
    "Wallet",
    "WalletProtocolError",
    "WalletStore",
    "WalletStoreError",
]
