"""Reads a source's bulk resource page by page: at most one page is held at a time, whatever the source's size.

Each page is fetched through the source's pooled client (timeouts, retries, breaker, response size cap), and
must make progress: a cursor that repeats, a page larger than asked for or more pages than the registration
allows is refused, so a faulty or hostile source cannot hold a gateway worker forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.upstream import (
    InvalidSubject,
    UpstreamClient,
    UpstreamConfig,
    UpstreamError,
    UpstreamResponseRefused,
    resolve_pointer,
)

__all__ = ["read_pages"]


async def read_pages(client: UpstreamClient, config: UpstreamConfig) -> AsyncIterator[list[tuple[str, Any]]]:
    """Yield each page as (source subject, item) pairs; items without a valid subject are skipped."""
    bulk = config.bulk
    if bulk is None:
        raise UpstreamResponseRefused(config.name, "the source declares no bulk resource")
    cursor: str | None = None
    for _ in range(bulk.max_pages):
        params = {bulk.limit_query: str(bulk.page_size)}
        if cursor is not None:
            params[bulk.cursor_query] = cursor
        response = await client.request("GET", bulk.path, params=params)
        if response.status_code >= 400:
            raise UpstreamError(config.name, response.status_code)
        page = response.json()
        items = resolve_pointer(page, bulk.items)
        if not isinstance(items, list) or len(items) > bulk.page_size:
            raise UpstreamResponseRefused(config.name, f"a bulk page has no list of at most {bulk.page_size} items")
        pairs: list[tuple[str, Any]] = []
        for item in items:
            subject = resolve_pointer(item, bulk.subject)
            if not isinstance(subject, str):
                continue
            try:
                pairs.append((config.check_subject(subject), item))
            except InvalidSubject:
                continue
        yield pairs
        following = resolve_pointer(page, bulk.next)
        if following is None:
            return
        if isinstance(following, bool) or not isinstance(following, str | int) or str(following) == cursor:
            raise UpstreamResponseRefused(config.name, "the bulk resource's next cursor makes no progress")
        cursor = str(following)
    raise UpstreamResponseRefused(config.name, f"the bulk resource has more than {bulk.max_pages} pages")
