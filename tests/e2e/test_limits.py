"""Per-entity limits as the official SDK client meets them, on both handshake-era transports: a
call refused by a limit fails alone with -32029, and the session goes on. On the legacy HTTP+SSE
transport the refusal travels on the stream (the SDK's legacy client treats a failed POST as a
dead connection); on Streamable HTTP it is the 429 answer to the POST."""

from __future__ import annotations

from typing import Iterator

import anyio
import pytest
from mcp import MCPError

from conftest import Instance, _binary_path
from e2e_helpers import TRANSPORTS, connect, new_entity, only_text

pytestmark = pytest.mark.anyio

RATE_LIMITED = -32029
RPS = 8


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[str]:
    inst = Instance(_binary_path(), tmp_path_factory.mktemp("limits"), "limits", None,
                    ["--max-concurrent-calls", "1", "--rate-limit-rps", str(RPS)])
    yield inst.url
    inst.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_call_over_the_concurrency_limit_fails_alone(limited, transport):
    async with connect(limited, new_entity(), transport) as conn:
        slow: dict = {}

        async def run_slow() -> None:
            slow["result"] = await conn.session.call_tool("count", {"n": 4, "delay_ms": 250})

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_slow)
            await anyio.sleep(0.4)
            with pytest.raises(MCPError) as exc:
                await conn.session.call_tool("echo", {"text": "second"})
            assert exc.value.code == RATE_LIMITED, exc.value.error
            assert exc.value.error.data["retryAfterSeconds"] >= 1
        assert not slow["result"].is_error
        await anyio.sleep(0.3)  # the slot is released in the background
        assert only_text(await conn.session.call_tool("echo", {"text": "after"})) == "after"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_requests_over_the_rate_fail_alone(limited, transport):
    async with connect(limited, new_entity(), transport) as conn:
        await anyio.sleep(1.1)
        outcomes = []
        for i in range(3 * RPS):
            try:
                outcomes.append(only_text(await conn.session.call_tool("echo", {"text": str(i)})) == str(i))
            except MCPError as e:
                outcomes.append(e.code)
        assert RATE_LIMITED in outcomes and True in outcomes, outcomes
        assert set(outcomes) <= {True, RATE_LIMITED}, outcomes
        await anyio.sleep(1.1)
        assert only_text(await conn.session.call_tool("echo", {"text": "again"})) == "again"
