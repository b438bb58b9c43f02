"""A real headless Chromium `EventSource` resumes a stream through the lab's total-time
limiter (every connection cut after 1 s): the page renders the whole answer."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from streamwarden.lab import stacks
from streamwarden.procs import ManagedProcess

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
HOST = "127.0.0.1"
BODY = {
    "model": "sim-1",
    "messages": [{"role": "user", "content": "x"}],
    "stream": True,
    "sim": {"tokens": 100, "tps": 20, "seed": 5},  # 5 s of answer
}

# The usage docs/resume.md shows: EventSource on the resume URL, from event 1.
PAGE = """<!doctype html>
<meta charset="utf-8"><pre id="out"></pre>
<script>
const q = new URLSearchParams(location.search);
const out = document.getElementById("out");
let opened = 0;
const source = new EventSource(`${q.get("base")}/v1/streams/${q.get("id")}?after=0`);
source.onopen = () => { opened += 1; };
source.onmessage = (e) => {
  if (e.data === "[DONE]") {
    source.close();
    fetch(q.get("report"), {method: "POST", mode: "no-cors",
      body: JSON.stringify({text: out.textContent, opened, last: e.lastEventId})});
    return;
  }
  const chunk = JSON.parse(e.data);
  out.textContent += (chunk.choices[0] && chunk.choices[0].delta.content) || "";
};
</script>
"""


class _Reports(BaseHTTPRequestHandler):
    got: list[bytes]
    arrived: threading.Event

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        type(self).got.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: object) -> None:
        pass


#: The same answer at full speed: the reference text.
FAST = {"tokens": 100, "tps": 0, "seed": 5}


@pytest.fixture
def reports() -> Iterator[tuple[str, type[_Reports]]]:
    handler = type("Reports", (_Reports,), {"got": [], "arrived": threading.Event()})
    server = HTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/report", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_eventsource_in_chromium_resumes_through_1s_cuts(
    tmp_path: Path, reports: tuple[str, type[_Reports]]
) -> None:
    assert CHROMIUM is not None
    report_url, handler = reports
    with stacks.Launcher(tmp_path / "lab") as lab:
        flags = ("--resume", "--heartbeat", "0.2", "--sim-ttft", "0.02", "--drain-timeout", "1")
        port = lab.python(
            "gateway",
            lambda p: ["streamwarden", "serve", "--host", HOST, "--port", str(p), *flags],
        )
        cut = stacks.total_time_limiter(lab, port, cut_after=1.0)
        direct = f"http://{HOST}:{port}"
        # Started the way a page's fetch() would, then left: the generation runs on.
        with httpx.stream("POST", direct + "/v1/chat/completions", json=BODY) as started:
            stream_id = started.headers["x-stream-id"]
        page = tmp_path / "page.html"
        page.write_text(PAGE)
        query = f"?base={quote(f'http://{HOST}:{cut}')}&id={stream_id}&report={quote(report_url)}"
        argv = [
            CHROMIUM,
            *("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"),
            # The page is a file: its EventSource and report go to loopback ports.
            "--disable-web-security",
            *("--disable-background-networking", "--disable-component-update"),
            f"--user-data-dir={tmp_path / 'profile'}",
            page.as_uri() + query,
        ]
        with ManagedProcess(argv, log_path=tmp_path / "chromium.log") as browser:
            arrived = handler.arrived.wait(45)
            assert arrived, f"the page never saw [DONE]: {browser.log_tail()}"
        result = json.loads(handler.got[0])
        reference = httpx.post(
            direct + "/v1/chat/completions", json={**BODY, "stream": False, "sim": FAST}, timeout=15
        )
        assert result["text"] == reference.json()["choices"][0]["message"]["content"]
        assert result["opened"] >= 2  # it was cut at least once and resumed by itself
        assert result["last"].startswith(stream_id + ":")
