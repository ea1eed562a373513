"""Configuration from CONSENTRY_* variables, with safe defaults."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import Settings


def test_default_database_is_embedded_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.db_url == f"sqlite:///{(tmp_path / 'consentry.db').resolve()}"


def test_environment_variables_configure_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSENTRY_DATABASE_URL", "postgresql+psycopg://u@db/consentry")
    monkeypatch.setenv("CONSENTRY_ISSUER", "https://gateway.example.com:8443/")
    monkeypatch.setenv("CONSENTRY_MAX_BODY_BYTES", "1024")
    settings = Settings()
    assert settings.db_url == "postgresql+psycopg://u@db/consentry"
    assert settings.issuer == "https://gateway.example.com:8443"
    assert settings.issuer_domain == "gateway.example.com:8443"
    assert settings.audience == settings.issuer
    assert settings.secure_cookies
    assert settings.max_body_bytes == 1024


@pytest.mark.parametrize("issuer", ["ftp://x", "gateway.example.com", "https://x/?q=1", "https://x/#f"])
def test_issuer_must_be_an_http_base_url(issuer: str) -> None:
    with pytest.raises(ValidationError, match="issuer"):
        Settings(issuer=issuer)


def test_secrets_do_not_appear_in_the_settings_repr() -> None:
    settings = Settings(pseudonym_key="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA")
    assert "c2VjcmV0" not in repr(settings)


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().trusted_proxies == ()


def test_trusted_proxies_are_comma_separated_addresses_and_cidr_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.10 ,2001:db8::/48,::1")
    assert Settings().trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.10/32"),  # an address is its own network
        ip_network("2001:db8::/48"),
        ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("proxy.internal", "'proxy.internal' is not an IP address or CIDR network (host names are not resolved)"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR network"),
        ('["10.0.0.1"]', """'["10.0.0.1"]' is not an IP address or CIDR network"""),
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set; the network is 10.0.0.0/8"),
        ("10.0.0.1,,10.0.0.2", "entry 2 is empty"),
        ("10.0.0.1,", "entry 2 is empty"),
        ("0.0.0.0/0", "'0.0.0.0/0' trusts every address, so any caller could choose its own address"),
        ("10.0.0.1, ::/0", "'::/0' trusts every address"),
    ],
)
def test_a_trusted_proxies_value_that_is_not_a_list_of_networks_is_refused_precisely(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("CONSENTRY_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert refused.value.errors()[0]["loc"] == ("trusted_proxies",)
    assert message in refused.value.errors()[0]["msg"]


def test_trusted_proxies_given_in_code_are_held_to_the_same_rules() -> None:
    assert Settings(trusted_proxies=["10.0.0.0/8"]).trusted_proxies == (ip_network("10.0.0.0/8"),)
    with pytest.raises(ValidationError, match="trusts every address"):
        Settings(trusted_proxies=[ip_network("0.0.0.0/0")])


def test_serve_refuses_to_start_with_bad_trusted_proxies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSENTRY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert (
        "error: bad configuration: CONSENTRY_TRUSTED_PROXIES: Value error, 'proxy.internal' is not an IP address "
        "or CIDR network (host names are not resolved)"
    ) in result.stderr
    assert not (tmp_path / "consentry.db").exists()  # refused before anything was created
