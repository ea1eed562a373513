"""Registered upstreams: where a source system lives, how it names a subject, and what its fields are.

An upstream is registered by an operator (YAML or JSON) and validated completely on load, so a typo in a
selector or a template is an error at start-up with its exact location, never a leak at run time.

The proxy never forwards a client's path verbatim. It matches the requested path against the upstream's
subject templates, extracts and validates the subject, and *rebuilds* the upstream path from the template
with the subject percent-encoded as a single segment; only the subject's query parameter is forwarded. A
client can therefore reach exactly the resources the operator registered, for exactly one subject.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.upstream.bulk import AnalyticsAttribute, BulkResource
from gateway.upstream.errors import ErasureNotSupported, RectificationNotSupported
from gateway.upstream.fieldmap import FieldMap, FieldMapping
from gateway.upstream.selectors import SelectorSyntaxError, parse_selector

__all__ = [
    "BreakerPolicy",
    "DeletionRule",
    "ErasureRule",
    "FieldRule",
    "InvalidSubject",
    "Limits",
    "RectificationRule",
    "ResolvedRequest",
    "RetryPolicy",
    "SubjectRule",
    "Timeouts",
    "UnknownResource",
    "UpstreamConfig",
    "UpstreamConfigError",
    "load_upstreams",
    "pointer_tokens",
]

PLACEHOLDER = "{subject}"
DEFAULT_SUBJECT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}"
_NAME = r"^[a-z][a-z0-9-]{0,62}$"
_CATEGORY = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$"
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
_QUERY_NAME = r"^[A-Za-z0-9._~-]{1,64}$"
_UNSAFE_SUBJECT = re.compile(r"[/\\\x00-\x1f\x7f]")


class UpstreamConfigError(ValueError):
    """An upstream registration that cannot be used; the message names every problem and where it is."""


class UnknownResource(LookupError):
    """The requested path matches none of the upstream's registered subject templates."""


class InvalidSubject(ValueError):
    """The subject is missing or does not match the upstream's subject pattern."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(template: str, *, placeholder: bool) -> str:
    """A path template: absolute, plain segments, and ``{subject}`` exactly once as a whole segment if asked."""
    if not template.startswith("/"):
        raise ValueError(f"path template {template!r} must start with '/'")
    segments = template[1:].split("/")
    holes = 0
    for segment in segments:
        if segment == PLACEHOLDER:
            holes += 1
        elif segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise ValueError(f"path template {template!r} has an invalid segment {segment!r}")
    if placeholder and holes != 1:
        raise ValueError(f"path template {template!r} must contain {PLACEHOLDER} exactly once, as a whole segment")
    if not placeholder and holes:
        raise ValueError(f"path template {template!r} must not contain {PLACEHOLDER} when the subject is a query")
    return template


class SubjectRule(_Model):
    """Where the subject appears in a request: a ``{subject}`` path segment, or a query parameter.

    ``paths`` lists the resources a client may read, the first being the subject's main record (used
    for portability exports). With ``query`` set, the paths carry no placeholder and the subject travels
    in that query parameter.
    """

    paths: tuple[str, ...] = Field(min_length=1)
    query: str | None = Field(default=None, pattern=_QUERY_NAME)
    pattern: str = DEFAULT_SUBJECT_PATTERN

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"subject pattern {value!r} is not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _templates(self) -> SubjectRule:
        for template in self.paths:
            _check_template(template, placeholder=self.query is None)
        if len(set(self.paths)) != len(self.paths):
            raise ValueError("subject paths must be distinct")
        return self


class Timeouts(_Model):
    """Seconds; every phase is bounded so a stuck upstream cannot hold a gateway worker."""

    connect: float = Field(default=2.0, gt=0, le=60)
    read: float = Field(default=5.0, gt=0, le=300)
    write: float = Field(default=5.0, gt=0, le=300)
    pool: float = Field(default=2.0, gt=0, le=60)


class RetryPolicy(_Model):
    """Retries for idempotent methods only; ``attempts`` counts the first try."""

    attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial: float = Field(default=0.05, ge=0, le=10)
    backoff_max: float = Field(default=1.0, ge=0, le=60)
    on_status: tuple[int, ...] = (502, 503, 504)

    @field_validator("on_status")
    @classmethod
    def _server_errors(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [s for s in value if not 500 <= s <= 599]
        if bad:
            raise ValueError(f"only 5xx statuses can be retried, not {bad}")
        return value


class BreakerPolicy(_Model):
    failure_threshold: int = Field(default=5, ge=1, le=1000)
    reset_timeout: float = Field(default=30.0, gt=0, le=3600)


class Limits(_Model):
    max_request_bytes: int = Field(default=1 << 20, ge=0, le=64 << 20)
    max_response_bytes: int = Field(default=4 << 20, ge=1, le=256 << 20)
    # Filtering costs per leaf, and a few megabytes of JSON can hold millions of them: a response with more
    # leaves, or nested deeper, than this is refused whole (502), never partly filtered and released.
    max_leaves: int = Field(default=100_000, ge=1, le=10_000_000)
    max_depth: int = Field(default=64, ge=1, le=512)
    max_connections: int = Field(default=100, ge=1, le=10_000)
    max_keepalive_connections: int = Field(default=20, ge=0, le=10_000)


class TLSPolicy(_Model):
    """Whom to trust for an https upstream: the system's CA store unless a bundle is named (a partner's private
    CA), and an optional client certificate for mutual TLS. Verification itself cannot be switched off."""

    ca_file: FilePath | None = None
    client_cert_file: FilePath | None = None
    client_key_file: FilePath | None = None

    @model_validator(mode="after")
    def _loadable(self) -> TLSPolicy:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file needs client_cert_file")
        try:
            self.context()
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"the TLS files cannot be loaded: {exc}") from exc
        return self

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        context.set_alpn_protocols(["http/1.1"])
        if self.client_cert_file is not None:
            key = str(self.client_key_file) if self.client_key_file else None
            context.load_cert_chain(str(self.client_cert_file), key)
        return context


class ErasureRule(_Model):
    """How the source system deletes a subject's data (GDPR Art. 17 forwarding)."""

    method: Literal["DELETE", "POST"] = "DELETE"
    path: str
    query: str | None = Field(default=None, pattern=_QUERY_NAME)

    @model_validator(mode="after")
    def _template(self) -> ErasureRule:
        _check_template(self.path, placeholder=self.query is None)
        return self


class DeletionRule(ErasureRule):
    """How the source system deletes some categories of a subject's data (retention minimisation): the gateway
    sends `{"categories": [...], "fields": [...]}` (the field selectors of this registration) as JSON."""

    method: Literal["DELETE", "POST"] = "POST"


class RectificationRule(_Model):
    """How the source system corrects a subject's field (GDPR Art. 16, PIPL Art. 46 forwarding): a JSON Merge
    Patch (RFC 7396) sent to `path`. `fields` are the JSON Pointers (RFC 6901) a customer may correct; each
    must be a mapped field of this upstream, so its data category names what is corrected."""

    method: Literal["PATCH", "PUT", "POST"] = "PATCH"
    path: str
    query: str | None = Field(default=None, pattern=_QUERY_NAME)
    fields: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _template(self) -> RectificationRule:
        _check_template(self.path, placeholder=self.query is None)
        for pointer in self.fields:
            if not re.fullmatch(r"(/[^/~]*(~[01][^/~]*)*)+", pointer):
                raise ValueError(f"rectifiable field {pointer!r} is not a JSON Pointer (RFC 6901)")
        return self


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON Pointer, unescaped."""
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer.split("/")[1:]]


class FieldRule(_Model):
    selector: str
    category: str = Field(pattern=_CATEGORY, max_length=128)
    subtree: bool = False

    @field_validator("selector")
    @classmethod
    def _selector_parses(cls, value: str) -> str:
        try:
            parse_selector(value)
        except SelectorSyntaxError as exc:
            raise ValueError(str(exc)) from exc
        return value


@dataclass(frozen=True, slots=True)
class ResolvedRequest:
    """A client request mapped onto the upstream: whose data, and the exact path and query to send."""

    subject: str
    path: str
    params: Mapping[str, str]


class UpstreamConfig(_Model):
    name: str = Field(pattern=_NAME)
    base_url: str
    subject: SubjectRule
    timeouts: Timeouts = Timeouts()
    retries: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    limits: Limits = Limits()
    tls: TLSPolicy = TLSPolicy()
    erasure: ErasureRule | None = None
    deletion: DeletionRule | None = None
    rectification: RectificationRule | None = None
    fields: tuple[FieldRule, ...] = Field(min_length=1)
    bulk: BulkResource | None = None
    attributes: tuple[AnalyticsAttribute, ...] = ()

    _field_map: FieldMap = PrivateAttr()
    _subject_re: re.Pattern[str] = PrivateAttr()

    @field_validator("subject", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"paths": [value]} if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"base_url {value!r} is not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url {value!r} must be an absolute http(s) URL")
        if url.userinfo:
            raise ValueError("base_url must not carry credentials")
        if url.query or url.fragment:
            raise ValueError("base_url must not have a query or a fragment")
        return value.rstrip("/")

    @field_validator("fields")
    @classmethod
    def _distinct(cls, value: tuple[FieldRule, ...]) -> tuple[FieldRule, ...]:
        seen: set[tuple[str, str]] = set()
        for rule in value:
            if (rule.selector, rule.category) in seen:
                raise ValueError(f"duplicate mapping of {rule.selector!r} to {rule.category!r}")
            seen.add((rule.selector, rule.category))
        return value

    @model_validator(mode="after")
    def _analytics(self) -> UpstreamConfig:
        if self.attributes and self.bulk is None:
            raise ValueError("attributes for aggregates need a bulk resource to read them from")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError("attribute names must be distinct")
        return self

    @model_validator(mode="after")
    def _rectifiable_fields_are_mapped(self) -> UpstreamConfig:
        if self.rectification is not None:
            mapped = {rule.selector for rule in self.fields if not rule.subtree}
            for pointer in self.rectification.fields:
                if pointer not in mapped:
                    raise ValueError(f"rectifiable field {pointer!r} is not a mapped field (without subtree)")
        return self

    def rectifiable(self) -> dict[str, str]:
        """Data category -> the JSON Pointer of the field that holds it and that the customer may correct."""
        if self.rectification is None:
            return {}
        category = {rule.selector: rule.category for rule in self.fields}
        return {category[pointer]: pointer for pointer in self.rectification.fields}

    def rectification_request(self, subject: str) -> tuple[str, ResolvedRequest]:
        """The method and request that correct a subject's record upstream (`RectificationNotSupported` if none)."""
        if self.rectification is None:
            raise RectificationNotSupported(f"upstream {self.name!r} does not support rectification")
        self.check_subject(subject)
        rule = self.rectification
        if rule.query is not None:
            return rule.method, ResolvedRequest(subject, rule.path, {rule.query: subject})
        return rule.method, ResolvedRequest(subject, _fill(rule.path, subject), {})

    def attribute(self, name: str) -> AnalyticsAttribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def model_post_init(self, context: Any, /) -> None:
        mappings = tuple(FieldMapping(parse_selector(r.selector), r.category, r.subtree) for r in self.fields)
        self._field_map = FieldMap(mappings)
        self._subject_re = re.compile(self.subject.pattern)

    # Cached: reading a pydantic private attribute goes through `BaseModel.__getattr__` (~2 µs), and every
    # proxied read asks for these several times; the cached copy sits in the instance's own dictionary.
    @cached_property
    def field_map(self) -> FieldMap:
        return self._field_map

    @cached_property
    def _subject_pattern(self) -> re.Pattern[str]:
        return self._subject_re

    @property
    def supports_erasure(self) -> bool:
        return self.erasure is not None

    def check_subject(self, subject: str) -> str:
        """Return ``subject`` if it matches this upstream's pattern, else raise ``InvalidSubject``.

        Whatever the configured pattern, a subject is never a dot segment and never holds a slash,
        backslash or control character: an upstream that decodes ``%2F`` must not be walked out of its path.
        """
        unsafe = subject in ("", ".", "..") or _UNSAFE_SUBJECT.search(subject) is not None
        if unsafe or not self._subject_pattern.fullmatch(subject):
            raise InvalidSubject(f"{subject!r} is not a valid subject identifier for upstream {self.name!r}")
        return subject

    def resolve(self, path: str, query: Mapping[str, str] | None = None) -> ResolvedRequest:
        """Map a client's requested path (and query) onto a registered resource of this upstream."""
        requested = path if path.startswith("/") else "/" + path
        parts = requested[1:].split("/")
        query = query or {}
        for template in self.subject.paths:
            segments = template[1:].split("/")
            if len(segments) != len(parts):
                continue
            if self.subject.query is not None:
                if segments == parts:
                    subject = self.check_subject(query.get(self.subject.query, ""))
                    return ResolvedRequest(subject, template, {self.subject.query: subject})
                continue
            subject_at = segments.index(PLACEHOLDER)
            if all(s == p for i, (s, p) in enumerate(zip(segments, parts, strict=True)) if i != subject_at):
                subject = self.check_subject(parts[subject_at])
                return ResolvedRequest(subject, _fill(template, subject), {})
        raise UnknownResource(f"{requested!r} is not a registered resource of upstream {self.name!r}")

    def record_request(self, subject: str) -> ResolvedRequest:
        """The request that reads a subject's main record (the first subject path)."""
        self.check_subject(subject)
        template = self.subject.paths[0]
        if self.subject.query is not None:
            return ResolvedRequest(subject, template, {self.subject.query: subject})
        return ResolvedRequest(subject, _fill(template, subject), {})

    def deletion_request(self, subject: str) -> tuple[str, ResolvedRequest] | None:
        """The method and request that delete categories of a subject upstream, or None if it has none."""
        if self.deletion is None:
            return None
        self.check_subject(subject)
        if self.deletion.query is not None:
            return self.deletion.method, ResolvedRequest(subject, self.deletion.path, {self.deletion.query: subject})
        return self.deletion.method, ResolvedRequest(subject, _fill(self.deletion.path, subject), {})

    def selectors_of(self, categories: Iterable[str]) -> tuple[str, ...]:
        """The registered field selectors that map to any of `categories`."""
        wanted = set(categories)
        return tuple(dict.fromkeys(rule.selector for rule in self.fields if rule.category in wanted))

    def erasure_request(self, subject: str) -> tuple[str, ResolvedRequest]:
        """The method and request that erase a subject upstream; ``ErasureNotSupported`` if it cannot."""
        if self.erasure is None:
            raise ErasureNotSupported(f"upstream {self.name!r} does not support erasure")
        self.check_subject(subject)
        if self.erasure.query is not None:
            return self.erasure.method, ResolvedRequest(subject, self.erasure.path, {self.erasure.query: subject})
        return self.erasure.method, ResolvedRequest(subject, _fill(self.erasure.path, subject), {})


def _fill(template: str, subject: str) -> str:
    return template.replace(PLACEHOLDER, quote(subject, safe=""))


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def load_upstreams(source: Mapping[str, Any] | str | Path) -> dict[str, UpstreamConfig]:
    """Load ``{"upstreams": [...]}`` from a mapping or a YAML/JSON file; every problem is reported at once."""
    if isinstance(source, str | Path):
        file = Path(source)
        try:
            text = file.read_text(encoding="utf-8")
            data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except OSError as exc:
            raise UpstreamConfigError(f"cannot read upstream registry {file}: {exc.strerror}") from exc
        except (ValueError, yaml.YAMLError) as exc:
            raise UpstreamConfigError(f"{file} is not valid {file.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    else:
        data = source
    if not isinstance(data, Mapping) or not isinstance(data.get("upstreams"), list):
        raise UpstreamConfigError("an upstream registry is a mapping with an 'upstreams' list")
    configs: dict[str, UpstreamConfig] = {}
    problems: list[str] = []
    for number, entry in enumerate(data["upstreams"]):
        try:
            config = UpstreamConfig.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                where = _location(("upstreams", number, *error["loc"]))
                problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
            continue
        if config.name in configs:
            problems.append(f"upstreams[{number}].name: duplicate upstream name {config.name!r}")
        configs[config.name] = config
    if problems:
        raise UpstreamConfigError("invalid upstream registry:\n  " + "\n  ".join(problems))
    return configs
