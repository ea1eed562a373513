"""The command line's root: unknown names are refused with a precise message and exit 2."""

from typer.testing import CliRunner

from gateway.cli import app


def test_unknown_benchmark_is_refused_with_the_list_of_names() -> None:
    result = CliRunner().invoke(app, ["bench", "no-such-bench"])
    assert result.exit_code == 2
    assert "unknown benchmark 'no-such-bench'" in result.output
