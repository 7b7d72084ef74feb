"""The bus on real Redis: what one process publishes reaches every process, once."""

import asyncio
import os
import uuid

import pytest

from studymission.realtime.bus import InProcessBus, Message, RedisBus
from tests.conftest import need
from tests.integration.helpers import run_async

REDIS_URL = os.environ.get("STUDYMISSION_TEST_REDIS_URL", "")

pytestmark = pytest.mark.integration


def test_in_process_bus_delivers_to_its_own_process() -> None:
    async def scenario() -> list[Message]:
        received: list[Message] = []

        async def deliver(message: Message) -> None:
            received.append(message)

        bus = InProcessBus()
        await bus.publish({"kind": "notice", "event": "E", "text": "before start"})
        await bus.start(deliver)
        await bus.publish({"kind": "notice", "event": "E", "text": "hello"})
        await bus.stop()
        await bus.publish({"kind": "notice", "event": "E", "text": "after stop"})
        return received

    assert run_async(scenario()) == [{"kind": "notice", "event": "E", "text": "hello"}]


def test_redis_bus_reaches_every_process_exactly_once() -> None:
    need(bool(REDIS_URL), "STUDYMISSION_TEST_REDIS_URL is not set (no Redis to test)")
    # A channel of its own, so that other tests on the same Redis are not heard.
    channel = f"studymission:test:{uuid.uuid4().hex}"

    async def scenario() -> tuple[list[Message], list[Message]]:
        first: list[Message] = []
        second: list[Message] = []

        def collector(into: list[Message]):  # type: ignore[no-untyped-def]
            async def deliver(message: Message) -> None:
                into.append(message)

            return deliver

        a, b = RedisBus(REDIS_URL, channel), RedisBus(REDIS_URL, channel)
        try:
            await a.start(collector(first))
            await b.start(collector(second))
            await a.publish({"kind": "notice", "event": "E", "text": "from A"})
            await b.publish({"kind": "notice", "event": "E", "text": "from B"})
            for _ in range(100):
                if len(first) == 2 and len(second) == 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            await a.stop()
            await b.stop()
        return first, second

    try:
        first, second = run_async(scenario())
    except OSError as error:
        need(False, f"Redis at {REDIS_URL} is unreachable: {error}")
        return
    texts = ["from A", "from B"]
    assert [m["text"] for m in first] == texts
    assert [m["text"] for m in second] == texts


def test_redis_bus_survives_a_message_that_is_not_json() -> None:
    need(bool(REDIS_URL), "STUDYMISSION_TEST_REDIS_URL is not set (no Redis to test)")
    channel = f"studymission:test:{uuid.uuid4().hex}"

    async def scenario() -> list[Message]:
        received: list[Message] = []

        async def deliver(message: Message) -> None:
            received.append(message)

        bus = RedisBus(REDIS_URL, channel)
        await bus.start(deliver)
        try:
            await bus._client.publish(channel, b"\xff not json")
            await bus.publish({"kind": "notice", "event": "E", "text": "still here"})
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.02)
        finally:
            await bus.stop()
        return received

    assert run_async(scenario()) == [{"kind": "notice", "event": "E", "text": "still here"}]
