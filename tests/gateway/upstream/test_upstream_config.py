"""Upstream registration: validated on load with precise errors; requests resolved onto registered resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.upstream import (
    ErasureNotSupported,
    InvalidSubject,
    RectificationNotSupported,
    UnknownResource,
    UnknownUpstream,
    UpstreamConfig,
    UpstreamConfigError,
    UpstreamRegistry,
    load_upstreams,
)


def entry(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "vehicle-cloud",
        "base_url": "http://127.0.0.1:8701/",
        "subject": "/customers/{subject}",
        "fields": [{"selector": "/name", "category": "identity.name"}],
    }
    data.update(overrides)
    return data


def test_minimal_entry_gets_safe_defaults() -> None:
    config = load_upstreams({"upstreams": [entry()]})["vehicle-cloud"]
    assert config.base_url == "http://127.0.0.1:8701"
    assert config.subject.paths == ("/customers/{subject}",)
    assert (config.timeouts.connect, config.timeouts.read) == (2.0, 5.0)
    assert config.retries.on_status == (502, 503, 504)
    assert config.supports_erasure is False
    assert len(config.field_map.mappings) == 1


def test_loads_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "upstreams.yaml"
    yaml_file.write_text(
        "upstreams:\n"
        "  - name: billing\n"
        "    base_url: https://billing.internal/api\n"
        "    subject: {paths: [/accounts], query: account}\n"
        "    fields:\n"
        "      - {selector: '$.invoices[*].amount', category: financial.invoices}\n"
    )
    json_file = tmp_path / "upstreams.json"
    json_file.write_text(json.dumps({"upstreams": [entry()]}))
    assert list(load_upstreams(yaml_file)) == ["billing"]
    assert list(UpstreamRegistry.from_file(json_file).names) == ["vehicle-cloud"]


@pytest.mark.parametrize(
    ("overrides", "location", "message"),
    [
        ({"name": "Vehicle Cloud"}, "upstreams[0].name", "should match pattern"),
        ({"base_url": "ftp://x"}, "upstreams[0].base_url", "absolute http(s) URL"),
        ({"base_url": "http://user:pw@host"}, "upstreams[0].base_url", "must not carry credentials"),
        ({"base_url": "http://host/?q=1"}, "upstreams[0].base_url", "query or a fragment"),
        ({"subject": "customers/{subject}"}, "upstreams[0].subject", "must start with '/'"),
        ({"subject": "/customers"}, "upstreams[0].subject", "exactly once"),
        ({"subject": "/c/{subject}/{subject}"}, "upstreams[0].subject", "exactly once"),
        ({"subject": "/c/id-{subject}"}, "upstreams[0].subject", "invalid segment 'id-{subject}'"),
        ({"subject": "/c/../{subject}"}, "upstreams[0].subject", "invalid segment '..'"),
        ({"subject": {"paths": ["/c/{subject}"], "query": "id"}}, "upstreams[0].subject", "must not contain"),
        ({"subject": {"paths": ["/c/{subject}"], "pattern": "("}}, "upstreams[0].subject.pattern", "not a regular"),
        ({"timeouts": {"read": 0}}, "upstreams[0].timeouts.read", "greater than 0"),
        ({"retries": {"attempts": 0}}, "upstreams[0].retries.attempts", "greater than or equal to 1"),
        ({"retries": {"on_status": [404]}}, "upstreams[0].retries.on_status", "only 5xx"),
        ({"erasure": {"path": "/customers"}}, "upstreams[0].erasure", "exactly once"),
        ({"fields": []}, "upstreams[0].fields", "at least 1 item"),
        (
            {"fields": [{"selector": "$.a[", "category": "x.a"}]},
            "upstreams[0].fields[0].selector",
            "invalid selector '$.a[' at position 3: unterminated '['",
        ),
        ({"fields": [{"selector": "a.b", "category": "x.a"}]}, "upstreams[0].fields[0].selector", "JSON Pointer"),
        ({"fields": [{"selector": "/a", "category": "X A"}]}, "upstreams[0].fields[0].category", "pattern"),
        (
            {"fields": [{"selector": "/a", "category": "x.a"}, {"selector": "/a", "category": "x.a"}]},
            "upstreams[0].fields",
            "duplicate mapping",
        ),
        ({"unknown": 1}, "upstreams[0].unknown", "Extra inputs are not permitted"),
    ],
)
def test_every_mistake_is_reported_with_its_location(overrides: dict[str, Any], location: str, message: str) -> None:
    with pytest.raises(UpstreamConfigError) as caught:
        load_upstreams({"upstreams": [entry(**overrides)]})
    lines = str(caught.value).splitlines()
    assert any(line.strip().startswith(location + ":") and message in line for line in lines), lines


def test_all_problems_are_reported_at_once() -> None:
    bad = {"upstreams": [entry(name="A"), entry(), entry(), entry(timeouts={"connect": -1})]}
    with pytest.raises(UpstreamConfigError) as caught:
        load_upstreams(bad)
    text = str(caught.value)
    assert "upstreams[0].name" in text
    assert "upstreams[2].name: duplicate upstream name 'vehicle-cloud'" in text
    assert "upstreams[3].timeouts.connect" in text


@pytest.mark.parametrize(
    ("source", "message"),
    [({"upstream": []}, "'upstreams' list"), ([], "'upstreams' list")],
)
def test_registry_shape_is_checked(source: Any, message: str) -> None:
    with pytest.raises(UpstreamConfigError, match=message):
        load_upstreams(source)


def test_unreadable_or_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(UpstreamConfigError, match="cannot read upstream registry"):
        load_upstreams(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UpstreamConfigError, match=r"broken\.json is not valid json"):
        load_upstreams(broken)


# --- resolving a client's path onto the upstream --------------------------------------------------------


def multi() -> UpstreamConfig:
    return UpstreamConfig.model_validate(
        entry(
            subject={"paths": ["/customers/{subject}", "/customers/{subject}/trips"]},
            erasure={"path": "/gdpr/{subject}"},
        )
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("customers/cust-1001", "/customers/cust-1001"),
        ("/customers/cust-1001", "/customers/cust-1001"),
        ("customers/cust-1001/trips", "/customers/cust-1001/trips"),
    ],
)
def test_registered_paths_resolve_to_a_rebuilt_upstream_path(path: str, expected: str) -> None:
    resolved = multi().resolve(path)
    assert (resolved.subject, resolved.path, dict(resolved.params)) == ("cust-1001", expected, {})


@pytest.mark.parametrize("path", ["customers", "customers/cust-1001/secrets", "admin/cust-1001", "customers/a/b/c", ""])
def test_unregistered_paths_are_unknown_resources(path: str) -> None:
    with pytest.raises(UnknownResource, match="not a registered resource of upstream 'vehicle-cloud'"):
        multi().resolve(path)


@pytest.mark.parametrize("subject", ["..", ".", "-leading-dash", "a" * 129, "a b", "ä", "a%2Fb", "a?b"])
def test_subjects_outside_the_pattern_are_invalid(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        multi().resolve(f"customers/{subject}")


def test_an_empty_subject_segment_is_an_invalid_subject() -> None:
    with pytest.raises(InvalidSubject, match="'' is not a valid subject identifier"):
        multi().resolve("customers//trips")


def test_custom_subject_pattern_is_percent_encoded_as_one_segment() -> None:
    config = UpstreamConfig.model_validate(entry(subject={"paths": ["/u/{subject}"], "pattern": r"[^/]+@[^/]+"}))
    assert config.record_request("li@example.cn").path == "/u/li%40example.cn"


@pytest.mark.parametrize("subject", ["a/b", "a\\b", "..", "a\nb", "a\x7fb"])
def test_no_pattern_admits_slashes_dot_segments_or_control_characters(subject: str) -> None:
    config = UpstreamConfig.model_validate(entry(subject={"paths": ["/u/{subject}"], "pattern": ".*"}))
    with pytest.raises(InvalidSubject):
        config.record_request(subject)
    assert config.record_request("a b").path == "/u/a%20b"


def test_query_subjects_forward_only_the_subject_parameter() -> None:
    config = UpstreamConfig.model_validate(entry(subject={"paths": ["/customers"], "query": "id"}))
    resolved = config.resolve("/customers", {"id": "cust-1001", "include": "everything"})
    assert (resolved.subject, resolved.path, dict(resolved.params)) == ("cust-1001", "/customers", {"id": "cust-1001"})
    with pytest.raises(InvalidSubject):
        config.resolve("/customers", {})


def test_record_and_erasure_requests() -> None:
    config = multi()
    assert config.record_request("cust-1001").path == "/customers/cust-1001"
    method, resolved = config.erasure_request("cust-1001")
    assert (method, resolved.path) == ("DELETE", "/gdpr/cust-1001")
    query_erasure = UpstreamConfig.model_validate(entry(erasure={"method": "POST", "path": "/erase", "query": "who"}))
    method, resolved = query_erasure.erasure_request("cust-1")
    assert (method, resolved.path, dict(resolved.params)) == ("POST", "/erase", {"who": "cust-1"})
    with pytest.raises(ErasureNotSupported):
        UpstreamConfig.model_validate(entry()).erasure_request("cust-1001")
    with pytest.raises(InvalidSubject):
        config.erasure_request("../x")


def test_rectifiable_fields_must_be_mapped_pointers_and_name_their_category() -> None:
    fields = [
        {"selector": "/name", "category": "identity.name"},
        {"selector": "/contact/phone", "category": "contact.phone"},
    ]
    config = UpstreamConfig.model_validate(
        entry(fields=fields, rectification={"path": "/customers/{subject}", "fields": ["/contact/phone"]})
    )
    assert config.rectifiable() == {"contact.phone": "/contact/phone"}
    method, resolved = config.rectification_request("cust-1")
    assert (method, resolved.path) == ("PATCH", "/customers/cust-1")
    assert UpstreamRegistry({"vehicle-cloud": config}).rectifiable("contact.phone") == (
        ("vehicle-cloud", "/contact/phone"),
    )
    with pytest.raises(RectificationNotSupported):
        UpstreamConfig.model_validate(entry()).rectification_request("cust-1")
    for bad, message in (
        (["/email"], "'/email' is not a mapped field"),
        (["phone"], "'phone' is not a JSON Pointer"),
    ):
        with pytest.raises(UpstreamConfigError, match=message):
            load_upstreams({"upstreams": [entry(fields=fields, rectification={"path": "/c/{subject}", "fields": bad})]})


@pytest.mark.anyio
async def test_registry_hands_out_one_client_per_upstream() -> None:
    registry = UpstreamRegistry(
        load_upstreams({"upstreams": [entry(), entry(name="billing", erasure={"path": "/x/{subject}"})]})
    )
    assert registry.client("billing") is registry.client("billing")
    assert registry.client("billing") is not registry.client("vehicle-cloud")
    assert registry.erasable() == ("billing",)
    with pytest.raises(UnknownUpstream, match="'crm'"):
        registry.client("crm")
    await registry.aclose()
