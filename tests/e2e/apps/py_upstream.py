"""An upstream MCP server built on the official Python SDK (`mcp`, v2 `MCPServer`), for the
federation tests: tools with progress, logs and elicitation, a resource and a prompt.

Usage: python py_upstream.py --port P --transport streamable-http|sse
"""

from __future__ import annotations

import argparse

import anyio
import mcp_types as types
from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer

mcp = MCPServer("py-upstream", log_level="WARNING")


class Name(BaseModel):
    name: str


@mcp.tool()
def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@mcp.tool()
async def steps(n: int, ctx: Context) -> str:
    """Count to n, reporting progress and logging each step."""
    for i in range(1, n + 1):
        await ctx.info(f"step {i}", logger_name="steps")
        await ctx.report_progress(i, n, f"step {i}")
        await anyio.sleep(0.01)
    return f"{n} steps"


@mcp.tool()
async def ask_name(ctx: Context) -> str:
    """Ask the user's name."""
    answer = await ctx.elicit("Who are you?", Name)
    if answer.action == "accept" and answer.data is not None:
        return f"Hi, {answer.data.name}"
    return f"no name ({answer.action})"


@mcp.tool()
async def haiku(topic: str, ctx: Context) -> str:
    """Ask the client's model for a haiku (sampling)."""
    result = await ctx.request_context.session.create_message(
        [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"A haiku about {topic}"))],
        max_tokens=60,
        # On the call's own stream, where the spec puts requests made for a call.
        related_request_id=ctx.request_id,
    )
    return getattr(result.content, "text", str(result.content))


CANCELLED: list[float] = []


@mcp.tool()
async def wait(seconds: float) -> str:
    """Wait, noting a cancellation (which the `cancelled` tool reports)."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        CANCELLED.append(seconds)
        raise
    return f"waited {seconds} s"


@mcp.tool()
def cancelled() -> int:
    """How many `wait` calls were cancelled."""
    return len(CANCELLED)


@mcp.resource("py://motto", mime_type="text/plain")
def motto() -> str:
    """The upstream's motto."""
    return "federated, not fragmented"


@mcp.prompt()
def review(code: str) -> str:
    """Ask for a code review."""
    return f"Please review:\n{code}"


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    a = p.parse_args()
    mcp.run(a.transport, host="127.0.0.1", port=a.port)
