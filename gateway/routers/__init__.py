"""Routers per actor: each module owns one prefix and names, through its dependencies, who may call it."""
