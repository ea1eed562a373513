"""`python -m wallet …`: the customer's terminal (the `consentry wallet …` wrapper comes with the gateway side).

Exit codes: 0 done, 1 the server or a check refused, 2 unusable input (arguments, wallet directory, files).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from credentials import CredentialError
from wallet.agent import Outcome, Result, Wallet
from wallet.client import DidSession, GatewayClient, SourceClient, WalletProtocolError
from wallet.protocol import MAX_WAIT_SECONDS, PendingQuestion
from wallet.rules import Action, Rule
from wallet.store import WalletStore, WalletStoreError
from zkp import HeldStatement, ZkpError, format_utc

DEFAULT_DIRECTORY = Path.home() / ".consentry-wallet"


class Failure(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _store(args: argparse.Namespace) -> WalletStore:
    try:
        return WalletStore(args.dir)
    except WalletStoreError as exc:
        raise Failure(str(exc), 2) from exc


def _init(args: argparse.Namespace) -> None:
    try:
        store = WalletStore.init(args.dir)
    except WalletStoreError as exc:
        raise Failure(str(exc), 2) from exc
    print(store.key.did)


def _did(args: argparse.Namespace) -> None:
    print(_store(args).key.did)


def _import(args: argparse.Namespace) -> None:
    store = _store(args)
    for path in args.files:
        try:
            held = HeldStatement.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ZkpError) as exc:
            raise Failure(f"{path}: not a delivered statement: {exc}", 2) from exc
        state = "kept" if store.add_statement(held) else "already held"
        print(f"{held.statement.attribute.name} from {held.statement.source}, seq {held.statement.seq}: {state}")


def _fetch(args: argparse.Namespace) -> None:
    store = _store(args)
    with DidSession(args.source, store.key) as session:
        delivered = SourceClient(session, args.source_key).fetch()
    for held in delivered:
        state = "kept" if store.add_statement(held) else "already held"
        print(f"{held.statement.attribute.name} from {held.statement.source}, seq {held.statement.seq}: {state}")


def _statements(args: argparse.Namespace) -> None:
    for held in _store(args).statements():
        s = held.statement
        window = f"{format_utc(s.issued_at)} .. {format_utc(s.valid_until)}"
        print(f"{s.attribute.name}\t{s.source}\tseq {s.seq}\t{window}\tabout {held.subject}")


def _rule(args: argparse.Namespace) -> None:
    store = _store(args)
    rules = store.rules()
    if args.rule_command == "list":
        for rule in rules.rules:
            print(f"{rule.action.value}\t{rule.recipient}\t{rule.template}")
        return
    if args.rule_command == "add":
        action = Action.DECLINE if args.decline else Action.ANSWER
        store.save_rules(rules.with_rule(Rule(args.recipient, args.template, action)))
    else:
        store.save_rules(rules.without(args.recipient, args.template))


def _ask_in_terminal(pending: PendingQuestion) -> bool | None:
    question = pending.question
    print(
        f"{pending.recipient.name} ({pending.recipient.id}) asks, for {question.purpose}: "
        f"{question.template.describe()}?\n"
        "  y = answer with a proof, n = decline, Enter = leave it pending: ",
        end="",
        flush=True,
    )
    reply = sys.stdin.readline().strip().lower()
    return True if reply in ("y", "yes") else False if reply in ("n", "no") else None


def _report(outcome: Outcome) -> None:
    detail = {
        Result.ANSWERED: f"answered ({'yes' if outcome.holds else 'no'}, proven)",
        Result.DECLINED: f"declined ({outcome.reason.value if outcome.reason else ''})",
        Result.DEFERRED: "left pending",
        Result.CLOSED: "closed before the wallet replied",
        Result.REJECTED: "the gateway refused the reply",
    }[outcome.result]
    print(f"{outcome.question_id}: {detail}", flush=True)


def _run(args: argparse.Namespace) -> None:
    store = _store(args)
    interactive = args.ask if args.ask is not None else sys.stdin.isatty()
    wallet = Wallet(store, ask=_ask_in_terminal if interactive else None)
    with DidSession(args.gateway, store.key) as session:
        client = GatewayClient(session)
        if args.once:
            outcomes, _ = wallet.serve_once(client, None, args.wait)
            for outcome in outcomes:
                _report(outcome)
            return
        stop = threading.Event()

        def interrupt(*_: object) -> None:
            # Stop at once, even inside a long poll: a question not yet answered stays pending at the gateway,
            # so the recipient hears "customer unavailable" rather than an answer from a wallet that was stopped.
            stop.set()
            raise _Stopped

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, interrupt)
        print(f"{store.key.did} is listening to {args.gateway}", flush=True)
        try:
            wallet.serve(
                client, wait=args.wait, stop=stop, report=_report, on_error=lambda e: print(e, file=sys.stderr)
            )
        except _Stopped:
            print("stopped", flush=True)


class _Stopped(Exception):
    """SIGINT or SIGTERM: the wallet stops serving."""


def _bind(args: argparse.Namespace) -> None:
    store = _store(args)
    with DidSession(args.gateway, store.key) as session:
        bound = session.bind(args.code)
    print(json.dumps(bound, indent=2))


def _grant(args: argparse.Namespace) -> None:
    store = _store(args)
    start = datetime.now(UTC)
    document = store.key.grant(
        args.recipient, args.category, args.purpose, start=start, until=start + timedelta(hours=args.hours)
    )
    with DidSession(args.gateway, store.key) as session:
        receipt = GatewayClient(session).grant(document)
    print(json.dumps(receipt, indent=2))


def _custody(args: argparse.Namespace) -> None:
    store = _store(args)
    with DidSession(args.gateway, store.key) as session:
        client = GatewayClient(session)
        state = client.custody(args.mode == "on")
        if args.mode == "on":
            state = client.hand_over(list(store.statements()), store.rules().to_json())
    print(json.dumps(state, indent=2))


def _journal(args: argparse.Namespace) -> None:
    for entry in _store(args).journal():
        print(json.dumps(entry, sort_keys=True))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet", description="The customer's wallet: answers questions with proofs.")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("CONSENTRY_WALLET_DIR", DEFAULT_DIRECTORY)),
        help="the wallet directory (default: $CONSENTRY_WALLET_DIR or ~/.consentry-wallet)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the wallet and its did:key").set_defaults(run=_init)
    commands.add_parser("did", help="print the wallet's DID").set_defaults(run=_did)
    imported = commands.add_parser("import", help="keep statements a source delivered as files")
    imported.add_argument("files", nargs="+")
    imported.set_defaults(run=_import)
    fetch = commands.add_parser("fetch", help="sign in to a source system and keep the statements it delivers")
    fetch.add_argument("--source", required=True, help="the source system's base URL")
    fetch.add_argument("--source-key", action="append", default=[], help="pin the source's verifier key")
    fetch.set_defaults(run=_fetch)
    commands.add_parser("statements", help="list the statements held").set_defaults(run=_statements)
    rule = commands.add_parser("rule", help="standing rules: answer or decline without asking")
    rule_commands = rule.add_subparsers(dest="rule_command", required=True)
    rule_commands.add_parser("list")
    for name in ("add", "remove"):
        sub = rule_commands.add_parser(name)
        sub.add_argument("--recipient", required=True, help="the organization that asks, e.g. org:dealer-4s")
        sub.add_argument("--template", required=True, help="the question template id")
        if name == "add":
            sub.add_argument("--decline", action="store_true", help="decline instead of answering")
    rule.set_defaults(run=_rule)
    run = commands.add_parser("run", help="connect to the gateway and answer questions as they come")
    run.add_argument("--gateway", required=True, help="the gateway's base URL")
    run.add_argument("--once", action="store_true", help="one poll, then exit")
    run.add_argument("--wait", type=int, default=25, choices=range(MAX_WAIT_SECONDS + 1), metavar="SECONDS")
    run.add_argument("--ask", action=argparse.BooleanOptionalAction, default=None, help="ask in the terminal")
    run.set_defaults(run=_run)
    bind = commands.add_parser(
        "bind", help="bind the wallet's DID to your account with the one-time code from your account page"
    )
    bind.add_argument("--gateway", required=True, help="the gateway's base URL")
    bind.add_argument("--code", required=True, help="the binding code (valid ten minutes, once)")
    bind.set_defaults(run=_bind)
    grant = commands.add_parser("grant", help="sign a temporary access grant and send it to the gateway")
    grant.add_argument("--gateway", required=True)
    grant.add_argument("--recipient", required=True)
    grant.add_argument("--category", action="append", required=True)
    grant.add_argument("--purpose", required=True)
    grant.add_argument("--hours", type=float, required=True)
    grant.set_defaults(run=_grant)
    custody = commands.add_parser(
        "custody", help="let the gateway answer for you (on: hands over statements and rules) or not (off)"
    )
    custody.add_argument("mode", choices=["on", "off"])
    custody.add_argument("--gateway", required=True)
    custody.set_defaults(run=_custody)
    commands.add_parser("journal", help="what the wallet answered or declined").set_defaults(run=_journal)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args: Any = _parser().parse_args(argv)
    try:
        args.run(args)
    except Failure as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return exc.code
    except (WalletStoreError, CredentialError, ValueError) as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 2
    except (WalletProtocolError, httpx.HTTPError) as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 1
    return 0
