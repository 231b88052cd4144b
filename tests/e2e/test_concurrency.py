"""Many concurrent sessions across many entities must never see each other's state."""

from __future__ import annotations

import uuid

import anyio
import pytest

from e2e_helpers import connect, new_entity, only_text

pytestmark = pytest.mark.anyio

SESSIONS = 50
ENTITIES = 10


async def test_concurrent_sessions_no_cross_talk(base_url, transport):
    entities = [new_entity(f"conc{i}") for i in range(ENTITIES)]
    all_connected = anyio.Event()
    all_remembered = anyio.Event()
    connected = 0
    remembered = 0
    results: dict[int, dict] = {}

    async def worker(i: int) -> None:
        nonlocal connected, remembered
        entity = entities[i % ENTITIES]
        value = f"value-{i}-{uuid.uuid4().hex}"
        async with connect(base_url, entity, transport) as c:
            connected += 1
            if connected == SESSIONS:
                all_connected.set()
            await all_connected.wait()  # every session is open before anyone writes

            who = (await c.session.call_tool("whoami", {})).structured_content
            r = await c.session.call_tool("remember", {"key": "secret", "value": value})
            assert only_text(r) == "ok"

            remembered += 1
            if remembered == SESSIONS:
                all_remembered.set()
            await all_remembered.wait()  # every session has written before anyone reads

            recalled = only_text(await c.session.call_tool("recall", {"key": "secret"}))
            who_again = (await c.session.call_tool("whoami", {})).structured_content
            results[i] = {
                "entity": entity,
                "value": value,
                "who": who,
                "who_again": who_again,
                "recalled": recalled,
                "header_sid": c.session_id,
            }

    with anyio.fail_after(40):
        async with anyio.create_task_group() as tg:
            for i in range(SESSIONS):
                tg.start_soon(worker, i)

    assert len(results) == SESSIONS
    for i, r in results.items():
        assert r["who"]["entity_id"] == r["entity"], (i, r)
        assert r["who"]["session_id"] == r["header_sid"], (i, r)
        assert r["who_again"] == r["who"], (i, r)
        assert r["recalled"] == r["value"], f"session {i} recalled someone else's value: {r}"
    session_ids = [r["who"]["session_id"] for r in results.values()]
    assert len(set(session_ids)) == SESSIONS, "session ids are not unique"
