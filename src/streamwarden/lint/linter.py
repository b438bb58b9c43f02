"""Lint files: read them (the only I/O), hand each to its family's rules, collect findings."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamwarden.lint import (
    apigateway,
    appheaders,
    appservers,
    appstreams,
    embedded,
    envoy,
    gunicorn,
    haproxy,
    helmvalues,
    ingress,
    nginx,
    routetimeouts,
    signals,
    sourceservers,
    templates,
    terraform,
    traefik,
    uvicorn,
    uwsgi,
    workloads,
)
from streamwarden.lint import yamlnodes as y
from streamwarden.lint.cmdline import Command, commands_in, node_servers
from streamwarden.lint.detect import Kind, detect, expand, looks_like_yaml, nginx_prefix
from streamwarden.lint.findings import AppServer, ConfigError, Finding, Limits, Severity
from streamwarden.lint.registry import Registry

STDIN = "-"
STDIN_NAME = "<stdin>"
Reader = Callable[[str], str | None]  # a path -> its text, None when it cannot be read

helm: Registry[Callable[..., list[Finding]]] = Registry("helm")
UNREAD = helm.note(
    "unread-values",
    "a Helm template's values could not be read, so the settings they fill were not checked",
    Severity.INFO,
    "Without `helm` on PATH a template is read by stripping its `{{ … }}` actions; what a "
    "`toYaml .Values…` or `include` would insert is unknown and no rule judges it. "
    "`helm template . | streamwarden lint -` lints the rendered chart.",
)
NOT_RENDERED = helm.note(
    "not-rendered",
    "a Helm template renders nothing with its chart's default values, so it was not checked",
    Severity.INFO,
    "Without `helm` on PATH the linter evaluates `.Values` from the chart's values.yaml, as "
    "`helm template` does without `-f`; a resource that the defaults switch off (an "
    "`ingress.enabled: false`) renders nothing. Lint it with the values you deploy: "
    "`helm template CHART -f VALUES | streamwarden lint -`.",
)
RENDER_ERROR = helm.note(
    "render-error",
    "helm cannot render the chart with its default values, so nothing of it installs as is",
    Severity.INFO,
    "A template that reads a field through a map its chart's values.yaml does not hold "
    "(`.Values.autoscaling.enabled` with no `autoscaling`) stops `helm template` and "
    '`helm install` with "nil pointer evaluating interface {}.enabled". Reported only where '
    "the read surely runs and the map is not a dependency's (whose values helm merges in); "
    "the template's own settings are then not judged.",
)
UNREAD_CONFIG = gunicorn.rules.note(
    "unread-config",
    "the config file a gunicorn command names could not be read",
    Severity.INFO,
    "gunicorn reads `-c FILE`, or ./gunicorn.conf.py when none is named "
    "(https://docs.gunicorn.org/en/stable/settings.html#config); settings in a file the "
    "linter cannot read are unknown.",
)

UNREAD_HEREDOC = nginx.rules.note(
    "unread-heredoc",
    "a script writes an nginx config that could not be read, so it was not checked",
    Severity.INFO,
    "Entrypoint scripts often write nginx.conf with a heredoc (`cat > nginx.conf <<EOF`); "
    "it is linted at the script's lines, unless shell syntax inside it keeps nginx's parser "
    "from reading it.",
)


@dataclass(slots=True)
class Result:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files that were checked
    streaming: list[str] = field(default_factory=list)  # nginx routes treated as streaming
    skipped: list[str] = field(default_factory=list)  # nginx routes skipped, with why
    # Where the app's own source sends X-Accel-Buffering: no ("file:line"), found in a tree.
    app_headers: list[str] = field(default_factory=list)
    # Where the app's source streams ("file:line"), and where it sends heartbeats.
    app_streams: list[str] = field(default_factory=list)
    app_heartbeats: list[str] = field(default_factory=list)
    # Where it waits on tools, agents, workflows or reasoning ("file:line").
    app_waits: list[str] = field(default_factory=list)
    # App servers the linted files start, with how they frame answers to nginx's HTTP/1.0.
    app_servers: list[AppServer] = field(default_factory=list)

    @property
    def silent_stream(self) -> bool:
        """The app streams, waits on tools or agents, and sends no heartbeat anywhere."""
        return bool(self.app_streams and self.app_waits and not self.app_heartbeats)

    @property
    def exit_code(self) -> int:
        if self.errors or not self.files:
            return 2
        return 1 if any(f.severity == "error" for f in self.findings) else 0


def _render_error(path: str, failure: helmvalues.Failure) -> Finding:
    holder, name = failure.holder, failure.field
    top = holder.split(".")[2] if holder.count(".") >= 2 else holder
    return RENDER_ERROR.finding(
        f"With the chart's default values helm stops here: `{failure.path}` reads `{name}` "
        f"of `{holder}`, which values.yaml does not hold (nil pointer evaluating interface "
        f"{{}}.{name}). The chart does not install as is, so this template's settings were "
        "not judged.",
        f"Add `{top}:` to values.yaml with the fields the templates read, or guard the read "
        f"(`{{{{- if {holder} }}}}`), then lint again.",
        path,
        failure.line,
    )


def _charts(files: list[str], result: Result) -> templates.Charts:
    """The run's Helm reader, with the `--helm-values` files that parse as a YAML mapping;
    each other one is an error (exit 2), and the charts are read without it."""
    good: list[str] = []
    values: list[dict[str, Any]] = []
    for file in files:
        text = _read_disk(file)
        if text is None:
            result.errors.append(ConfigError(file, "cannot read the Helm values file"))
            continue
        try:
            docs = y.documents(text, file)
        except ConfigError as exc:
            problem = exc.problem.removeprefix("cannot parse YAML: ")
            result.errors.append(
                ConfigError(file, f"cannot parse Helm values: {problem}", exc.line)
            )
            continue
        loaded = y.to_python(docs[0]) if docs else None
        if not isinstance(loaded, dict):
            result.errors.append(
                ConfigError(file, "Helm values must be a YAML mapping (key: value lines)")
            )
            continue
        good.append(file)
        values.append(loaded)
    return templates.Charts(good, values)


def _read_disk(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _yaml(path: str, text: str, limits: Limits, charts: templates.Charts) -> list[Finding]:
    templated = templates.is_template(text)
    rendered = templates.render(path, charts.files) if templated else None
    injected: dict[int, str] = {}
    dropped: tuple[str, int] | None = None
    if rendered is not None:
        docs = y.documents(rendered, path)
    elif templated:
        stripped = charts.read(path, text)
        if stripped.fails is not None:
            return [_render_error(path, stripped.fails)]
        docs, injected, dropped = stripped.documents(path), stripped.injected, stripped.dropped
    else:
        docs = y.documents(text, path)
    file = y.YamlFile(path, docs, injected)
    if dropped is not None:
        action, line = dropped
        return [
            NOT_RENDERED.finding(
                f"With the chart's values ({', '.join(('values.yaml', *charts.files))}) "
                f"`{action}` is false, so "
                "this template renders nothing and none of its settings were checked.",
                "Lint it with the values you deploy: `streamwarden lint CHART --helm-values "
                "VALUES`, or `helm template CHART -f VALUES | streamwarden lint -`.",
                path,
                line,
            )
        ]
    out = ingress.check(file, limits) + workloads.check(file, limits)
    out += routetimeouts.check(file, limits) + apigateway.check_cloudformation(file, limits)
    if envoy.looks_like_envoy(file.docs):
        out += envoy.check(file, limits)
    if traefik.looks_like_traefik(file.docs):
        out += traefik.check(file, limits)
    if file.unread:
        what = "; ".join(f"{w} (line {n})" for n, w in file.unread)
        out.append(
            UNREAD.finding(
                "Read as a Helm template without helm (its chart's values.yaml evaluated "
                f"where there is one, the other {{{{ … }}}} actions stripped): could not read "
                f"{what}, so no rule judged those settings.",
                "Lint the rendered chart: `helm template CHART | streamwarden lint -`.",
                path,
                file.unread[0][0],
            )
        )
    return out


def _gunicorn_settings(
    cmd: Command, path: str, read: Reader, merged: set[str]
) -> tuple[gunicorn.Settings, str | None]:
    """A gunicorn command's settings over those of the config file it reads, and the name of
    a config file it names that could not be read."""
    here = os.path.dirname(os.path.abspath(path)) if path != STDIN_NAME else os.getcwd()
    settings = gunicorn.from_command(cmd, path)
    named = gunicorn.config_file(settings)
    # gunicorn reads -c FILE, or ./gunicorn.conf.py from where it starts when none is named.
    conf = os.path.join(here, named or "gunicorn.conf.py")
    body = read(conf)
    if body is not None:
        try:
            base = gunicorn.from_conf_py(body, os.path.relpath(conf))
            settings = settings.merged_under(base)
            merged.add(os.path.abspath(conf))
        except SyntaxError:
            settings.unreadable = True
        return settings, None
    if named:
        settings.unreadable = True
    return settings, named


def _gunicorn_commands(
    path: str, text: str, limits: Limits, read: Reader, merged: set[str]
) -> list[Finding]:
    out: list[Finding] = signals.nginx_stops(path, text)
    for config in embedded.nginx_heredocs(text):
        # A config the script writes with a heredoc: what nginx runs, at the script's lines.
        try:
            out += nginx.check(nginx.load(path, config.text), limits)
        except ConfigError as exc:
            out.append(
                UNREAD_HEREDOC.finding(
                    f"The nginx config this script writes (line {config.line}) could not be "
                    f"read ({exc.problem}), so no rule checked it.",
                    "Keep the config in its own file (an envsubst template) and lint that.",
                    path,
                    exc.line or config.line,
                )
            )
    if uwsgi.is_ini(text):
        out += uwsgi.check(uwsgi.from_ini(text, path), limits)
    for cmd in commands_in(path, text):
        out += signals.check(cmd, path, limits)
        if cmd.program == "uwsgi":
            out += uwsgi.check(uwsgi.from_command(cmd, path), limits)
            continue
        if cmd.program != "gunicorn":
            out += uvicorn.check(cmd, path, limits)
            continue
        settings, named = _gunicorn_settings(cmd, path, read, merged)
        if named:
            out.append(
                UNREAD_CONFIG.finding(
                    f"gunicorn reads `{named}`, which is not in the linted files: the settings "
                    "in it are unknown, so only the command line was checked.",
                    "Lint the file too (name it, or lint the directory that holds it).",
                    path,
                    cmd.line,
                )
            )
        out += gunicorn.check(settings, limits)
    return out


def lint_text(
    path: str,
    text: str,
    kind: Kind,
    limits: Limits,
    read: Reader = _read_disk,
    merged: set[str] | None = None,
    charts: templates.Charts | None = None,
) -> list[Finding]:
    """Check one file's text (`charts`: how the run reads Helm templates, with the values
    files they are deployed with). Raises ConfigError when it cannot be parsed."""
    if kind is Kind.NGINX:
        return nginx.check(nginx.load(path, text), limits)
    if kind is Kind.GUNICORN:
        try:
            settings = gunicorn.from_conf_py(text, path)
        except SyntaxError as exc:
            raise ConfigError(path, f"cannot parse Python: {exc.msg}", exc.lineno) from None
        return gunicorn.check(settings, limits)
    if kind is Kind.COMMANDS:
        return _gunicorn_commands(path, text, limits, read, set() if merged is None else merged)
    if kind is Kind.HAPROXY:
        return haproxy.check(haproxy.parse(text, path), path, limits)
    if kind is Kind.TERRAFORM:
        return terraform.check(terraform.parse(text, path), path, limits)
    return _yaml(path, text, limits, charts or templates.Charts())


def _mismatch(path: str, text: str, kind: Kind) -> ConfigError | None:
    found = detect(path, text) if path != STDIN_NAME else _by_content(text)
    if found is None or found is kind:
        return None
    return ConfigError(
        path,
        f"this looks like {found.value}, not {kind.value} — drop --kind or pass --kind "
        f"{found.value}",
    )


def _by_content(text: str) -> Kind | None:
    if looks_like_yaml(text) or templates.is_template(text):
        return Kind.YAML
    return detect("stdin", text)


def lint_paths(
    paths: list[str],
    limits: Limits | None = None,
    kind: Kind | None = None,
    roots: list[tuple[str, str]] | None = None,
    excludes: list[str] | None = None,
    helm_values: list[str] | None = None,
) -> Result:
    """Lint files and directories (`-`: standard input). Directories are walked; unknown
    files in them are skipped. `helm_values` are the values files Helm charts are deployed
    with (`helm install -f`), read over each chart's own values.yaml."""
    limits = limits or Limits()
    result = Result()
    charts = _charts(helm_values or [], result)
    files, missing = expand(paths, excludes)
    result.errors += [ConfigError(p, "no such file or directory") for p in missing]
    named = {os.path.normpath(p) for p in paths}
    prefix = nginx_prefix(paths)
    sources = [p for p in files if os.path.normpath(p) not in named and _app_source(p, paths)]
    starting = _scan_app_source(result, sources)
    if result.app_headers and not limits.app_sends_accel_buffering:
        limits = dataclasses.replace(limits, app_sends_accel_buffering=True)
    if result.silent_stream:
        limits = dataclasses.replace(
            limits, silent_stream=result.app_streams[0], silence_from=result.app_waits[0]
        )
    texts: dict[str, tuple[str, Kind]] = {}
    for path in files:
        if path == STDIN:
            text: str | None = sys.stdin.read()
            path = STDIN_NAME
        else:
            text = _read_disk(path)
        if text is None:
            result.errors.append(ConfigError(path, "cannot read the file"))
            continue
        if kind is not None:
            wrong = _mismatch(path, text, kind)
            if wrong is not None:
                result.errors.append(wrong)
                continue
        found = kind or (_by_content(text) if path == STDIN_NAME else detect(path, text))
        if found is None:
            if os.path.normpath(path) in named or path == STDIN_NAME:
                result.errors.append(
                    ConfigError(path, "not a config this linter knows (try --kind)")
                )
            continue
        texts[path] = (text, found)

    requirements = [p for p in files if appservers.is_requirements(p)]
    spring = [p for p in files if sourceservers.is_spring_build(p)]
    result.app_servers, hosts, from_code = _app_servers(
        texts, requirements, starting, spring, charts
    )
    if result.app_servers:
        limits = dataclasses.replace(
            limits, app_servers=tuple(result.app_servers), service_hosts=hosts
        )

    # uvicorn started from the app's code, where no start command shows it, meets the same
    # rules as a uvicorn command line.
    for path, cmd in from_code:
        result.findings += uvicorn.check(cmd, path, limits)

    # An nginx file included by another one is checked through it, in its context.
    included: set[str] = set()
    loaded: dict[str, nginx.Loaded] = {}
    for path, (text, found) in texts.items():
        if found is Kind.NGINX:
            try:
                loaded[path] = nginx.load(path, text, roots or (), prefix)
            except ConfigError as exc:
                result.errors.append(exc)
                continue
            included |= loaded[path].files

    merged: set[str] = set()
    later: list[tuple[str, str, Kind]] = []
    for path, (text, found) in texts.items():
        if found is Kind.NGINX:
            if path not in loaded or os.path.abspath(path) in included:
                continue
            result.findings += nginx.check(loaded[path], limits)
            for route in nginx.routes(loaded[path], limits):
                where = os.path.basename(route.proxy_pass.file)
                at = f"{route.label} ({where}:{route.proxy_pass.line})"
                if route.skipped is None:
                    result.streaming.append(at)
                else:
                    result.skipped.append(f"{at}: {route.skipped}")
            result.files.append(path)
            continue
        if found is Kind.GUNICORN:
            later.append((path, text, found))  # after the commands that may read it
            continue
        _one(result, path, text, found, limits, merged, charts)
    for path, text, found in later:
        if os.path.abspath(path) in merged and os.path.normpath(path) not in named:
            result.files.append(path)  # checked through the command that reads it
            continue
        _one(result, path, text, found, limits, merged, charts)

    seen: set[tuple[str, str | None, int | None]] = set()
    unique = []
    for f in result.findings:
        key = (f.id, f.file, f.line)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    result.findings = sorted(unique, key=lambda f: (f.file or "", f.line or 0, f.id))
    return result


def _app_source(path: str, linted: list[str]) -> bool:
    """Whether a file found under a linted directory is app source, judged by its path
    inside that directory (a project kept under `~/tests/` is still an app)."""
    for top in linted:
        if top != STDIN and os.path.isdir(top):
            rel = os.path.relpath(path, top)
            if not rel.startswith(os.pardir):
                return appheaders.is_app_source(rel)
    return False


def _scan_app_source(result: Result, sources: list[str]) -> dict[str, str]:
    """`file:line` of each place the app's source sets X-Accel-Buffering: no, streams, and
    sends a heartbeat; returns the text of each file that may start a server."""
    starting: dict[str, str] = {}
    for path in sources:
        try:
            if os.path.getsize(path) > appheaders.MAX_FILE_BYTES:
                continue  # a bundle or generated file, not a handler
        except OSError:
            continue
        text = _read_disk(path)
        if text is None:
            continue
        result.app_headers += [f"{path}:{n}" for n in appheaders.header_lines(text)]
        facts = appstreams.stream_facts(text)
        result.app_streams += [f"{path}:{n}" for n in facts.streams]
        result.app_heartbeats += [f"{path}:{n}" for n in facts.heartbeats]
        result.app_waits += [f"{path}:{n}" for n in facts.waits]
        if sourceservers.may_start_a_server(text):
            starting[path] = text
    return starting


def _app_servers(
    texts: dict[str, tuple[str, Kind]],
    requirements: list[str],
    sources: dict[str, str],
    spring: list[str],
    charts: templates.Charts,
) -> tuple[list[AppServer], frozenset[str], list[tuple[str, Command]]]:
    """The app servers the linted start commands run (Dockerfiles, Procfiles, scripts,
    Compose services, Kubernetes workloads) whose framing of HTTP/1.0 answers is known, then
    those the app's source starts for services no command shows; every service name the
    linted files define (hosts nginx may proxy to); and the uvicorn command lines that
    source amounts to (`uvicorn.run(…)`), for uvicorn's rules."""
    starts: list[tuple[str, str | None, Command]] = []
    scripts: list[tuple[str, Command]] = []
    nodes: list[tuple[str, str | None, Command]] = []
    names: set[str] = set()
    contexts: dict[str, str] = {}  # a Compose build context (absolute) -> its service
    aliases: dict[str, set[str]] = {}  # a Compose service -> its container_name, hostname
    dockerfiles: dict[str, str] = {}  # the Dockerfile Compose builds a service from -> service
    for path, (text, found) in texts.items():
        if found is Kind.COMMANDS:
            scripts += [(path, cmd) for cmd in commands_in(path, text)]
            if not path.lower().endswith(".py"):
                scripts += [(path, cmd) for cmd in node_servers(text)]
        elif found is Kind.YAML:
            try:
                if templates.is_template(text):
                    docs = charts.read(path, text).documents(path)
                else:
                    docs = y.documents(text, path)
                file = y.YamlFile(path, docs, {})
                started = workloads.started(file)
                found_services = workloads.services(file)
            except (ConfigError, ValueError, RecursionError):
                continue  # reported when the file itself is checked
            starts += [(path, service, cmd) for service, cmd in started]
            nodes += [(path, service, cmd) for service, cmd in workloads.node_started(file)]
            names |= found_services.names
            for named, more in found_services.aliases.items():
                aliases.setdefault(named, set()).update(more)
            here = os.path.dirname(os.path.abspath(path))
            for built, (context, dockerfile) in found_services.builds.items():
                context = os.path.normpath(os.path.join(here, context))
                # A context several services build from says nothing about which one runs
                # a file in it (only its Dockerfile does).
                contexts[context] = built if contexts.get(context, built) == built else ""
                dockerfiles[os.path.normpath(os.path.join(context, dockerfile))] = built
    for path, cmd in scripts:
        # A Dockerfile or script inside a Compose build context belongs to that service.
        service = _built_by(os.path.abspath(path), contexts, dockerfiles) or None
        (nodes if cmd.program == "node" else starts).append((path, service, cmd))
    # A Node server is matched by service name only (its port is rarely on its command line).
    node_servers_found = [appservers.from_node(c, svc, p) for p, svc, c in nodes if svc]
    evidence = [t for t in (_read_disk(p) for p in requirements) if t is not None]
    evidence += [text for text, found in texts.values() if found is Kind.COMMANDS]
    httptools = appservers.installs_httptools(evidence)
    out: list[AppServer] = []
    for path, service, cmd in starts:
        settings = None
        if cmd.program == "gunicorn" and texts[path][1] is Kind.COMMANDS:
            settings, _ = _gunicorn_settings(cmd, path, _read_disk, set())
        server = appservers.from_command(cmd, httptools, service, path, settings)
        if server is not None:
            out.append(server)
    out += node_servers_found
    # What the source starts counts only for a service (or, outside Compose, a tree) whose
    # start commands showed no server: a command line is the surer word.
    commanded = {svc for _, svc, _ in starts} | {svc for _, svc, _ in nodes}
    from_code: list[AppServer] = []
    code_commands: list[tuple[str, Command]] = []
    for path, code in sources.items():
        service = _built_by(os.path.abspath(path), contexts, dockerfiles)
        if service != "" and service not in commanded:
            uvicorn_runs = sourceservers.uvicorn_commands(code) if path.endswith(".py") else []
            found_here = sourceservers.from_source(path, code, httptools, uvicorn_runs)
            from_code += [dataclasses.replace(s, service=service) for s in found_here]
            code_commands += [(path, c) for c in uvicorn_runs]
    builds = [t for t in (_read_disk(p) for p in spring) if t is not None]
    out += sourceservers.with_spring_build(from_code, builds)
    # nginx may reach a service by its container_name or hostname as well as by its name.
    out += [
        dataclasses.replace(s, service=alias)
        for s in out
        if s.service in aliases
        for alias in sorted(aliases[s.service])
    ]
    return out, frozenset(names), code_commands


def _built_by(path: str, contexts: dict[str, str], dockerfiles: dict[str, str]) -> str | None:
    if path in dockerfiles:
        return dockerfiles[path]
    inside = [c for c in contexts if path.startswith(c + os.sep)]
    # "" : a context shared by several services, so which one is unknown.
    return contexts[max(inside, key=len)] if inside else None


def _one(
    result: Result,
    path: str,
    text: str,
    found: Kind,
    limits: Limits,
    merged: set[str],
    charts: templates.Charts,
) -> None:
    try:
        result.findings += lint_text(path, text, found, limits, merged=merged, charts=charts)
        result.files.append(path)
    except ConfigError as exc:
        result.errors.append(exc)
    except (ValueError, RecursionError) as exc:
        # A parser surprised by odd input still gets the one-line treatment.
        result.errors.append(ConfigError(path, f"cannot parse: {exc}"))
