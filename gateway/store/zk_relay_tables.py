"""Tables behind wallet-answered questions: anchored source statements, questions relayed to wallets, and the
budget of distinct questions per recipient, subject, attribute and validity period.

No value and no opening is ever stored here: a statement row holds the source's signed commitment (public in
the ledger anyway) and where it was anchored; a question row holds what was asked and, once answered, the
wallet's proof with its evidence.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.store.tables import metadata

zk_statements = Table(
    "gw_zk_statements",
    metadata,
    # One row per signed statement anchored in the ledger, by the digest the wallet's answer names; the series
    # (source, subject, attribute) orders them by seq for the succession rule and the current-statement lookup.
    Column("digest", String(64), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("attribute", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
    Column("ledger_index", BigInteger, nullable=False, unique=True),
    Column("statement", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "subject", "attribute", "seq", name="uq_gw_zk_statements_series_seq"),
    Index("ix_gw_zk_statements_subject", "subject", "attribute", "valid_until"),
)

zk_questions = Table(
    "gw_zk_questions",
    metadata,
    # `seq` orders questions for the wallet's long-poll cursor; `id` is what the wallet and the CRM name.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("organization", String(200), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("template", String(256), nullable=False),
    Column("attribute", String(128), nullable=False),
    Column("nonce", String(256), nullable=False),
    Column("question", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("document", Text, nullable=True),
    Column("ledger_index", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("client_id", "nonce", name="uq_gw_zk_questions_client_nonce"),
    Index("ix_gw_zk_questions_customer", "customer_id", "status", "seq"),
)

zk_question_budget = Table(
    "gw_zk_question_budget",
    metadata,
    # One row per distinct template a recipient organization asked about one subject's attribute in one validity
    # period of the source's statement. The slot (1..budget) is part of the key, so two workers cannot both take
    # the last one; the template is unique too, so asking the same template again spends nothing.
    Column("organization", String(200), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("attribute", String(128), primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("template", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization", "subject", "attribute", "period", "template", name="uq_gw_zk_budget_template"),
)

zk_custody = Table(
    "gw_zk_custody",
    metadata,
    # The customer's answering mode: no row or `enabled` false, their own wallet answers (the default); enabled,
    # the gateway answers for them from the statements their wallet handed over, by the rules it handed over.
    Column("customer_id", String(64), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("rules", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

zk_custody_statements = Table(
    "gw_zk_custody_statements",
    metadata,
    # A statement with its opening, sealed (AES-GCM) and bound to its row; deleted when custody is switched off.
    Column("customer_id", String(64), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
)
