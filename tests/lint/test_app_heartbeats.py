"""Whether the app's own source keeps its streams alive: the source scan (pure, on text) and
the idle-timeout verdicts of a linted tree whose app streams with no heartbeat."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Ran
from streamwarden.lint import lint_paths
from streamwarden.lint.appstreams import stream_facts

APPS = Path(__file__).parent / "real_apps"
UNSEEN = Path(__file__).parent / "real_unseen"

PLAIN_PY = (
    "from fastapi.responses import StreamingResponse\n\n"
    "async def chat():\n"
    "    async def gen():\n"
    '        yield f"data: {token}\\n\\n"\n'
    '    return StreamingResponse(gen(), media_type="text/event-stream")\n'
)
# The same stream fed by an agent that calls tools: silent while a tool runs.
SILENT_PY = PLAIN_PY + "\nresult = agent.run(tools=[search])\n"


@pytest.mark.parametrize(
    "source",
    [
        SILENT_PY,
        "res.writeHead(200, {'Content-Type': 'text/event-stream', 'Connection': 'keep-alive'});\n",
        'w.Header().Set("Content-Type", "text/event-stream")\nfmt.Fprintf(w, "data: %s\\n\\n", t)\n',
        "SseEmitter emitter = new SseEmitter(0L);\nemitter.send(SseEmitter.event().data(t));\n",
        "return EventSourceResponse(gen(), ping=0)\n",
        "res.write(`data: ${JSON.stringify(chunk)}\\n\\n`);\n",
    ],
    ids=[
        "fastapi",
        "express-connection-keep-alive",
        "go",
        "spring",
        "sse-starlette-ping-off",
        "js",
    ],
)
def test_streams_without_a_heartbeat(source: str) -> None:
    facts = stream_facts(source)
    assert facts.streams != []
    assert facts.heartbeats == [], facts


@pytest.mark.parametrize(
    "source",
    [
        SILENT_PY + '        yield ": ping\\n\\n"\n',
        "return EventSourceResponse(gen())\n",  # sse-starlette pings every 15 s by default
        "return EventSourceResponse(gen(), ping=5)\n",
        'fmt.Fprint(w, ": keep-alive\\n\\n")  // text/event-stream\n',
        'emitter.send(SseEmitter.event().comment("ping"));\n',
        'c.SSEvent("heartbeat", "")  // text/event-stream\n',
        "await stream.writeSSE({ event: 'ping', data: '' }); streamSSE(c, run)\n",
        "res.write(':\\n\\n'); // text/event-stream\n",
        "const HEARTBEAT_MS = 15000; res.setHeader('Content-Type', 'text/event-stream');\n",
    ],
    ids=[
        "comment",
        "sse-starlette",
        "sse-starlette-ping",
        "go",
        "spring",
        "gin",
        "hono",
        "bare",
        "word",
    ],
)
def test_heartbeats_are_found(source: str) -> None:
    assert stream_facts(source).heartbeats != []


def test_code_that_does_not_stream_has_no_stream() -> None:
    text = 'prompt += "### Response:\\n"\nreturn JSONResponse({"event": "done"})\nsrc = "data:image/png"\n'
    assert stream_facts(text).streams == []


SITE = "server {\n location /api/ {\n  proxy_pass http://127.0.0.1:8000;\n%s }\n}\n"


def tree(tmp_path: Path, settings: str, app: str | None) -> Path:
    (tmp_path / "nginx.conf").write_text(SITE % settings)
    if app is not None:
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "main.py").write_text(app)
    return tmp_path


@pytest.mark.parametrize("read_timeout", ["", "  proxy_read_timeout 120s;\n"])
def test_a_silent_stream_is_held_to_the_config_idle_timeout(
    tmp_path: Path, read_timeout: str
) -> None:
    settings = "  proxy_http_version 1.1;\n  proxy_buffering off;\n" + read_timeout
    result = lint_paths([str(tree(tmp_path, settings, SILENT_PY))])
    [found] = result.findings
    assert (found.id, found.severity.value) == ("nginx/read-timeout", "warning")
    assert "no heartbeat" in found.summary and "main.py:5" in found.summary
    assert "main.py:8" in found.summary  # where it waits on an agent
    assert "300s" in found.fix and ": ping" in found.fix
    assert result.app_streams and not result.app_heartbeats


@pytest.mark.parametrize(
    ("settings", "app"),
    [
        ("", SILENT_PY + '        yield ": ping\\n\\n"\n'),  # heartbeat: 60 s is twice 15 s
        ("  proxy_read_timeout 300s;\n", SILENT_PY),  # what `config` writes: a step fits
        ("", 'def health():\n    return {"ok": True}\n'),  # the app does not stream
        ("", None),  # no app source: the heartbeat is --max-gap, as before
        ("", PLAIN_PY),  # a plain completion: silent only until its first token
    ],
    ids=["heartbeat", "long-enough", "no-stream", "no-source", "plain-completion"],
)
def test_no_read_timeout_finding(tmp_path: Path, settings: str, app: str | None) -> None:
    settings = "  proxy_http_version 1.1;\n  proxy_buffering off;\n" + settings
    result = lint_paths([str(tree(tmp_path, settings, app))])
    assert result.findings == []


def test_the_config_named_alone_does_not_read_the_app(tmp_path: Path) -> None:
    root = tree(tmp_path, "  proxy_http_version 1.1;\n  proxy_buffering off;\n", SILENT_PY)
    assert lint_paths([str(root / "nginx.conf")]).findings == []


def test_other_idle_timeouts_follow_the_app(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(SILENT_PY)
    (tmp_path / "haproxy.cfg").write_text(
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 3600s\n"
        "  timeout server 120s\nbackend app\n  server a 127.0.0.1:8000\n"
    )
    (tmp_path / "ingress.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: chat\n"
        "  annotations:\n    nginx.ingress.kubernetes.io/proxy-buffering: 'off'\n"
        "    nginx.ingress.kubernetes.io/proxy-read-timeout: '120'\n"
        "spec:\n  ingressClassName: nginx\n"
    )
    found = {f.id: f for f in lint_paths([str(tmp_path)]).findings}
    assert found["haproxy/timeout-server"].severity.value == "warning"
    assert found["ingress/read-timeout"].severity.value == "warning"
    # Without the app beside them, 120 s is safe for a 15 s heartbeat.
    (tmp_path / "main.py").unlink()
    assert lint_paths([str(tmp_path)]).findings == []


def test_real_app_without_a_heartbeat(tmp_path: Path) -> None:
    # iHub Apps: its judge (blind) found the 60 s read timeout under a chat SSE channel whose
    # server never sends a heartbeat (server/sse.js). The tree scan finds the same.
    shutil.copytree(APPS / "ihub-apps", tmp_path / "ihub-apps")
    conf = tmp_path / "ihub-apps" / "nginx.conf"
    shutil.copy(UNSEEN / "ihub-apps/docker/nginx.conf", conf)
    alone = lint_paths([str(conf)])
    assert "nginx/read-timeout" not in {f.id for f in alone.findings}
    found = [f for f in lint_paths([str(tmp_path / "ihub-apps")]).findings]
    timeouts = [f for f in found if f.id == "nginx/read-timeout"]
    assert [(f.line, f.severity.value) for f in timeouts] == [(78, "warning")]
    assert "sse.js:33" in timeouts[0].summary


def test_real_app_with_sse_starlette_pings(tmp_path: Path) -> None:
    # Serge: sse-starlette pings every 15 s, so its 300 s read timeout is safe (judged: none).
    shutil.copytree(APPS / "serge", tmp_path / "serge")
    shutil.copy(UNSEEN / "serge/nginx.conf", tmp_path / "serge" / "nginx.conf")
    result = lint_paths([str(tmp_path / "serge")])
    assert result.app_streams and result.app_heartbeats
    assert "nginx/read-timeout" not in {f.id for f in result.findings}


def test_the_summary_says_the_app_sends_no_heartbeat(
    tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    root = tree(tmp_path, "  proxy_http_version 1.1;\n  proxy_buffering off;\n", SILENT_PY)
    ran = cli("lint", str(root))
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "the app streams with no heartbeat" in ran.stdout
    assert "main.py:5" in ran.stdout


@pytest.mark.parametrize(
    ("source", "waits"),
    [
        ("resp = client.chat.completions.create(tools=tools, tool_choice='auto')\n", True),
        ("if msg.tool_calls:\n    run(msg.tool_calls)\n", True),
        ("graph = langgraph.StateGraph(State)\n", True),
        ("const agent = createAgent(model)\n", True),
        ("headers = {'User-Agent': 'chat'}\nagent = https.Agent(keepAlive=True)\n", False),
        ("r = openai.Completion.create(prompt=p, stream=True)\n", False),
    ],
)
def test_what_makes_a_stream_wait(source: str, waits: bool) -> None:
    assert bool(stream_facts(source).waits) is waits


def test_a_timeout_under_twice_the_heartbeat_stays_an_error(tmp_path: Path) -> None:
    # Whatever the app does, 20 s is cut by a 15 s heartbeat's late beat: the rule's own error.
    settings = "  proxy_http_version 1.1;\n  proxy_buffering off;\n  proxy_read_timeout 20s;\n"
    [found] = lint_paths([str(tree(tmp_path, settings, SILENT_PY))]).findings
    assert (found.id, found.severity.value) == ("nginx/read-timeout", "error")
