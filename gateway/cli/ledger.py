"""`consentry ledger …`: the auditor's and operator's command line for the tamper-evident ledger.

Every command takes `--db URL` (default: the gateway's database, `$CONSENTRY_DATABASE_URL` or the embedded
SQLite `consentry.db` in its data directory `$CONSENTRY_DATA_DIR`, which must exist) and `--json`. Bad input
ends with a message on stderr and exit 2; a ledger that fails verification exits 1; a traceback is a bug.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.checkpoints import note_verifier_keys
from gateway.cli._common import load_settings, require_data_dir
from gateway.cli.ledger_remote import verify_remote
from gateway.runtime import key_store
from keyfiles import KeyDirectory, KeyFileError
from ledger import Event, EventError, LedgerError, ProofError, TamperError, leaf_hash
from ledger.b64 import b64encode
from ledger.note import NoteError, generate_signer_key, verifier_key_from_signer
from ledger.store import Ledger, audit

app = typer.Typer(name="ledger", help="The tamper-evident consent ledger.", no_args_is_help=True)

DEFAULT_ORIGIN = "consentry.local/ledger"
SIGNER_FILE = "ledger-signer.key"
VERIFIER_FILE = "ledger-verifier.pub"
SIGNER_ENV = "CONSENTRY_LEDGER_SIGNER_KEY"

DbOption = typer.Option(None, "--db", help="SQLAlchemy URL (default: the gateway's database).")
JsonOption = typer.Option(False, "--json", help="Print one JSON object.")
KeyFileOption = typer.Option(None, "--key-file", help=f"Checkpoint signer key file (or ${SIGNER_ENV}).")


def data_dir() -> Path:
    return Path(os.environ.get("CONSENTRY_DATA_DIR") or "data")


def db_url(db: str | None, *, create: bool = False) -> str:
    """The given URL, else the gateway's database; without `create` its data directory must already exist, or
    the command would open an empty ledger in a new directory and report on it."""
    if db:
        return db
    settings = load_settings()
    if settings.database_url is None and not create:
        require_data_dir(settings.data_dir)
    return settings.db_url


def shown(url: str) -> str:
    """A URL fit for the terminal: any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit(as_json: bool, obj: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(obj, indent=2, sort_keys=True))
    else:
        for line in lines:
            typer.echo(line)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Map every expected failure to a one-line message: bad input exits 2, never a traceback."""
    try:
        yield
    except (LedgerError, ProofError, NoteError, KeyFileError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {getattr(exc, 'orig', None) or exc}")
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def read_signer_key(key_file: Path | None) -> str | None:
    """The signer key from --key-file, the environment, or the data directory, in that order."""
    if key_file is not None:
        return key_file.read_text(encoding="utf-8").strip()
    if os.environ.get(SIGNER_ENV):
        return os.environ[SIGNER_ENV].strip()
    stored = KeyDirectory(data_dir()).read(SIGNER_FILE)
    return stored.decode("utf-8").strip() if stored is not None else None


def open_ledger(db: str | None, *, signer_key: str | None = None) -> Ledger:
    return Ledger.open(db_url(db), signer_key=signer_key, create=False)


@app.command()
def init(
    db: str | None = DbOption,
    origin: str = typer.Option(DEFAULT_ORIGIN, "--origin", help="Log origin (the checkpoint key's name)."),
    key_file: Path | None = KeyFileOption,
    as_json: bool = JsonOption,
) -> None:
    """Create the ledger (running its migrations) and, if none exists, its checkpoint signer key (mode 0600)."""
    with clean_errors():
        signer = read_signer_key(key_file)
        created_key = False
        if signer is None:
            signer, _ = generate_signer_key(origin)
            if not KeyDirectory(data_dir()).create(SIGNER_FILE, (signer + "\n").encode()):
                fail(f"{data_dir() / SIGNER_FILE} appeared meanwhile; run the command again")
            created_key = True
        verifier = verifier_key_from_signer(signer)
        if key_file is None and not os.environ.get(SIGNER_ENV):
            (data_dir() / VERIFIER_FILE).write_text(verifier + "\n", encoding="utf-8")
        url = db_url(db, create=True)
        with Ledger.open(url, signer_key=signer) as ledger:
            size = ledger.size()
    emit(
        as_json,
        {"db": shown(url), "size": size, "verifier_key": verifier, "created_signer_key": created_key},
        [f"ledger ready at {shown(url)} ({size} entries)", f"verifier key: {verifier}"],
    )


def read_lines(source: Iterable[bytes]) -> list[tuple[int, Event]]:
    """Parse every line before writing anything: one bad line rejects the whole import."""
    events: list[tuple[int, Event]] = []
    for number, raw in enumerate(source, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(f"line {number}: not UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"line {number}: invalid JSON: {exc.msg} at column {exc.colno}")
        try:
            events.append((number, Event.from_mapping(obj)))
        except EventError as exc:
            fail(f"line {number}: {exc}")
    return events


@app.command()
def append(
    source: Path | None = typer.Argument(None, help="File of JSON events, one per line (default: stdin)."),
    db: str | None = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Append JSON events (one per line); all of them in one transaction, or none; print their indices."""
    with clean_errors():
        if source is None or str(source) == "-":
            events = read_lines(sys.stdin.buffer)
        else:
            with source.open("rb") as handle:
                events = read_lines(handle)
        with open_ledger(db) as ledger:
            try:
                indices = ledger.append_many([event for _, event in events])
            except EventError as exc:
                if exc.position is None:
                    raise
                fail(f"line {events[exc.position][0]}: {exc.__cause__ or exc}")
    emit(as_json, {"indices": indices}, [str(i) for i in indices])


@app.command()
def checkpoint(db: str | None = DbOption, key_file: Path | None = KeyFileOption, as_json: bool = JsonOption) -> None:
    """Sign and store a C2SP checkpoint of the current tree; print the signed note."""
    with clean_errors():
        signer = read_signer_key(key_file)
        if signer is None:
            fail(f"no signer key: run `consentry ledger init`, or give --key-file or ${SIGNER_ENV}")
        with open_ledger(db, signer_key=signer) as ledger:
            note = ledger.checkpoint()
    emit(as_json, {"note": note}, [note.rstrip("\n")])


@app.command()
def prove(
    index: int = typer.Argument(..., help="0-based index of the entry."),
    size: int | None = typer.Option(None, "--size", help="Tree size (default: the current size)."),
    db: str | None = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Print the RFC 9162 inclusion proof (audit path) of an entry in the tree of the given size."""
    with clean_errors(), open_ledger(db) as ledger:
        tree_size = ledger.size() if size is None else size
        proof = ledger.inclusion_proof(index, tree_size)
        entry = ledger.entry(index)
        root = ledger.root(tree_size)
    emit(
        as_json,
        {
            "index": index,
            "tree_size": tree_size,
            "entry": entry.decode("utf-8"),
            "leaf_hash": b64encode(leaf_hash(entry)),
            "root": b64encode(root),
            "proof": [b64encode(h) for h in proof],
        },
        [
            f"index {index} in tree size {tree_size}",
            f"leaf hash {b64encode(leaf_hash(entry))}",
            f"root {b64encode(root)}",
        ]
        + [f"proof {b64encode(h)}" for h in proof],
    )


@app.command()
def consistency(
    size1: int = typer.Argument(..., help="The older tree size."),
    size2: int | None = typer.Argument(None, help="The newer tree size (default: the current size)."),
    db: str | None = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Print the RFC 9162 consistency proof that the tree of size1 is a prefix of the tree of size2."""
    with clean_errors(), open_ledger(db) as ledger:
        second = ledger.size() if size2 is None else size2
        proof = ledger.consistency_proof(size1, second)
        root1, root2 = ledger.root(size1), ledger.root(second)
    emit(
        as_json,
        {
            "size1": size1,
            "size2": second,
            "root1": b64encode(root1),
            "root2": b64encode(root2),
            "proof": [b64encode(h) for h in proof],
        },
        [f"size {size1} root {b64encode(root1)}", f"size {second} root {b64encode(root2)}"]
        + [f"proof {b64encode(h)}" for h in proof],
    )


def read_verifier_keys(keys: list[str] | None, ledger: Ledger) -> list[str]:
    """The given keys, else the data directory's: a standalone ledger's verifier file, or the verifier keys of
    the gateway's checkpoint ring under the origin stored with its ledger."""
    if keys:
        return keys
    path = data_dir() / VERIFIER_FILE
    if path.exists():
        return [path.read_text(encoding="utf-8").strip()]
    origin = ledger.stored_origin()
    settings = load_settings()
    has_ring = (settings.data_dir / "keys" / "checkpoint.json").exists() or settings.checkpoint_key is not None
    if origin is None or not has_ring:
        return []
    return note_verifier_keys(origin, key_store(settings).ring("checkpoint"))


@app.command()
def verify(
    db: str | None = DbOption,
    verifier_key: list[str] | None = typer.Option(
        None, "--verifier-key", help="Trusted checkpoint verifier key (default: the data directory's)."
    ),
    as_json: bool = JsonOption,
    url: str | None = typer.Option(
        None, "--url", help="Audit a running gateway through its auditor API instead of a database."
    ),
    state: Path | None = typer.Option(
        None, "--state", help="With --url: file of pinned keys and checkpoints seen (default ~/.consentry/)."
    ),
    token: str | None = typer.Option(None, "--token", envvar="CONSENTRY_AUDIT_TOKEN", help="With --url: token."),
    client_id: str | None = typer.Option(None, "--client-id", help="With --url: auditor client id."),
    client_secret: str | None = typer.Option(
        None, "--client-secret", envvar="CONSENTRY_AUDIT_CLIENT_SECRET", help="With --url: its secret."
    ),
    log_key: list[str] | None = typer.Option(
        None, "--log-key", help="With --url: trust this checkpoint verifier key instead of pinning on first use."
    ),
    sample: int | None = typer.Option(
        None,
        "--sample",
        min=1,
        help="With --url: re-hash N random entries (each by an inclusion proof) instead of every new entry.",
    ),
) -> None:
    """Re-derive every leaf, node, root and checkpoint from the stored rows; exit 1 naming the first bad one.

    With --url, audit a running gateway from outside: verify its latest signed checkpoint, prove it
    consistent with every checkpoint kept in the state file, and re-hash every entry added since the last
    audit (all of them on the first run), naming the first entry the signed checkpoint does not cover."""
    if url is not None:
        verify_remote(
            url,
            state_path=state,
            token=token,
            client_id=client_id,
            client_secret=client_secret,
            log_keys=log_key,
            as_json=as_json,
            sample=sample,
        )
        return
    with clean_errors(), open_ledger(db) as ledger:
        try:
            report = audit(ledger, read_verifier_keys(verifier_key, ledger))
        except TamperError as exc:
            if as_json:
                typer.echo(json.dumps({"ok": False, "where": exc.where, "reason": exc.reason}, sort_keys=True))
            fail(f"verification failed at {exc}", 1)
    emit(
        as_json,
        {
            "ok": True,
            "size": report.size,
            "nodes": report.nodes,
            "payloads": report.payloads,
            "erased_payloads": report.erased_payloads,
            "checkpoints": report.checkpoints,
            "root": b64encode(report.root),
        },
        [
            f"ledger verifies: {report.size} entries, {report.nodes} nodes, {report.checkpoints} checkpoints, "
            f"{report.payloads} payloads ({report.erased_payloads} erased)",
            f"root {b64encode(report.root)}",
        ],
    )


@app.command()
def export(
    db: str | None = DbOption,
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
    as_json: bool = JsonOption,
) -> None:
    """Export what an offline auditor needs: every entry and checkpoint, and the verifier key.

    Plain output is JSON Lines (one record per line, streamable); --json writes one JSON document.
    """
    with clean_errors(), open_ledger(db) as ledger:
        size = ledger.size()
        keys = read_verifier_keys(None, ledger)
        with out.open("w", encoding="utf-8") if out else _stdout() as handle:

            def write(record: dict[str, Any]) -> None:
                handle.write(json.dumps(record, sort_keys=True) + "\n")

            if as_json:
                document = {
                    "size": size,
                    "verifier_keys": keys,
                    "entries": [e.decode("utf-8") for e in ledger.entries(0, size)],
                    "checkpoints": ledger.checkpoints(),
                }
                handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
                return
            write({"kind": "ledger", "size": size, "verifier_keys": keys})
            for start in range(0, size, 10_000):
                for offset, data in enumerate(ledger.entries(start, min(start + 10_000, size))):
                    write({"kind": "entry", "index": start + offset, "data": data.decode("utf-8")})
            for seq, note in enumerate(ledger.checkpoints()):
                write({"kind": "checkpoint", "seq": seq, "note": note})


@contextmanager
def _stdout() -> Iterator[TextIO]:
    yield sys.stdout
