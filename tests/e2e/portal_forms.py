"""The consents page's per-cell forms, read from its HTML the way a browser submits them."""

from __future__ import annotations

from html.parser import HTMLParser


class CellForms(HTMLParser):
    """The forms posting to a path ending in `action`, by the cell (`data-cell`) they sit in: each a list of
    (name, value) inputs."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.cell: str | None = None
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self._current: list[tuple[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "td" and found.get("data-cell"):
            self.cell = found["data-cell"]
        elif tag == "form" and self.cell and (found.get("action") or "").endswith(self.action):
            self._current = self.forms.setdefault(self.cell, [])
        elif tag == "input" and self._current is not None and found.get("name"):
            self._current.append((found["name"] or "", found.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "td":
            self.cell = None
