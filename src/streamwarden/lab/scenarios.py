"""The scenarios: each reproduces one streaming killer (or its fix) on a real stack.

Everything runs at `SCALE` (1 lab second for 30 real ones): nginx's 60 s `proxy_read_timeout`
becomes 2 s, a 15 s heartbeat 0.5 s, GCP's 30 s backend timeout 1 s, a 45 s answer 1.5 s.
The probe's thresholds are scaled the same way (`Thresholds.scaled(SCALE)`), so the
diagnosis reads the lab's timelines as it would read production ones.

A scenario passes when the probe diagnoses every expected id, and nothing else of warning
or error severity apart from its `companions`: findings that follow from the expected one on
the same timelines (a stream cut by an idle timeout is also a truncated stream).
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from streamwarden.findings import Finding
from streamwarden.lab import stacks
from streamwarden.lab.stacks import Launcher
from streamwarden.lint import snippets
from streamwarden.lint.snippets import SnippetOptions
from streamwarden.probe.config import ProbeConfig
from streamwarden.probe.timeline import Run
from streamwarden.procs import ManagedProcess, start_process

__all__ = [
    "SCALE",
    "SCENARIOS",
    "Judgement",
    "ProbePlan",
    "Scenario",
    "get_scenarios",
    "lab_seconds",
    "real_seconds",
]

#: Lab seconds per real second.
SCALE = 1 / 30


def lab_seconds(real: float) -> float:
    """A real-world duration at the lab's time scale."""
    return round(real * SCALE, 4)


def real_seconds(lab: float) -> float:
    return lab / SCALE


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """One probe run against the scenario's front port."""

    label: str = "probe"
    path: str = "/v1/chat/completions"
    #: The gateway's per-request simulated model (`"sim"` in the body); the lab apps take
    #: their pacing from the query string instead.
    sim: Mapping[str, float] = field(default_factory=dict)
    concurrency: tuple[int, ...] = (4,)
    #: Closed loop: each worker starts requests until this much time has passed.
    step_duration: float = 0.1
    max_requests: int | None = None
    timeout: float = 15.0
    ramp: float = 0.0

    def body(self, sim: Mapping[str, float] | None = None) -> bytes:
        body: dict[str, Any] = {
            "model": "sim-1",
            "stream": True,
            "messages": [{"role": "user", "content": "Why do streams hang in production?"}],
        }
        if sim:
            body["sim"] = dict(sim)
        return json.dumps(body).encode()

    def warmup(self) -> tuple[str, bytes]:
        """`(path, body)` of a one-token request on the same route, sent before the probe.

        A fresh process pays one-off costs on its first request (imports, caches) that do
        not scale with the lab's clock: 0.1 s would read as a 3 s first token.
        """
        path, _, query = self.path.partition("?")
        params = {k: v for k, v in parse_qsl(query) if not k.startswith("block")}
        params.update(tokens="1", ttft="0")
        sim = {"tokens": 1, "ttft": 0.0} if self.sim else None
        return f"{path}?{urlencode(params)}", self.body(sim)

    def config(self, base_url: str) -> ProbeConfig:
        return ProbeConfig(
            url=base_url + self.path,
            format="openai",
            body=self.body(self.sim),
            concurrency=self.concurrency,
            step_duration=self.step_duration,
            timeout=self.timeout,
            max_requests=self.max_requests,
            ramp=self.ramp,
            seed=1,
        )


@dataclass(frozen=True, slots=True)
class Judgement:
    """A scenario's own check, beyond the diagnosis (no-cancel counts tokens server-side)."""

    passed: bool
    evidence: str
    details: dict[str, Any] = field(default_factory=dict)


#: Starts the stack inside the launcher and returns its front URL (`http://127.0.0.1:P`).
StartStack = Callable[[Launcher], str]
#: `(front URL, {plan label: (run, findings)})` -> judgement.
Judge = Callable[[str, Mapping[str, tuple[Run, list[Finding]]]], Judgement]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    #: The stack, front to back, on one line.
    stack: str
    expected: tuple[str, ...]
    start: StartStack
    probes: tuple[ProbePlan, ...]
    companions: tuple[str, ...] = ()
    #: System binaries (nginx, haproxy) and Python distributions (gunicorn, flask) it needs.
    needs: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    #: What it stands for in production, and what fixes it (docs and the HTML report).
    real_world: str = ""
    fix: str = ""
    #: Always shown beside the evidence.
    note: str = ""
    judge: Judge | None = None


def _url(port: int) -> str:
    return f"http://{stacks.HOST}:{port}"


# -- time-scaled settings, in real-world terms ----------------------------------------------

HEARTBEAT = lab_seconds(15)  # the guard's default
NGINX_READ_TIMEOUT = lab_seconds(60)  # nginx's default proxy_read_timeout
HAPROXY_TIMEOUT_SERVER = lab_seconds(60)
LB_TOTAL_TIMEOUT = lab_seconds(30)  # GCP backend service timeoutSec
THINKING_PAUSE = lab_seconds(90)  # a reasoning model's silent gap, longer than 60 s
TTFT = lab_seconds(1.5)

#: A 45 s answer: 30 tokens at 20 tokens/s.
ANSWER = "tokens=30&tps=20&ttft=" + f"{TTFT:g}"
#: The gateway's model with a long silent pause after the fifth token.
THINKING_SIM: Mapping[str, float] = {
    "ttft": TTFT,
    "tokens": 12,
    "tps": 20,
    "pause_after": 5,
    "pause": THINKING_PAUSE,
}


# -- stacks -----------------------------------------------------------------------------------


def _sync_workers(lab: Launcher) -> str:
    return _url(stacks.gunicorn_flask(lab, workers=4, worker_class="sync"))


def _async_workers(lab: Launcher) -> str:
    return _url(stacks.uvicorn_app(lab, "streamwarden.lab.apps.guarded_stream:app"))


def _nginx_buffering(lab: Launcher) -> str:
    # h11: a close-delimited answer to nginx's HTTP/1.0 request, as most servers send it.
    app = stacks.uvicorn_app(lab, "streamwarden.lab.apps.plain_stream:app", http="h11")
    return _url(stacks.nginx_in_front(lab, app))


def _nginx_idle(heartbeat: float) -> StartStack:
    def start(lab: Launcher) -> str:
        app = stacks.gateway(lab, heartbeat=heartbeat)
        return _url(
            stacks.nginx_in_front(
                lab, app, f"proxy_read_timeout {NGINX_READ_TIMEOUT * 1000:.0f}ms;"
            )
        )

    return start


def _lb_total(lab: Launcher) -> str:
    app = stacks.gateway(lab, heartbeat=HEARTBEAT)
    return _url(stacks.total_time_limiter(lab, app, cut_after=LB_TOTAL_TIMEOUT))


def _lb_total_resume(lab: Launcher) -> str:
    app = stacks.gateway(lab, heartbeat=HEARTBEAT, switches=("--resume",))
    return _url(stacks.total_time_limiter(lab, app, cut_after=LB_TOTAL_TIMEOUT))


def _haproxy(lab: Launcher) -> str:
    app = stacks.gateway(lab, heartbeat=0)
    return _url(stacks.haproxy_in_front(lab, app, timeout_server=HAPROXY_TIMEOUT_SERVER))


def _admission(lab: Launcher) -> str:
    return _url(stacks.gateway(lab, heartbeat=HEARTBEAT, max_streams=4, queue=0))


def _blocked_loop(lab: Launcher) -> str:
    return _url(stacks.uvicorn_app(lab, "streamwarden.lab.apps.plain_stream:app"))


def _no_cancel(lab: Launcher) -> str:
    return _url(stacks.cancel_app(lab))


def _naive_app(attr: str) -> StartStack:
    def start(lab: Launcher) -> str:
        app = stacks.uvicorn_app(lab, f"streamwarden.lab.apps.naive_stream:{attr}")
        return _url(
            stacks.nginx_in_front(
                lab, app, f"proxy_read_timeout {NGINX_READ_TIMEOUT * 1000:.0f}ms;"
            )
        )

    return start


def _fixed_stack(lab: Launcher) -> str:
    app = stacks.gateway(lab, heartbeat=HEARTBEAT)
    return _url(stacks.nginx_with(lab, lambda port: fixed_nginx_config(app, port)))


def fixed_nginx_config(upstream: int, port: int) -> str:
    """Exactly what `streamwarden config nginx` prints, with the idle timeout at lab scale."""
    options = SnippetOptions(
        upstream=f"{stacks.HOST}:{upstream}",
        listen=f"{stacks.HOST}:{port}",
        read_timeout=max(1, round(lab_seconds(300))),
    )
    return snippets.nginx(options)


# -- no-cancel: counted on the server ----------------------------------------------------------

NO_CANCEL_TOKENS = 40
NO_CANCEL_TPS = 20.0
NO_CANCEL_CLIENT_TIMEOUT = 0.8


def _judge_no_cancel(base_url: str, runs: Mapping[str, tuple[Run, list[Finding]]]) -> Judgement:
    # Let the naive model run out its answer before counting: that is the waste to show.
    time.sleep(NO_CANCEL_TOKENS / NO_CANCEL_TPS - NO_CANCEL_CLIENT_TIMEOUT + 0.3)
    with urllib.request.urlopen(base_url + "/stats", timeout=5) as response:
        stats: dict[str, dict[str, int]] = json.load(response)
    naive, with_finally, guarded = stats["naive"], stats["finally"], stats["guarded"]
    left = {
        label: sum(1 for r in run.requests if r.outcome == "client_timeout")
        for label, (run, _) in runs.items()
    }
    passed = (
        naive["disconnects"] > 0
        and guarded["disconnects"] > 0
        and naive["after_disconnect"] > 0
        and guarded["after_disconnect"] == 0
    )
    left_total = sum(t["disconnects"] for t in stats.values())
    evidence = (
        f"tokens generated after {left_total} disconnects: naive {naive['after_disconnect']}, "
        f"with finally {with_finally['after_disconnect']}, guard {guarded['after_disconnect']}"
    )
    return Judgement(passed, evidence, {"server": stats, "clients_left": left})


# -- middleware-fix: the naive app plus one add_middleware line -----------------------------------

#: The naive app's model, paced by its query string: a 90 s silent pause after token five.
THINKING_QUERY = f"tokens=12&tps=20&ttft={TTFT:g}&pause_after=5&pause={THINKING_PAUSE:g}"
MIDDLEWARE_TOKENS = 40


def _judge_middleware_fix(
    base_url: str, runs: Mapping[str, tuple[Run, list[Finding]]]
) -> Judgement:
    run, _ = runs["probe"]
    beats = sum(r.keepalives for r in run.requests)
    # Let an uncancelled model run out its answer before counting.
    time.sleep(MIDDLEWARE_TOKENS / NO_CANCEL_TPS - NO_CANCEL_CLIENT_TIMEOUT + 0.3)
    with urllib.request.urlopen(base_url + "/stats", timeout=5) as response:
        stats: dict[str, int] = json.load(response)
    passed = (
        beats > 0
        and all(r.succeeded for r in run.requests)
        and stats["disconnects"] > 0
        and stats["after_disconnect"] == 0
    )
    evidence = (
        f"{beats} heartbeats through the pause; tokens generated after "
        f"{stats['disconnects']} disconnects: {stats['after_disconnect']}"
    )
    return Judgement(passed, evidence, {"server": stats, "heartbeats": beats})


# -- total-timeout-resume: the cut heartbeats cannot fix, read whole by a resuming client -----

#: A 45 s answer (30 tokens at 20/s), past the 30 s total-time limit.
LONG_ANSWER: Mapping[str, float] = {"ttft": TTFT, "tokens": 30, "tps": 20}
RESUMING_CLIENTS = 4


def _read_resuming(base_url: str) -> tuple[bool, int]:
    """One answer through `streamwarden.client`: (whole, each token once; connections used)."""
    import httpx

    from streamwarden.client import resuming_events

    body = json.loads(ProbePlan(sim=LONG_ANSWER).body(LONG_ANSWER))
    with httpx.Client(timeout=15) as http:
        events = list(resuming_events(http, "POST", base_url + "/v1/chat/completions", json=body))
    ids = [e.id or "" for e in events]
    stream = ids[0].rpartition(":")[0] if ids else ""
    tokens = [
        c["delta"]["content"]
        for e in events
        if e.data != "[DONE]"
        for c in json.loads(e.data).get("choices", [])
        if c["delta"].get("content")
    ]
    whole = (
        ids == [f"{stream}:{n}" for n in range(1, len(ids) + 1)]
        and events[-1].data == "[DONE]"
        and len(tokens) == LONG_ANSWER["tokens"]
    )
    return whole, len(ids)


def _judge_resume(base_url: str, runs: Mapping[str, tuple[Run, list[Finding]]]) -> Judgement:
    from concurrent.futures import ThreadPoolExecutor

    run, _ = runs["probe"]
    cut = sum(1 for r in run.requests if not r.succeeded)
    with ThreadPoolExecutor(RESUMING_CLIENTS) as pool:
        results = list(pool.map(_read_resuming, [base_url] * RESUMING_CLIENTS))
    whole = sum(1 for ok, _ in results if ok)
    passed = cut > 0 and whole == RESUMING_CLIENTS
    evidence = (
        f"{cut}/{len(run.requests)} plain streams cut; with streamwarden.client "
        f"{whole}/{RESUMING_CLIENTS} answers whole, each token once"
    )
    return Judgement(passed, evidence, {"plain_cut": cut, "resumed_whole": whole})


# -- rolling-deploy: one of two replicas restarted during streams ---------------------------


class _RollingDeploy:
    """Two gateways sharing a Redis behind nginx; the judge restarts one of them (SIGTERM,
    then the same command again) while resuming clients read long answers."""

    def __init__(self) -> None:
        self.lab: Launcher | None = None
        self.replicas: list[int] = []
        self.processes: dict[int, ManagedProcess] = {}
        self.redis_url = ""

    def argv(self, port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "streamwarden", "serve", "--host", stacks.HOST),
            *("--port", str(port), "--redis", self.redis_url, "--resume-lease", "1"),
            *("--heartbeat", f"{HEARTBEAT:g}", "--drain-timeout", "5"),
        ]

    def replica(self, lab: Launcher, n: int, port: int | None = None) -> int:
        log = lab.workdir / f"gateway-{n}.log"

        def start(p: int) -> ManagedProcess:
            proc = start_process(self.argv(p), p, log_path=log, env=lab.env)
            self.processes[n] = proc
            return proc

        if port is None:
            return lab.listen(start)
        lab.add(start(port))
        return port

    def start(self, lab: Launcher) -> str:
        self.lab = lab
        self.redis_url = f"redis://{stacks.HOST}:{stacks.redis_server(lab)}/0"
        self.replicas = [self.replica(lab, n) for n in (1, 2)]
        for port in self.replicas:
            # Each replica's first request pays one-off costs (the probe's warm-up reaches one).
            _warm(_url(port))
        return _url(stacks.nginx_over(lab, self.replicas))

    def judge(self, base_url: str, runs: Mapping[str, tuple[Run, list[Finding]]]) -> Judgement:
        import threading

        import httpx

        lab = self.lab
        assert lab is not None
        results: list[tuple[bool, int]] = []
        readers = [
            threading.Thread(target=lambda: results.append(_read_resuming(base_url)))
            for _ in range(RESUMING_CLIENTS)
        ]
        for reader in readers:
            reader.start()
        urls = [_url(port) for port in self.replicas]
        deadline = time.monotonic() + 10
        while sum(_active_streams(url) for url in urls) < RESUMING_CLIENTS:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(LONG_ANSWER["tokens"] / LONG_ANSWER["tps"] / 4)  # a few tokens in
        # The deploy: the busier replica drains and exits, and the same command starts it
        # again (nginx's round robin may have put every stream on one of them).
        busy = max((1, 2), key=lambda n: _active_streams(urls[n - 1]))
        restarted = self.processes[busy]
        restarted.signal(signal.SIGTERM)
        restarted.popen.wait(15)
        exit_code = restarted.popen.returncode
        self.replica(lab, busy, self.replicas[busy - 1])
        for reader in readers:
            reader.join(30)
        moved = 0.0
        for port in self.replicas:  # the other replica, or the restarted one once it is back
            metrics = httpx.get(_url(port) + "/metrics", timeout=5).text
            moved += sum(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith('streamwarden_resumes_total{result="resumed"}')
            )
        whole = sum(1 for ok, _ in results if ok)
        passed = whole == RESUMING_CLIENTS and exit_code == 0 and moved > 0
        evidence = (
            f"replica {busy} restarted mid-stream (exit {exit_code}); {whole}/{RESUMING_CLIENTS} "
            f"answers whole, each token once; {moved:g} resumes after the cut"
        )
        return Judgement(passed, evidence, {"whole": whole, "moved": moved, "exit": exit_code})


def _active_streams(base_url: str) -> float:
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("streamwarden_active_streams "):
                return float(line.split()[1])
    return 0.0


def _warm(base_url: str) -> None:
    body = ProbePlan().body({"tokens": 1, "ttft": 0.0})
    request = urllib.request.Request(
        base_url + "/v1/chat/completions", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


_ROLLING = _RollingDeploy()


# -- admission-control: refusals must be fast -------------------------------------------------

#: A refusal slower than this (3 s real) is a wait, not a refusal.
FAST_REFUSAL_S = lab_seconds(3)


def _judge_admission(base_url: str, runs: Mapping[str, tuple[Run, list[Finding]]]) -> Judgement:
    requests = [r for run, _ in runs.values() for r in run.requests]
    refused = [r for r in requests if r.status == 503]
    slowest = max((r.end_ms or 0.0 for r in refused), default=0.0) / 1000
    served = sum(1 for r in requests if r.succeeded)
    passed = bool(refused) and slowest <= FAST_REFUSAL_S and served > 0
    evidence = f"every 503 within {slowest * 1000:.0f} ms, {served} streams served"
    return Judgement(passed, evidence, {"refused": len(refused), "slowest_refusal_s": slowest})


# -- the registry --------------------------------------------------------------------------------

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="sync-workers",
        stack="gunicorn sync ×4 → Flask",
        expected=("worker_exhaustion",),
        companions=("slow_first_token",),
        start=_sync_workers,
        probes=(
            ProbePlan(
                path="/v1/chat/completions?" + ANSWER, concurrency=(2, 4, 8), step_duration=2.5
            ),
        ),
        modules=("gunicorn", "flask"),
        real_world="Flask or Django streaming on gunicorn's default `sync` worker: one stream "
        "per process, so the fifth concurrent user of a 4-worker server waits a whole answer.",
        fix="Async workers (`-k uvicorn_worker.UvicornWorker` with an ASGI app) or the guard "
        "under uvicorn; admission control (`streamwarden serve --max-streams`) for a fast 503.",
    ),
    Scenario(
        name="admission-control",
        stack="gateway --max-streams 4 --queue 0",
        expected=("worker_exhaustion", "server_errors"),
        start=_admission,
        probes=(
            ProbePlan(
                sim={"ttft": TTFT, "tokens": 30, "tps": 20},
                concurrency=(2, 4, 8),
                max_requests=8,
            ),
        ),
        judge=_judge_admission,
        real_world="The same capacity limit as sync-workers, made explicit: the gateway's "
        "admission control answers past `--max-streams` with a fast 503 and `Retry-After`.",
        fix="This is the fix for silent queueing: overload is a quick, retryable refusal, and "
        "the probe still measures the capacity.",
    ),
    Scenario(
        name="async-workers",
        stack="uvicorn → guard",
        expected=(),
        start=_async_workers,
        probes=(
            ProbePlan(
                path="/v1/chat/completions?" + ANSWER, concurrency=(4, 40), step_duration=0.1
            ),
        ),
        real_world="The same answer streamed by the guard on one uvicorn event loop.",
        fix="Nothing to fix: 40 concurrent streams (10× the sync capacity) are served at once.",
    ),
    Scenario(
        name="nginx-buffering",
        stack="nginx default → uvicorn (h11), no X-Accel-Buffering",
        expected=("proxy_buffering",),
        companions=("slow_first_token",),
        start=_nginx_buffering,
        needs=("nginx",),
        probes=(
            ProbePlan(
                path="/v1/chat/completions?tokens=60&tps=30&ttft=" + f"{TTFT:g}",
                concurrency=(4,),
                max_requests=4,
            ),
        ),
        real_world="Any app behind nginx (or ingress-nginx) that does not send "
        "`X-Accel-Buffering: no`: nginx buffers the response and the client gets 4 KB bursts.",
        fix="`proxy_buffering off;` in the location, or `X-Accel-Buffering: no` from the app "
        "(the guard sends it).",
    ),
    Scenario(
        name="nginx-idle-timeout",
        stack=f"nginx read timeout {NGINX_READ_TIMEOUT:g}s → gateway, no heartbeat",
        expected=("idle_timeout", "missing_heartbeat"),
        companions=("truncated_stream",),
        start=_nginx_idle(heartbeat=0),
        needs=("nginx",),
        probes=(ProbePlan(sim=THINKING_SIM, concurrency=(4,), max_requests=4),),
        real_world="nginx's 60 s `proxy_read_timeout` (and AWS ALB's 60 s idle timeout) cutting "
        "a stream while a reasoning model thinks for 90 s without sending a byte.",
        fix="Heartbeats (`: keepalive` comments) more often than the idle timeout.",
    ),
    Scenario(
        name="heartbeat-fix",
        stack=f"nginx read timeout {NGINX_READ_TIMEOUT:g}s → gateway, heartbeat {HEARTBEAT:g}s",
        expected=(),
        start=_nginx_idle(heartbeat=HEARTBEAT),
        needs=("nginx",),
        probes=(ProbePlan(sim=THINKING_SIM, concurrency=(4,), max_requests=4),),
        real_world="The same nginx and the same 90 s pause, with the gateway's 15 s heartbeat.",
        fix="This is the fix: the heartbeat resets nginx's idle timer during the pause.",
    ),
    Scenario(
        name="lb-total-timeout",
        stack=f"total-time limit {LB_TOTAL_TIMEOUT:g}s → gateway, heartbeat {HEARTBEAT:g}s",
        expected=("total_timeout",),
        companions=("truncated_stream",),
        start=_lb_total,
        probes=(ProbePlan(sim=THINKING_SIM, concurrency=(4,), max_requests=4),),
        real_world="A limit on total time: GCP backend service `timeoutSec` (30 s), Envoy/Istio "
        "route `timeout` (15 s), API Gateway (29 s), Heroku. The limiter is a TCP relay that "
        "cuts each connection at a fixed time; it stands in for all of them.",
        fix="Raise the total timeout above the longest stream (Envoy `timeout: 0s` on the "
        "streaming route, GCP `timeoutSec`), or cap streams below it with `--max-duration`.",
        note="heartbeats cannot help against a total-time limit",
    ),
    Scenario(
        name="total-timeout-resume",
        stack=f"total-time limit {LB_TOTAL_TIMEOUT:g}s → gateway --resume, heartbeat {HEARTBEAT:g}s",
        expected=("total_timeout",),
        companions=("truncated_stream",),
        start=_lb_total_resume,
        probes=(ProbePlan(sim=LONG_ANSWER, concurrency=(4,), max_requests=4),),
        real_world="The same total-time limits (GCP 30 s, Envoy 15 s, API Gateway 29 s, mobile "
        "networks that drop): a plain client still loses the tail of a long answer.",
        fix="`streamwarden serve --resume` (or `--redis` for replicas) and a resuming client "
        "(`streamwarden.client`, or a browser EventSource on `GET /v1/streams/{id}`).",
        note="resume reads on after the cut: the answer arrives whole",
        judge=_judge_resume,
    ),
    Scenario(
        name="rolling-deploy",
        stack="nginx → 2 gateways --redis (one Redis); one replica restarted during streams",
        expected=(),
        start=_ROLLING.start,
        needs=("nginx", "redis-server"),
        probes=(
            ProbePlan(
                sim={"ttft": TTFT, "tokens": 12, "tps": 20}, concurrency=(4,), max_requests=8
            ),
        ),
        real_world="A rolling deploy (Kubernetes, a blue/green switch) restarts replicas while "
        "answers stream: without resume, every stream on the restarted replica is cut.",
        fix="`streamwarden serve --redis URL` on every replica, `proxy_next_upstream http_503` "
        "in front, and resuming clients: the drained replica finishes its generations into "
        "Redis while its clients read on at another one.",
        judge=_ROLLING.judge,
    ),
    Scenario(
        name="haproxy-timeout",
        stack=f"HAProxy timeout server {HAPROXY_TIMEOUT_SERVER:g}s → gateway, no heartbeat",
        expected=("idle_timeout", "missing_heartbeat"),
        companions=("truncated_stream",),
        start=_haproxy,
        needs=("haproxy",),
        probes=(ProbePlan(sim=THINKING_SIM, concurrency=(4,), max_requests=4),),
        real_world="HAProxy's `timeout server` (often 30–60 s) cutting a silent stream.",
        fix="Heartbeats more often than `timeout server`, and `timeout server` above the "
        "longest silence.",
    ),
    Scenario(
        name="blocked-loop",
        stack="uvicorn → async app calling time.sleep",
        expected=("blocked_event_loop",),
        companions=("slow_first_token",),
        start=_blocked_loop,
        probes=(
            ProbePlan(
                path="/v1/chat/completions?tokens=30&tps=20&block_every=15&block=0.7&ttft="
                + f"{TTFT:g}",
                concurrency=(4,),
                max_requests=4,
                ramp=0.6,
            ),
        ),
        real_world="A sync call (`requests`, a sync DB driver or SDK, `time.sleep`) inside "
        "`async def`: every stream on that event loop stalls at the same moment.",
        fix="`await asyncio.to_thread(...)`, async clients, no blocking calls in `async def`.",
    ),
    Scenario(
        name="no-cancel",
        stack="uvicorn → StreamingResponse beside the guard",
        expected=(),
        start=_no_cancel,
        probes=tuple(
            ProbePlan(
                label=route,
                path=f"/{route}/v1/chat/completions?tokens={NO_CANCEL_TOKENS}"
                f"&tps={NO_CANCEL_TPS:g}&ttft={TTFT:g}",
                concurrency=(4,),
                max_requests=4,
                timeout=NO_CANCEL_CLIENT_TIMEOUT,
            )
            for route in ("naive", "finally", "guarded")
        ),
        judge=_judge_no_cancel,
        real_world="Users close the tab or press stop mid-answer. A model task feeding a "
        "`StreamingResponse` keeps generating, and billing, to the end of the answer.",
        fix="Stop generation in the source's `finally`. The guard runs it within 100 ms of the "
        "disconnect, as a contract; Starlette never `aclose()`s a `StreamingResponse` iterator, "
        "and only runs that `finally` when uvicorn's disconnect cancels it mid-await.",
    ),
    Scenario(
        name="naive-app-idle-timeout",
        stack=f"nginx read timeout {NGINX_READ_TIMEOUT:g}s → StreamingResponse app",
        expected=("idle_timeout", "missing_heartbeat"),
        companions=("truncated_stream",),
        start=_naive_app("naive_app"),
        needs=("nginx",),
        probes=(
            ProbePlan(
                path="/v1/chat/completions?" + THINKING_QUERY, concurrency=(4,), max_requests=4
            ),
        ),
        real_world="An existing FastAPI/Starlette endpoint returning a `StreamingResponse`, "
        "as tutorials write it, behind nginx while the model thinks for 90 s.",
        fix="One line, no rewrite: `app.add_middleware(StreamGuardMiddleware)` (next scenario).",
    ),
    Scenario(
        name="middleware-fix",
        stack=f"nginx read timeout {NGINX_READ_TIMEOUT:g}s → the same app + StreamGuardMiddleware",
        expected=(),
        start=_naive_app("app"),
        needs=("nginx",),
        probes=(
            ProbePlan(
                path="/v1/chat/completions?" + THINKING_QUERY, concurrency=(4,), max_requests=4
            ),
            ProbePlan(
                label="disconnect",
                path=f"/v1/chat/completions?tokens={MIDDLEWARE_TOKENS}"
                f"&tps={NO_CANCEL_TPS:g}&ttft={TTFT:g}",
                concurrency=(4,),
                max_requests=4,
                timeout=NO_CANCEL_CLIENT_TIMEOUT,
            ),
        ),
        judge=_judge_middleware_fix,
        real_world="The naive app of the previous scenario after "
        "`app.add_middleware(StreamGuardMiddleware, policy=...)`, and no other change.",
        fix="This is the fix: heartbeats keep nginx's idle timer fed through the pause, and a "
        "client that leaves cancels the app's generator at once.",
    ),
    Scenario(
        name="fixed-stack",
        stack="nginx from `streamwarden config nginx` → gateway",
        expected=(),
        start=_fixed_stack,
        needs=("nginx",),
        probes=(
            ProbePlan(
                sim=THINKING_SIM,
                concurrency=(2, 8),
                max_requests=None,
                step_duration=0.1,
            ),
        ),
        real_world="The whole fix: the gateway (heartbeats, no buffering header, cancel on "
        "disconnect) behind nginx configured by `streamwarden config nginx`.",
        fix="Nothing to fix.",
    ),
)


def get_scenarios(names: tuple[str, ...] | list[str] = ()) -> list[Scenario]:
    """The named scenarios in registry order (all when `names` is empty)."""
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = set(names)
    return [s for s in SCENARIOS if not wanted or s.name in wanted]
