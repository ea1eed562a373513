"""Password sign-in under load from people who have no account: what stands in front of each argon2id check.

An argon2id check costs 64 MiB and tens of milliseconds of CPU, and anybody can ask for one. Unguarded, 80
sign-ins at concurrency 40 took the process from 144 MiB to 2.26 GiB and stalled `/healthz` for 9.4 s. So,
in this order, each cheap and each before any password is looked at:

1. a per-address allowance (GCRA, `CONSENTRY_SIGN_IN_RATE_PER_ADDRESS` / `_BURST_PER_ADDRESS`) and a global
   one for every credential check of the process (`CONSENTRY_CREDENTIAL_CHECK_RATE` / `_BURST`);
2. a gate of `CONSENTRY_PASSWORD_CHECK_CONCURRENCY` hashes at once, with `CONSENTRY_PASSWORD_CHECK_QUEUE`
   callers waiting on the event loop (holding no thread, so `/healthz` and every other route keep their
   thread pool; the hashes run on the gate's own threads at a lower CPU priority); a caller beyond the queue
   is refused at once;
3. the lockout's reservation for (username, address) in the database (`LoginThrottle.reserve`), taken
   atomically before the check so parallel guesses can never run more checks than the lockout allows.

Refusals at 1 and 2 are `RateLimitedError`s, at 3 a `LoginLockedError`; the routes answer both with 429
and Retry-After (problem+json for the API, the sign-in page for the portal).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.customers import CustomerStore, LoginThrottle
from gateway.auth.principals import CustomerPrincipal
from gateway.auth.rate_limits import GLOBAL_KEY, PasswordCheckGate, RateLimitedError, RateLimiter, RequestLimits


@dataclass(frozen=True)
class PasswordSignIn:
    """One password sign-in with every guard above; build one per request from the runtime's parts."""

    throttle: LoginThrottle
    customers: CustomerStore
    per_address: RateLimiter
    global_checks: RateLimiter
    gate: PasswordCheckGate

    async def attempt(self, username: str, password: str, address: str) -> CustomerPrincipal | None:
        """The customer, or None for a wrong username or password. Raises `RateLimitedError` when a limit or
        the gate refuses (nothing counted against the username) and `LoginLockedError` when the username is
        locked for this address."""
        self.per_address.hit(address)
        try:
            self.global_checks.hit(GLOBAL_KEY)
        except RateLimitedError:
            self.per_address.refund(address)
            raise
        return await self.gate.run(self._check, username, password, address)

    def _check(self, username: str, password: str, address: str) -> CustomerPrincipal | None:
        self.throttle.reserve(username, address)
        customer = self.customers.authenticate(username, password)
        if customer is None:
            self.throttle.failed(username, address)
            return None
        self.throttle.succeeded(username, address)
        return customer


def password_sign_in(limits: RequestLimits, throttle: LoginThrottle, customers: CustomerStore) -> PasswordSignIn:
    """The sign-in over the process's limits (the same for the API and the portal: one allowance per address)."""
    return PasswordSignIn(
        throttle=throttle,
        customers=customers,
        per_address=limits.sign_in_per_address,
        global_checks=limits.credential_checks_global,
        gate=limits.password_checks,
    )
