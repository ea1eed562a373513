"""The Consentry gateway service: HTTP API, OAuth 2.0, proxy, portal, storage wiring and CLI."""
