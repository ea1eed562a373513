"""Configuration from CONSENTRY_* variables, with safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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
