"""The relay's in-worker wake-ups and the bound on held long polls."""

from __future__ import annotations

import asyncio

from gateway.zk.signals import Signals


def test_a_notification_wakes_the_waiter_of_that_key_only() -> None:
    signals = Signals()

    async def scenario() -> tuple[bool, bool]:
        woken = asyncio.create_task(signals.wait("wallet:a", 30))
        other = asyncio.create_task(signals.wait("wallet:b", 0.2))
        await asyncio.sleep(0)
        signals.notify("wallet:a")
        return await woken, await other

    assert asyncio.run(scenario()) == (True, False)


def test_held_requests_are_bounded_per_key_and_released_on_exit() -> None:
    signals = Signals()
    with (
        signals.holding("poll:a", 2) as first,
        signals.holding("poll:a", 2) as second,
        signals.holding("poll:a", 2) as third,
        signals.holding("poll:b", 2) as elsewhere,
    ):
        assert (first, second, third, elsewhere) == (True, True, False, True)
    with signals.holding("poll:a", 2) as again:
        assert again
