"""A Locust user that records what `streamwarden probe` records: every socket read of every
stream, with its time, bytes, events and heartbeats, and how each stream ended.

Each user keeps one stream open at a time (closed loop, like a probe step at concurrency =
users). The HTTP/1.1 exchange and the SSE counting are the probe's own (`Exchange`,
`StreamReader`), driven by a gevent socket: one `recv()` is one row. Workers ship their
rows to the master with Locust's messages; the master (or a single local process) builds
one run, runs the probe's diagnosis and writes the same JSON/HTML report on exit.

Options (besides Locust's `--host`, the target's base URL): `--sw-path`, `--sw-format`,
`--sw-body` (JSON or @file), `--sw-header 'Name: value'`, `--sw-timeout`, `--sw-json`,
`--sw-html`, `--sw-insecure`, `--sw-ca`. With `STREAMWARDEN_STEPS=1,2,4` and
`STREAMWARDEN_STEP_DURATION=10` in the environment, a load shape runs the probe's steps.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import gevent
from gevent import GreenletExit
from locust import LoadTestShape, User, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from streamwarden.probe.client import Exchange, request_bytes, request_method
from streamwarden.probe.config import ProbeConfig, Target, parse_target, tls_context
from streamwarden.probe.formats import StreamReader, detect_from_url
from streamwarden.probe.timeline import RequestRecord, Run, Step

_MESSAGE = "streamwarden_rows"
_FLUSH_S = 0.5
_IDLE_S = 0.02
_RECV = 65536


def _options(parser: Any) -> None:
    group = parser.add_argument_group("streamwarden")
    group.add_argument("--sw-path", default="/", help="Path of the streaming endpoint")
    group.add_argument("--sw-format", default="auto", help="openai | anthropic | sse | raw")
    group.add_argument("--sw-body", default=None, help="Request body: JSON, or @file (POST)")
    group.add_argument("--sw-header", action="append", default=[], help="'Name: value'")
    group.add_argument("--sw-timeout", type=float, default=60.0, help="Per-request timeout (s)")
    group.add_argument("--sw-json", default=None, help="Master: write the run as JSON")
    group.add_argument("--sw-html", default=None, help="Master: write the HTML report")
    group.add_argument("--sw-insecure", action="store_true", help="TLS: skip cert checks")
    group.add_argument("--sw-ca", default=None, help="TLS: trust this CA bundle (PEM)")


def probe_config(options: Any, users: int = 1) -> ProbeConfig:
    body = options.sw_body
    if body is not None and body.startswith("@"):
        body = Path(body[1:]).read_text()
    headers = []
    for item in options.sw_header or []:
        name, _, value = item.partition(":")
        headers.append((name.strip(), value.strip()))
    return ProbeConfig(
        url=urljoin(options.host or "http://127.0.0.1", options.sw_path),
        format=options.sw_format,
        body=None if body is None else body.encode(),
        headers=tuple(headers),
        concurrency=(users,),
        timeout=options.sw_timeout,
        allow_remote=True,  # Locust's own --host: the operator chose it
        insecure=options.sw_insecure,
        ca=options.sw_ca,
    )


class _Done:
    """The completion `Exchange` sets; nothing waits on it here, the read loop checks it."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: None, /) -> None:
        self._done = True


class _SocketTransport:
    """What `Exchange` needs of a transport, over a (gevent) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock.getsockname() if name == "sockname" else None

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        self.sock.close()


class _Plan:
    """Per process: the request to send and where; built once from the options."""

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config
        self.target: Target = parse_target(config.url, allow_remote=True)
        self.request = request_bytes(config, self.target)
        self.head = request_method(config) == "HEAD"
        self.tls = tls_context(config) if self.target.tls else None
        self.url_hint = detect_from_url(self.target.path) if config.format == "auto" else "auto"


class _Rows:
    """Records finished in this process and not yet shipped, with their wall-clock start."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.all: list[dict[str, Any]] = []  # the master's (or a local run's) collection
        self.started_wall: float | None = None
        #: Streams open in this process now (a worker reports it with every shipment).
        self.in_flight = 0
        #: Users started in this process.
        self.users = 0
        #: On the master: each process's last report, `node -> (wall time, in flight)`.
        self.reports: dict[str, tuple[float, int]] = {}
        self.plan: _Plan | None = None


_rows = _Rows()


def _plan(environment: Environment) -> _Plan:
    if _rows.plan is None:
        _rows.plan = _Plan(probe_config(environment.parsed_options))
    return _rows.plan


class StreamUser(User):
    """One stream at a time, restarted as soon as it ends: a closed-loop probe stream.

    With the probe's steps, every user is started at once and each one takes part in a
    step only while its number is below the step's concurrency: Locust starting users
    mid-run stalled its workers' reads for about a second (measured), which would read as
    the target's stall."""

    wait_time = constant(0)

    def on_start(self) -> None:
        runner = self.environment.runner
        workers = int(os.environ.get("STREAMWARDEN_WORKERS", "1"))
        worker = max(0, int(getattr(runner, "worker_index", 0)))
        #: Users are spread evenly over the workers: number them across all of them.
        self.number = _rows.users * workers + worker
        _rows.users += 1

    @task
    def stream(self) -> None:
        step = 0
        plan = _step_plan()
        if plan is not None:
            current = _current_step(plan)
            if current is None or self.number >= plan[0][current]:
                # Not in this step, or the last step has ended: no new stream (the ones
                # open finish), as the built-in engine does.
                gevent.sleep(_IDLE_S)
                return
            step = current
        _rows.in_flight += 1
        try:
            self._stream(step)
        finally:
            _rows.in_flight -= 1

    def _stream(self, step: int) -> None:
        plan = _plan(self.environment)
        config = plan.config
        wall = time.time()
        t0 = time.perf_counter()
        record = RequestRecord(step=step, start_ms=0.0)
        reader = StreamReader(config.format, plan.url_hint)
        exchange = Exchange(plan.request, record, reader, t0, _Done(), plan.head)
        sock: socket.socket | None = None
        try:
            with gevent.Timeout(config.timeout):
                try:
                    sock = socket.create_connection((plan.target.host, plan.target.port))
                    if plan.tls is not None:
                        sock = plan.tls.wrap_socket(sock, server_hostname=plan.target.host)
                except OSError as exc:
                    exchange.abort("connect_error", f"{type(exc).__name__}: {exc}")
                    return
                exchange.connection_made(_SocketTransport(sock))  # type: ignore[arg-type]
                try:
                    while not exchange.finished:
                        data = sock.recv(_RECV)
                        if not data:
                            exchange.eof_received()
                            break
                        exchange.data_received(data)
                except OSError as exc:
                    exchange.connection_lost(exc)
        except gevent.Timeout:
            exchange.abort("client_timeout", f"no end after {config.timeout:g}s")
        except GreenletExit:
            exchange.abort("stopped", "stopped: the Locust run ended")
            raise
        finally:
            if not exchange.finished:
                exchange.abort("stopped", "stopped: the Locust run ended")
            if sock is not None:
                sock.close()
            row = record.to_json(reads=True)
            row["reads"] = [list(read) for read in record.reads]
            row["wall_start"] = wall
            _rows.pending.append(row)
            self.environment.events.request.fire(
                request_type="STREAM",
                name=plan.target.path,
                response_time=record.end_ms or 0.0,
                response_length=sum(read[1] for read in record.reads),
                exception=None if record.succeeded else Exception(record.error or record.outcome),
                context={},
            )


def _ship(environment: Environment) -> None:
    runner = environment.runner
    if runner is None:
        return
    rows, _rows.pending = _rows.pending, []
    node = getattr(runner, "client_id", "local")
    runner.send_message(_MESSAGE, {"rows": rows, "in_flight": _rows.in_flight, "node": node})


def _flusher(environment: Environment) -> None:
    while True:
        gevent.sleep(_FLUSH_S)
        _ship(environment)


def _receive(environment: Environment, msg: Any, **kw: Any) -> None:
    _rows.all.extend(msg.data["rows"])
    _rows.reports[str(msg.data["node"])] = (time.time(), int(msg.data["in_flight"]))


def _current_step(plan: tuple[list[int], float]) -> int | None:
    """The step running now by this process's clock; None once the last one has ended."""
    counts, duration = plan
    if _rows.started_wall is None:
        return 0
    index = int((time.time() - _rows.started_wall) // duration)
    return index if index < len(counts) else None


def _all_drained(since: float) -> bool:
    """Every process reported, after `since`, that it has no stream open."""
    reports = _rows.reports.values()
    return bool(reports) and all(at > since and n == 0 for at, n in reports)


def _init(environment: Environment, **kw: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    if not isinstance(runner, WorkerRunner):
        runner.register_message(_MESSAGE, lambda msg, **k: _receive(environment, msg))
    if not isinstance(runner, MasterRunner):
        gevent.spawn(_flusher, environment)


def _test_start(environment: Environment, **kw: Any) -> None:
    if _rows.started_wall is None:
        _rows.started_wall = time.time()


def _test_stop(environment: Environment, **kw: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        _ship(environment)  # before the worker reports that it stopped


def _quitting(environment: Environment, **kw: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    if options is None or not (options.sw_json or options.sw_html):
        return
    run = build_run(environment)
    from streamwarden.probe.diagnose import diagnose
    from streamwarden.probe.report import write_html, write_json

    run.diagnosis = diagnose(run)
    if options.sw_json:
        write_json(run, options.sw_json)
    if options.sw_html:
        write_html(run, options.sw_html)


def _step_plan() -> tuple[list[int], float] | None:
    steps = os.environ.get("STREAMWARDEN_STEPS")
    if not steps:
        return None
    duration = float(os.environ.get("STREAMWARDEN_STEP_DURATION", "10"))
    return [int(c) for c in steps.split(",") if c.strip()], duration


def build_run(environment: Environment) -> Run:
    """The master's run: every worker's rows, placed on the master's steps by start time."""
    options = environment.parsed_options
    users = getattr(options, "num_users", None) or 1
    config = probe_config(options, int(users))
    origin = _rows.started_wall or min((r["wall_start"] for r in _rows.all), default=0.0)
    plan = _step_plan()
    if plan is not None:
        counts, duration = plan
        steps = [Step(index=i, concurrency=c, duration_s=duration) for i, c in enumerate(counts)]
    else:
        steps = [Step(index=0, concurrency=int(users), duration_s=0.0)]
    requests = []
    for row in _rows.all:
        row["start_ms"] = (row.pop("wall_start") - origin) * 1000.0
        requests.append(RequestRecord.from_json(row))
    for i, step in enumerate(steps):
        mine = [r for r in requests if r.step == i]
        step.started_ms = min((r.start_ms for r in mine), default=0.0)
        step.ended_ms = max((r.start_ms + (r.end_ms or 0.0) for r in mine), default=step.started_ms)
    run = Run(target=config.url, steps=steps, requests=requests, config=config.describe())
    run.config["engine"] = "locust"
    run.protocol = "http/1.1"
    run.started_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(origin))
    return run


if _step_plan() is not None:

    class ProbeSteps(LoadTestShape):
        """The probe's closed-loop steps: `STREAMWARDEN_STEPS` users, each for the step's
        duration; then no new streams while the ones in flight end on their own (as the
        built-in engine lets them), and the rows of the last ones reach the master."""

        drained_at: float | None = None

        def tick(self) -> tuple[int, float] | None:
            plan = _step_plan()
            assert plan is not None
            counts, duration = plan
            now = self.get_run_time()  # type: ignore[no-untyped-call]
            if now < len(counts) * duration:
                return max(counts), 1000.0
            # The users start no new stream now (`_current_step`); the streams still open
            # end on their own, and the run ends once every process reports none open.
            ended = time.time() - (now - len(counts) * duration)
            limit = len(counts) * duration + _drain_limit()
            if self.drained_at is None and (_all_drained(ended + _FLUSH_S) or now > limit):
                self.drained_at = now
            if self.drained_at is not None and now - self.drained_at > 2 * _FLUSH_S:
                return None
            return max(counts), 1000.0


def _drain_limit() -> float:
    return float(os.environ.get("STREAMWARDEN_DRAIN", "60"))


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_test_stop)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]
