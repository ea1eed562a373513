"""Running `consentry ledger …` in-process against a data directory, as an operator would."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from gateway.cli import app


def run(data_dir: Path, *args: str, stdin: bytes | str | None = None) -> Result:
    runner = CliRunner(env={"CONSENTRY_DATA_DIR": str(data_dir), "CONSENTRY_LEDGER_SIGNER_KEY": None})
    result = runner.invoke(app, ["ledger", *args], input=stdin)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def events_jsonl(count: int, *, subject: str = "s1", start: int = 0) -> str:
    lines = [
        f'{{"type": "consent.given", "actor": "system", "subject": "{subject}", "payload": {{"n": {start + n}}}}}'
        for n in range(count)
    ]
    return "\n".join(lines) + "\n"
