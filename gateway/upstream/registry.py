"""The set of registered upstreams and their clients, one pooled client per upstream for the process.

Clients are created on first use, inside the running event loop that will use them, and closed together
when the gateway shuts down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.upstream.client import UpstreamClient
from gateway.upstream.config import UpstreamConfig, load_upstreams
from gateway.upstream.errors import UnknownUpstream

__all__ = ["UpstreamRegistry"]


class UpstreamRegistry:
    def __init__(
        self,
        configs: Mapping[str, UpstreamConfig],
        *,
        client_factory: Callable[[UpstreamConfig], UpstreamClient] = UpstreamClient,
    ) -> None:
        self._configs = dict(configs)
        self._factory = client_factory
        self._clients: dict[str, UpstreamClient] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> UpstreamRegistry:
        return cls(load_upstreams(path))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._configs))

    def config(self, name: str) -> UpstreamConfig:
        try:
            return self._configs[name]
        except KeyError:
            raise UnknownUpstream(f"no upstream is registered as {name!r}") from None

    def client(self, name: str) -> UpstreamClient:
        if name not in self._clients:
            self._clients[name] = self._factory(self.config(name))
        return self._clients[name]

    def erasable(self) -> tuple[str, ...]:
        """Names of the upstreams an erasure request must be forwarded to."""
        return tuple(name for name in self.names if self._configs[name].supports_erasure)

    def deleting(self) -> tuple[str, ...]:
        """Names of the upstreams that delete categories of a subject on request (retention minimisation)."""
        return tuple(name for name in self.names if self._configs[name].deletion is not None)

    def rectifiable(self, category: str) -> tuple[tuple[str, str], ...]:
        """(upstream, JSON Pointer) of every field holding `category` that a rectification is forwarded to."""
        found = ((name, self._configs[name].rectifiable().get(category)) for name in self.names)
        return tuple((name, pointer) for name, pointer in found if pointer is not None)

    def rectifiable_categories(self) -> tuple[str, ...]:
        """Every data category a customer can ask to correct at some source system."""
        return tuple(sorted({c for name in self.names for c in self._configs[name].rectifiable()}))

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
