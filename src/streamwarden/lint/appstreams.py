"""Whether the app's own source streams, and whether it keeps its streams alive, in a tree.

A read or idle timeout counts silence. An app that sends a heartbeat (an SSE comment such as
`: ping`, sse-starlette's ping every 15 s, a named ping event) is never silent longer than its
interval; one that sends none is silent as long as its model or a tool is: a slow first token
under load, a reasoning model thinking, an agent waiting on a tool. So when a linted tree holds
app source that streams and none of it sends a heartbeat, a stream's silence is bounded only by
the stream itself, and idle timeouts are held to `--max-duration` instead of twice `--max-gap`.

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

_STREAM = re.compile(
    r"text/event-stream|application/x-ndjson|\bEventSourceResponse\b|\bSseEmitter\b"
    r"|\bstreamSSE\s*\(|\bSSEvent\s*\(|\bTEXT_EVENT_STREAM\b|\bServerSentEvent\b"
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


@dataclass(slots=True)
class StreamFacts:
    """1-based lines where one source file streams and where it sends heartbeats."""

    streams: list[int] = field(default_factory=list)
    heartbeats: list[int] = field(default_factory=list)


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


def stream_facts(text: str) -> StreamFacts:
    text = text[:MAX_CHARS]
    facts = StreamFacts([_line(text, m.start()) for m in _STREAM.finditer(text)])
    for m in _HEARTBEAT.finditer(text):
        if m.group().startswith("EventSourceResponse"):
            call = text[m.end() : m.end() + 400].split("\n\n", 1)[0]
            if _PING_OFF.search(call):
                continue  # sse-starlette with its ping turned off
        facts.heartbeats.append(_line(text, m.start()))
    return facts
