"""What the rules need besides the shared `Finding`: the limits they judge against, and the
error the edges raise."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from streamwarden.defaults import HEARTBEAT, IDLE_TIMEOUT, MAX_DURATION
from streamwarden.findings import Finding, Severity
from streamwarden.lint.durations import show

__all__ = ["AppServer", "ConfigError", "Finding", "Framing", "Limits", "Severity"]


class Framing(Enum):
    """How an app server frames a streamed answer to nginx's HTTP/1.0 request."""

    CHUNKED = "chunked"  # nginx finds the end inside the body and passes each chunk on
    CLOSE = "close-delimited"  # no length, no chunks: nginx waits for a full buffer or the end


@dataclass(frozen=True, slots=True)
class AppServer:
    """An app server a project starts (or `--app-server` names), and where it listens.

    `ports` empty: unknown. `service` is the Compose service or Kubernetes workload that runs
    it (None: a Dockerfile, Procfile or script, which names no service)."""

    name: str  # "uvicorn (httptools)", "gunicorn (gthread worker)"
    framing: Framing
    ports: frozenset[int] = frozenset()
    service: str | None = None
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What the streams behind these configs need.

    `max_gap` is the longest silence expected between two bytes (the heartbeat interval); an
    idle timeout is safe from twice that. `max_duration` is the longest stream; a total timeout
    must be at least that. `nginx_version` picks version-dependent defaults (None: assume an
    nginx older than 1.29.7, as every distribution shipped in 2025). `stream_paths` names the
    URL prefixes that stream (empty: guess from each route). `app_sends_accel_buffering` says
    the app answers streams with `X-Accel-Buffering: no`, which turns nginx buffering off per
    response. `app_servers` are the app servers a linted tree starts (matched to nginx
    routes by service name and port), `service_hosts` every service name the tree defines
    (a route to one that starts no known server is not matched by port); `app_server` is the
    one `--app-server` names for every route no detected server matches. `silent_stream`
    ("file:line") is where a linted tree's app source streams when none of it sends a
    heartbeat and it waits on tools, agents or reasoning (`silence_from`): its silences then
    last as long as a step does, and idle timeouts are held to `IDLE_TIMEOUT` (300 s, what
    `streamwarden config` writes) instead of twice `max_gap`.
    """

    max_gap: float = HEARTBEAT
    max_duration: float = MAX_DURATION
    nginx_version: tuple[int, ...] | None = None
    stream_paths: tuple[str, ...] = ()
    app_sends_accel_buffering: bool = False
    app_servers: tuple[AppServer, ...] = ()
    service_hosts: frozenset[str] = frozenset()
    app_server: AppServer | None = None
    silent_stream: str | None = None
    silence_from: str | None = None  # "file:line" where that app waits on tools or agents

    @property
    def idle_threshold(self) -> float:
        """The shortest idle timeout that no silence in a stream reaches."""
        if self.silent_stream:
            return max(float(IDLE_TIMEOUT), 2 * self.max_gap)
        return 2 * self.max_gap

    @property
    def idle_setting(self) -> int:
        """The idle timeout a fix suggests: room to spare over the threshold."""
        if self.silent_stream:
            return int(self.idle_threshold)
        return max(IDLE_TIMEOUT, int(self.idle_threshold * 2))

    @property
    def idle_why(self) -> str:
        """Why a shorter idle timeout cuts streams, for a finding's summary."""
        if self.silent_stream:
            return (
                f"less than {show(self.idle_threshold)}, because the app streams with no "
                f"heartbeat ({self.silent_stream}) and waits on tools or agents "
                f"({self.silence_from}), so it is silent as long as a tool call or a reasoning "
                "model is"
            )
        return f"less than twice the longest expected gap ({show(self.max_gap)})"

    def idle_severity(self, seconds: float) -> Severity | None:
        """A warning where the verdict rests on how long the app's silences last: a timeout
        under twice the heartbeat cuts streams whatever the app does, and keeps its rule's."""
        if self.silent_stream and seconds >= 2 * self.max_gap:
            return Severity.WARNING
        return None

    @property
    def heartbeat_fix(self) -> str:
        """The other fix, for an app that sends no heartbeat."""
        if not self.silent_stream:
            return ""
        return (
            f" Or have the app send a heartbeat (an SSE comment line `: ping`) every "
            f"{show(self.max_gap)}, and anything from {show(2 * self.max_gap)} works."
        )


def line_at(text: str, offset: int) -> int:
    """The 1-based line of a character offset in `text`, as findings count lines."""
    return text.count("\n", 0, offset) + 1


class ConfigError(Exception):
    """A file that cannot be read or parsed. Reported as one line, never a traceback."""

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        self.file = file
        self.problem = problem
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.problem}"
