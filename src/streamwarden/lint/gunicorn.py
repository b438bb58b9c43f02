"""gunicorn: `gunicorn.conf.py` files and gunicorn command lines, one check per rule.

The config file is read with `ast`, never executed: only literal assignments count, and a
setting computed at run time (`workers = cpu_count() * 2`) or taken from the environment
without a default (`--timeout $TIMEOUT`) is unknown, and no rule judges it.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from streamwarden.lint.cmdline import Command, options
from streamwarden.lint.durations import number, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry
from streamwarden.lint.shellvalues import expand

DOCS = "https://docs.gunicorn.org/en/stable/settings.html"
DEFAULTS = {
    "worker_class": "sync",
    "threads": "1",
    "timeout": "30",
    "graceful_timeout": "30",
    "keepalive": "2",
    "worker_connections": "1000",
    "max_requests": "0",
}
# Every gunicorn setting name a config file may assign (gunicorn 23), to catch misspellings.
KNOWN = frozenset(
    """accesslog access_log_format backlog bind ca_certs capture_output cert_reqs certfile
    chdir check_config child_exit ciphers config daemon default_proc_name disable_redirect_access_to_syslog
    do_handshake_on_connect dogstatsd_tags enable_stdio_inheritance errorlog forwarded_allow_ips
    graceful_timeout group header_map initgroups keepalive keyfile limit_request_field_size
    limit_request_fields limit_request_line logconfig logconfig_dict logconfig_json logger_class
    loglevel max_requests max_requests_jitter nworkers_changed on_exit on_reload on_starting
    paste pidfile post_fork post_request post_worker_init pre_exec pre_fork pre_request
    preload_app print_config proc_name proxy_allow_ips proxy_protocol pythonpath raw_env
    raw_paste_global_conf reload reload_engine reload_extra_files reuse_port secure_scheme_headers
    sendfile spew ssl_context ssl_version statsd_host statsd_prefix strip_header_spaces
    suppress_ragged_eofs syslog syslog_addr syslog_facility syslog_prefix threads timeout
    tmp_upload_dir umask user when_ready wsgi_app worker_abort worker_class worker_connections
    worker_exit worker_int worker_tmp_dir workers""".split()
)
ALIASES = {
    "-k": "worker_class",
    "--worker-class": "worker_class",
    "-w": "workers",
    "--workers": "workers",
    "--threads": "threads",
    "-t": "timeout",
    "--timeout": "timeout",
    "--graceful-timeout": "graceful_timeout",
    "--keep-alive": "keepalive",
    "--worker-connections": "worker_connections",
    "--max-requests": "max_requests",
    "-c": "config",
    "--config": "config",
}
# Load balancers keep idle connections this long by default (ALB 60 s); the app must outlast it.
LB_IDLE = 60.0
DEPRECATED_UVICORN = "uvicorn.workers.UvicornWorker"
SYNC = {"sync", "gunicorn.workers.sync.SyncWorker"}
THREADED = {"gthread", "gunicorn.workers.gthread.ThreadWorker"}
GREEN = {"gevent", "eventlet", "gunicorn.workers.ggevent.GeventWorker"}
FEW_CONNECTIONS = 100


@dataclass(frozen=True, slots=True)
class Value:
    """One setting as written: its text (None: unknown), and where."""

    text: str | None
    file: str
    line: int


@dataclass(slots=True)
class Settings:
    """The settings of one gunicorn process: from its command line, its config file, or both."""

    values: dict[str, Value]
    file: str
    line: int  # where to report defaults: the command line, or line 1 of a config file
    misspelled: list[tuple[str, str, int]] = field(default_factory=list)  # (name, guess, line)
    unreadable: bool = False  # a config file that could not be read: every unset value unknown

    def get(self, name: str) -> tuple[str | None, Value | None]:
        """(text, where it was set); the default when unset, None when unknown."""
        if name in self.values:
            value = self.values[name]
            return value.text, value
        if self.unreadable:
            return None, None
        return DEFAULTS.get(name), None

    def seconds(self, name: str) -> tuple[float | None, Value | None]:
        text, where = self.get(name)
        return (number(text) if text is not None else None), where

    def worker(self) -> str | None:
        worker, _ = self.get("worker_class")
        threads, _ = self.seconds("threads")
        # gunicorn switches sync to gthread by itself when threads > 1.
        if worker in SYNC and threads is not None and threads > 1:
            return "gthread"
        if worker in SYNC and threads is None and "threads" in self.values:
            return None  # sync or gthread: the thread count decides, and it is unknown
        return worker

    def merged_under(self, base: Settings) -> Settings:
        """These settings (a command line) over `base` (its config file): the command wins."""
        values = {**base.values, **self.values}
        return Settings(values, self.file, self.line, base.misspelled, base.unreadable)

    def where(self, value: Value | None) -> tuple[str, int]:
        return (value.file, value.line) if value else (self.file, self.line)


def from_conf_py(source: str, file: str = "gunicorn.conf.py") -> Settings:
    """Literal top-level assignments of a gunicorn.conf.py; computed ones are unknown."""
    tree = ast.parse(source)
    values: dict[str, Value] = {}
    misspelled: list[tuple[str, str, int]] = []
    for node, branch in _module_level(tree.body):
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if target.id not in KNOWN:
                guess = difflib.get_close_matches(target.id, KNOWN, n=1, cutoff=0.85)
                if guess:
                    misspelled.append((target.id, guess[0], node.lineno))
                continue
            try:
                # Set in one branch of an `if` or `try`: which one runs is unknown.
                text: str | None = None if branch else str(ast.literal_eval(node.value))
            except ValueError:
                text = None  # computed at run time: unknown
            values[target.id] = Value(text, file, node.lineno)
    return Settings(values, file, 1, misspelled)


def _module_level(body: list[ast.stmt], branch: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Statements that run at import, with whether they sit in a conditional branch (the
    bodies of module-level `if`, `try` and `with` blocks, which gunicorn runs too)."""
    for node in body:
        yield node, branch
        if isinstance(node, ast.If | ast.Try):
            inner = [*node.body, *node.orelse]
            if isinstance(node, ast.Try):
                inner += [*node.finalbody, *(s for h in node.handlers for s in h.body)]
            yield from _module_level(inner, True)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body, branch)


def settings_assigned(source: str) -> set[str]:
    """The gunicorn setting names a Python file assigns at module level (for detection)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id in KNOWN}
    return names


def from_command(cmd: Command, file: str) -> Settings:
    opts = options(cmd.argv, ALIASES)
    values = {k: Value(expand(v), file, cmd.line) for k, v in opts.items()}
    return Settings(values, file, cmd.line)


def config_file(settings: Settings) -> str | None:
    """The config file a command line names (`-c FILE`); None when it names none."""
    value = settings.values.get("config")
    return value.text if value else None


# -- rules -------------------------------------------------------------------------------------

Check = Callable[[Settings, Limits], list[Finding]]
rules: Registry[Check] = Registry("gunicorn")


@rules.rule(
    "sync-worker",
    "a sync or threaded worker holds one stream per process or thread",
    Severity.ERROR,
    "gunicorn's sync worker serves one request per process; gthread one per thread "
    f"({DOCS}#worker-class). A stream keeps its worker or thread for its whole life.",
)
def sync_worker(s: Settings, limits: Limits) -> list[Finding]:
    worker = s.worker()
    _, set_at = s.get("worker_class")
    workers, _ = s.get("workers")
    capacity = f"{workers} worker(s)" if workers and number(workers) else "the worker count"
    file, line = s.where(set_at)
    if worker in SYNC:
        return [
            rules.info("sync-worker").finding(
                f"gunicorn uses the sync worker{'' if set_at else ' (the default)'}: each open "
                "stream holds a whole worker process for its life, so at "
                f"{capacity} streams at once the next request waits a stream length or fails.",
                "Use an async worker: `-k uvicorn_worker.UvicornWorker` for ASGI apps "
                "(or `-k gevent` for WSGI apps).",
                file,
                line,
            )
        ]
    if worker in THREADED:
        threads, _ = s.get("threads")
        count = number(threads) if threads else None
        if count is not None and count >= FEW_CONNECTIONS:
            return []  # as many streams per worker as an async worker's few connections allow
        per = f"{threads} thread(s) per worker" if threads else "the thread count"
        return [
            rules.info("sync-worker").finding(
                f"gunicorn uses gthread: each open stream holds a thread for its whole life, so "
                f"concurrency stops at {capacity} x {per} streams and the next request queues.",
                "Use `-k uvicorn_worker.UvicornWorker` (ASGI) or `-k gevent` (WSGI), or raise "
                "--threads to the number of concurrent streams you expect.",
                file,
                line,
                Severity.WARNING,
            )
        ]
    return []


@rules.rule(
    "deprecated-uvicorn-worker",
    "uvicorn.workers.UvicornWorker is deprecated",
    Severity.WARNING,
    "uvicorn deprecated its gunicorn worker in 0.30 in favour of the `uvicorn-worker` package "
    "(https://www.uvicorn.org/deployment/#gunicorn).",
)
def deprecated_uvicorn_worker(s: Settings, limits: Limits) -> list[Finding]:
    worker, set_at = s.get("worker_class")
    if worker != DEPRECATED_UVICORN:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("deprecated-uvicorn-worker").finding(
            "`uvicorn.workers.UvicornWorker` is deprecated and will be removed from uvicorn.",
            "`pip install uvicorn-worker` and use `-k uvicorn_worker.UvicornWorker`.",
            file,
            line,
        )
    ]


@rules.rule(
    "timeout",
    "the sync worker is killed after timeout, mid-stream",
    Severity.ERROR,
    "The arbiter kills a worker that has not notified it for `timeout` seconds (30 by default, "
    f"{DOCS}#timeout); only the sync worker stays silent for a whole request.",
)
def timeout(s: Settings, limits: Limits) -> list[Finding]:
    seconds, set_at = s.seconds("timeout")
    if s.worker() not in SYNC or not seconds or seconds >= limits.max_duration:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("timeout").finding(
            f"timeout is {show(seconds)}{'' if set_at else ' (default)'}: the sync worker "
            "serving a stream is busy all along, and gunicorn kills it after "
            f"{show(seconds)}, cutting any stream longer than that (--max-duration is "
            f"{show(limits.max_duration)}).",
            "Switch to an async worker; with sync, set "
            f"`--timeout {int(limits.max_duration) + 30}`.",
            file,
            line,
        )
    ]


@rules.rule(
    "graceful-timeout",
    "deploys cut streams after graceful_timeout",
    Severity.WARNING,
    "On SIGTERM or reload, workers get `graceful_timeout` seconds (30 by default, "
    f"{DOCS}#graceful-timeout) to finish; streams still open then are killed.",
)
def graceful_timeout(s: Settings, limits: Limits) -> list[Finding]:
    seconds, set_at = s.seconds("graceful_timeout")
    if seconds is None or seconds >= limits.max_duration:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("graceful-timeout").finding(
            f"graceful_timeout is {show(seconds)}{'' if set_at else ' (default)'}: on every "
            f"deploy or reload, streams still running after {show(seconds)} are killed "
            f"mid-answer (--max-duration is {show(limits.max_duration)}).",
            f"Set `--graceful-timeout {int(limits.max_duration) + 30}` (and a matching "
            "terminationGracePeriodSeconds), or end streams cleanly on SIGTERM.",
            file,
            line,
        )
    ]


@rules.rule(
    "max-requests",
    "max_requests recycles gthread workers, and each recycle cuts the streams they serve",
    Severity.WARNING,
    f"A worker that has served `max_requests` requests ({DOCS}#max-requests) stops and gives "
    "the requests it still serves `graceful_timeout`; a gthread worker's threads then keep it "
    "alive only until the arbiter's `timeout` kills it. Measured on gunicorn 27 "
    "(`--max-requests 1`, a 20 s stream): gthread with graceful_timeout 3 s and timeout 6 s "
    "cut it at 9.9 s, with timeout 30 s it finished; the uvicorn worker finished it (uvicorn "
    "waits for open responses); the sync worker exits only after its request.",
)
def max_requests(s: Settings, limits: Limits) -> list[Finding]:
    recycle, set_at = s.seconds("max_requests")
    if s.worker() not in THREADED or not recycle or set_at is None:
        return []
    graceful, _ = s.seconds("graceful_timeout")
    timeout, _ = s.seconds("timeout")
    if graceful is None or timeout is None or graceful + timeout >= limits.max_duration:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("max-requests").finding(
            f"max_requests is {int(recycle)} with gthread: every recycled worker stops, and the "
            f"streams it still serves are killed about {show(graceful + timeout)} later "
            f"(graceful_timeout {show(graceful)} + timeout {show(timeout)}), over and over on a "
            f"busy server, not only on deploys (--max-duration is {show(limits.max_duration)}).",
            "Drop --max-requests, or serve streams from an async worker (`-k "
            "uvicorn_worker.UvicornWorker` lets open responses finish), or raise "
            f"--graceful-timeout and --timeout above {int(limits.max_duration)} s together.",
            file,
            line,
        )
    ]


@rules.rule(
    "worker-connections",
    "an async worker accepts few connections, and each stream holds one",
    Severity.WARNING,
    "gevent and eventlet workers serve at most `worker_connections` clients at once (1000 by "
    f"default, {DOCS}#worker-connections); a stream holds its connection for its whole life.",
)
def worker_connections(s: Settings, limits: Limits) -> list[Finding]:
    count, set_at = s.seconds("worker_connections")
    if s.worker() not in GREEN or count is None or count >= FEW_CONNECTIONS or set_at is None:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("worker-connections").finding(
            f"worker_connections is {count:g}: each worker serves at most {count:g} clients at "
            "once, and every open stream holds one, so the next stream waits for a whole "
            "answer to end.",
            "Raise `--worker-connections` to the streams one worker should hold (the default "
            "is 1000).",
            file,
            line,
        )
    ]


@rules.rule(
    "keepalive",
    "keep-alive shorter than a load balancer's idle timeout (502s behind one)",
    Severity.INFO,
    "gunicorn closes idle keep-alive connections after `keepalive` seconds (2 by default, "
    f"{DOCS}#keepalive). A balancer that reuses idle connections longer (ALB: 60 s) sends the "
    "next request into a closing socket and answers 502. nginx without upstream `keepalive` "
    "opens a connection per request and is not affected, hence info.",
)
def keepalive(s: Settings, limits: Limits) -> list[Finding]:
    seconds, set_at = s.seconds("keepalive")
    worker = s.worker()
    if worker is None or worker in SYNC or seconds is None or seconds > LB_IDLE:
        return []
    file, line = s.where(set_at)
    return [
        rules.info("keepalive").finding(
            f"keepalive is {show(seconds)}{'' if set_at else ' (default)'}, shorter than a "
            f"load balancer's idle timeout (ALB: {show(LB_IDLE)}): behind a balancer that "
            "reuses idle connections, the next request on one gets a 502.",
            f"Behind such a balancer, set `--keep-alive {int(LB_IDLE) + 15}`.",
            file,
            line,
        )
    ]


@rules.rule(
    "unknown-setting",
    "a config file assigns a name gunicorn does not know (a misspelling it ignores)",
    Severity.WARNING,
    "gunicorn reads only the setting names it knows from a config file and ignores the rest "
    f"without a word ({DOCS}); `keep_alive = 75` leaves keepalive at 2 s.",
)
def unknown_setting(s: Settings, limits: Limits) -> list[Finding]:
    return [
        rules.info("unknown-setting").finding(
            f"`{name}` is not a gunicorn setting, so gunicorn ignores it and `{guess}` keeps "
            "its default.",
            f"Rename it to `{guess}`.",
            s.file,
            line,
        )
        for name, guess, line in s.misspelled
    ]


def check(settings: Settings, limits: Limits) -> list[Finding]:
    return rules.run(settings, limits)
