"""Test-only helpers shared by unit and end-to-end tests (never imported by the gateway)."""
