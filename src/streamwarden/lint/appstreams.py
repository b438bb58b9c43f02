"""Whether the app's own source streams, and whether it keeps its streams alive, in a tree.

A read or idle timeout counts silence. An app that sends a heartbeat (an SSE comment such as
`: ping`, sse-starlette's ping every 15 s, a named ping event) is never silent longer than its
interval; one that sends none is silent as long as its model or a tool is. A plain completion
stream is silent only until its first token (seconds); one that waits on tool calls, agents,
workflow steps or a reasoning model can be silent for minutes. So when a linted tree holds app
source that streams, none of it sends a heartbeat, and it waits on such steps, a stream is
silent as long as a step, and idle timeouts are held to 300 s (what `streamwarden config`
writes) instead of twice `--max-gap`.

Read from the source text, like `appheaders`: a stream is an event-stream marker (the media
type, sse-starlette, Spring's `SseEmitter`, Hono's `streamSSE`, gin's `SSEvent`, the AI SDK's
stream responses, an SSE frame written by hand); a heartbeat is an SSE comment literal, a ping or heartbeat event, or a
keep-alive timer. The heartbeat patterns are generous on purpose: a heartbeat seen where there
is none only keeps a warning back, while one missed would raise a false one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from streamwarden.lint.appheaders import MAX_CHARS
from streamwarden.lint.findings import line_at

_STREAM = re.compile(
    r"text/event-stream|application/x-ndjson|\bEventSourceResponse\b|\bSseEmitter\b"
    r"|\bstreamSSE\s*\(|\bSSEvent\s*\(|\bTEXT_EVENT_STREAM|\bServerSentEvent\b"
    r"|\bStreaming(?:Http)?Response\s*\("
    r"|\bto(?:DataStream|TextStream|UIMessageStream)Response\s*\("
    # an SSE frame written by hand: f"data: {chunk}\n\n", `event: ${name}\n`
    r"""|["'`](?:data|event): ?[^\n]{0,160}?\\n""",
)
_HEARTBEAT = re.compile(
    # an SSE comment written as a literal: ": ping\n\n", ':\n\n', ": keep-alive\n"
    r"""["'`]\s*:[^"'`\\\n]{0,40}\\n"""
    # sse-starlette pings every 15 s unless ping=0 (checked below)
    r"|\bEventSourceResponse\s*\("
    # a named heartbeat: event "ping", SSEvent("heartbeat"), SseEmitter.event().comment(...)
    r"""|\bevent['"]?\s*[:=,]\s*['"](?:ping|heartbeat|keep-?alive)['"]"""
    r"""|\bSSEvent\s*\(\s*["'](?:ping|heartbeat|keep-?alive)["']|\.comment\s*\("""
    r"|heart_?beat|ping_?interval|keep_?alive_?interval",
    re.IGNORECASE,
)
_PING_OFF = re.compile(r"\bping\s*=\s*0(?:\.0*)?\b")
# What makes a stream wait: tool and function calls, agents, workflows, reasoning models.
# (`User-Agent` and Node's `http.Agent` are not agents.)
_WAITS = re.compile(
    r"\btool_?calls?\b|\btool_choice\b|\bfunction_call\b|\btools\s*[:=]|\bmcp\b"
    r"|(?<!user-)(?<!user_)(?<!user )(?<!\.)\bagent(?:s|ic)?\b|\bworkflows?\b|\breasoning\b"
    r"|\blanggraph\b|\bAgentExecutor\b",
    re.IGNORECASE,
)
# A line where "agent" is an HTTP client's connection pool, not an AI agent.
_HTTP_AGENT = re.compile(r"https?\.Agent|Https?ProxyAgent|undici|keep_?alive|user_?agent", re.I)


@dataclass(slots=True)
class StreamFacts:
    """1-based lines where one source file streams, sends heartbeats, and waits on tools,
    agents, workflows or reasoning (what keeps a stream silent for long)."""

    streams: list[int] = field(default_factory=list)
    heartbeats: list[int] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)


def stream_facts(text: str) -> StreamFacts:
    text = text[:MAX_CHARS]
    facts = StreamFacts([line_at(text, m.start()) for m in _STREAM.finditer(text)])
    for m in _HEARTBEAT.finditer(text):
        if m.group().startswith("EventSourceResponse"):
            call = text[m.end() : m.end() + 400].split("\n\n", 1)[0]
            if _PING_OFF.search(call):
                continue  # sse-starlette with its ping turned off
        facts.heartbeats.append(line_at(text, m.start()))
    for m in _WAITS.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        if "agent" in m.group().lower() and _HTTP_AGENT.search(
            text[start : end if end >= 0 else None]
        ):
            continue
        facts.waits.append(line_at(text, m.start()))
    return facts
