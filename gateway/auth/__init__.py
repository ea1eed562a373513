"""Who is calling: OAuth 2.0 clients, customers, their roles and scopes, and the stores behind them.

Routers take callers through the FastAPI dependencies in `gateway.dependencies`; this package holds the
principals those dependencies yield and the machinery (authorization server, registries) behind them.
"""

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal, Role, Scope

__all__ = ["ClientPrincipal", "CustomerPrincipal", "Role", "Scope"]
