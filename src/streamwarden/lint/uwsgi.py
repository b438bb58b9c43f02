"""uWSGI rules: command lines (`uwsgi --http :80 …`) and `[uwsgi]` ini files.

uWSGI's workers are synchronous unless an async loop is loaded (`--gevent N`, `--async N`,
`--asyncio N`): each open stream holds a worker, or one of its threads, for its whole life.
Its defaults are one process and no threads (https://uwsgi-docs.readthedocs.io/en/latest/
Options.html#processes), `harakiri` kills a worker whose request runs longer than its value,
and in uWSGI 2.0 SIGTERM to the master means "brutally reload all the workers"
(https://uwsgi-docs.readthedocs.io/en/latest/Management.html#signals-for-controlling-uwsgi)
unless `--die-on-term` (or a master hook that kills them gracefully) says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from streamwarden.lint.cmdline import Command, options
from streamwarden.lint.durations import number, show
from streamwarden.lint.findings import Finding, Limits, Severity, line_at
from streamwarden.lint.registry import Registry
from streamwarden.lint.shellvalues import expand

DOCS = "https://uwsgi-docs.readthedocs.io/en/latest/Options.html"
SIGNALS = "https://uwsgi-docs.readthedocs.io/en/latest/Management.html"
ENOUGH_SLOTS = 100  # as for gunicorn's gthread: streams beyond this are a capacity question
ASYNC_OPTIONS = {"gevent", "async", "asyncio", "greenlet", "ugreen", "coroae"}
# Command-line options read, by every spelling (`!`: a flag without a value).
OPTIONS = {
    **dict.fromkeys(("--processes", "-p", "--workers"), "processes"),
    "--threads": "threads",
    **dict.fromkeys(("--harakiri", "-t"), "harakiri"),
    "--die-on-term": "die-on-term!",
    "--hook-master-start": "hook-master-start",
    **{f"--{loop}": loop for loop in ("gevent", "async", "asyncio", "coroae")},
    **{f"--{loop}": f"{loop}!" for loop in ("greenlet", "ugreen")},
    **dict.fromkeys(("--ini", "--config"), "ini"),
    **dict.fromkeys(("--yaml", "-y"), "yaml"),
    **dict.fromkeys(("--json", "-j"), "json"),
    **dict.fromkeys(("--xml", "-x"), "xml"),
}
_INI_ALIASES = {"workers": "processes"}
_INI_SECTION = re.compile(r"^\[uwsgi\]\s*$", re.M)
_INI_KEY = re.compile(r"^\s*([a-z][a-z0-9-]*)\s*[=:]\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Options:
    """A uWSGI command line's or ini file's options (the last value of each), and where."""

    values: dict[str, str | None]  # None: given without a value (a flag) or unknown
    file: str
    line: int

    def seconds(self, name: str) -> float | None:
        value = self.values.get(name)
        return number(value) if value else None

    def flag(self, name: str) -> bool:
        if name not in self.values:
            return False
        value = (self.values[name] or "true").lower()
        return value not in {"false", "0", "no", "off"}


def from_command(cmd: Command, file: str) -> Options:
    values: dict[str, str | None] = {k: expand(v) for k, v in options(cmd.argv, OPTIONS).items()}
    return Options(values, file, cmd.line)


def is_ini(text: str) -> bool:
    return _INI_SECTION.search(text) is not None


def from_ini(text: str, file: str) -> Options:
    """The `[uwsgi]` section of an ini file."""
    match = _INI_SECTION.search(text)
    values: dict[str, str | None] = {}
    line = 1
    if match is not None:
        line = line_at(text, match.start())
        for raw in text[match.end() :].split("\n"):
            if raw.startswith("["):
                break
            key = _INI_KEY.match(raw)
            if key and not raw.lstrip().startswith((";", "#")):
                values[_INI_ALIASES.get(key.group(1), key.group(1))] = expand(key.group(2))
    return Options(values, file, line)


Check = Callable[[Options, Limits], list[Finding]]
rules: Registry[Check] = Registry("uwsgi")


@rules.rule(
    "workers",
    "uWSGI's synchronous workers hold one stream each, one process by default",
    Severity.ERROR,
    f"Without an async loop (`--gevent`, `--async`, `--asyncio`) each uWSGI worker, or each of "
    f"its threads, serves one request at a time; `processes` defaults to 1 and threads are off "
    f"({DOCS}#processes). Every open stream holds one for its whole length, so once "
    "processes x threads streams are open the next request waits a whole answer.",
)
def workers(o: Options, limits: Limits) -> list[Finding]:
    if ASYNC_OPTIONS & o.values.keys():
        return []
    processes, threads = o.values.get("processes", "1"), o.values.get("threads", "1")
    if processes is None or threads is None:
        return []  # computed: unknown
    p, t = number(processes), number(threads)
    if p is None or t is None or p * t >= ENOUGH_SLOTS:
        return []
    slots = int(p * t)
    return [
        rules.info("workers").finding(
            f"uWSGI runs {int(p)} process{'es' if p != 1 else ''} x {int(t)} "
            f"thread{'s' if t != 1 else ''}, synchronous: {slots} open stream"
            f"{'s hold' if slots != 1 else ' holds'} every slot, and every other request "
            "(another user's chat, a health check, the static files) waits a whole answer.",
            "Serve streams from an async server (uvicorn, or uWSGI with `--gevent 1000` and "
            "gevent-safe code), or raise `--processes`/`--threads` to the streams you expect.",
            o.file,
            o.line,
        )
    ]


@rules.rule(
    "harakiri",
    "uWSGI's harakiri kills a worker whose stream outlasts it",
    Severity.ERROR,
    f"`harakiri` kills a worker whose request has run longer than its value in seconds "
    f"({DOCS}#harakiri); a stream is one request, so any stream longer than it is cut.",
)
def harakiri(o: Options, limits: Limits) -> list[Finding]:
    seconds = o.seconds("harakiri")
    if not seconds or seconds >= limits.max_duration:
        return []
    return [
        rules.info("harakiri").finding(
            f"harakiri is {show(seconds)}: uWSGI kills the worker of any stream that runs "
            f"longer, mid-answer (--max-duration is {show(limits.max_duration)}).",
            f"Raise `--harakiri` above the longest stream ({int(limits.max_duration) + 30}) "
            "or leave it unset for the streaming app.",
            o.file,
            o.line,
        )
    ]


@rules.rule(
    "die-on-term",
    "uWSGI 2.0 answers SIGTERM with a brutal reload, which cuts every open stream",
    Severity.WARNING,
    f'In uWSGI 2.0 SIGTERM to the master means "brutally reload all the workers and the '
    f'master process" ({SIGNALS}); `docker stop` and Kubernetes send SIGTERM, so open streams '
    "die at once and the container is killed at the end of its grace period. `--die-on-term` "
    '(or `--hook-master-start "unix_signal:15 gracefully_kill_them_all"`) makes it a '
    "shutdown.",
)
def die_on_term(o: Options, limits: Limits) -> list[Finding]:
    hook = o.values.get("hook-master-start") or ""
    if o.flag("die-on-term") or "gracefully_kill_them_all" in hook:
        return []
    return [
        rules.info("die-on-term").finding(
            "No --die-on-term: uWSGI 2.0 answers SIGTERM (docker stop, every rollout) by "
            "brutally reloading its workers, which cuts every open stream at once.",
            "Add `--die-on-term` (`die-on-term = true`), or `--hook-master-start "
            '"unix_signal:15 gracefully_kill_them_all"` to let open streams finish.',
            o.file,
            o.line,
        )
    ]


CONFIG_FILES = {"ini", "yaml", "json", "xml"}


def check(o: Options, limits: Limits) -> list[Finding]:
    if CONFIG_FILES & o.values.keys():
        return []  # the rest of its options are in a file this command names: unknown
    return rules.run(o, limits)
