"""Kubernetes workloads and Compose services: the gunicorn/uvicorn command lines in their
`command`/`args`, the grace period against the server's drain, and a readiness probe.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import yaml

from streamwarden.lint import gunicorn, signals, uvicorn, uwsgi
from streamwarden.lint import yamlnodes as y
from streamwarden.lint.cmdline import Command, find_commands, node_servers
from streamwarden.lint.durations import nginx_seconds, plain_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
K8S_GRACE = 30.0  # terminationGracePeriodSeconds default
COMPOSE_GRACE = 10.0  # stop_grace_period default
K8S_DOCS = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
COMPOSE_DOCS = "https://docs.docker.com/reference/compose-file/services/#stop_grace_period"


@dataclass(frozen=True, slots=True)
class Container:
    """One container or Compose service that starts a Python server."""

    what: str  # "Deployment api, container web" / "service api"
    commands: list[Command]
    grace: float | None  # None: written but unreadable (a template value)
    grace_line: int | None  # None: the default applies
    has_readiness: bool
    line: int
    compose: bool
    service: str | None = None  # the Compose service or workload name, as others address it


def _argv(node: yaml.Node | None) -> list[str]:
    if isinstance(node, yaml.SequenceNode):
        return [str(v.value) for v in node.value if isinstance(v, yaml.ScalarNode)]
    text = y.scalar(node)
    if text is None:
        return []
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _commands(argv: list[str], line: int) -> list[Command]:
    """The servers an argv starts, including through `sh -c "…"` scripts."""
    if not argv:
        return []
    # One line, as a Dockerfile's exec form would be: `sh -c "…"` scripts are read through.
    return [Command(c.program, c.argv, line, c.shell) for c in find_commands(shlex.join(argv))]


@dataclass(frozen=True, slots=True)
class _Start:
    """One container's or Compose service's command line, before any server is read in it."""

    what: str  # "Deployment api, container web" / "service api"
    name: str  # the workload or Compose service name
    argv: list[str]
    key: yaml.Node  # the `command`/`args`/`entrypoint` key: where findings point
    node: yaml.Node  # the container, or the Compose service
    pod: yaml.Node | None  # the pod spec; None for a Compose service


def _pod_spec(doc: yaml.Node) -> yaml.Node | None:
    return y.get(y.get(y.get(doc, "spec"), "template"), "spec")


def _container_nodes(pod: yaml.Node | None) -> list[yaml.Node]:
    containers = y.get(pod, "containers")
    return list(containers.value) if isinstance(containers, yaml.SequenceNode) else []


def _container_argv(c: yaml.Node) -> list[str]:
    return _argv(y.get(c, "command")) + _argv(y.get(c, "args"))


def _starts(file: y.YamlFile) -> Iterator[_Start]:
    """Every command line the file's containers and Compose services run."""
    for doc in file.docs:
        kind = y.kind_of(doc)
        if kind in WORKLOADS:
            pod = _pod_spec(doc)
            for c in _container_nodes(pod):
                key = y.key_node(c, "command") or y.key_node(c, "args") or c
                what = f"{kind} {y.name_of(doc)}, container {y.scalar(y.get(c, 'name'))}"
                yield _Start(what, y.name_of(doc), _container_argv(c), key, c, pod)
        services = y.get(doc, "services")
        if kind == "" and isinstance(services, yaml.MappingNode):
            for name, _, svc in y.items(services):
                argv = _argv(y.get(svc, "entrypoint")) + _argv(y.get(svc, "command"))
                key = y.key_node(svc, "command") or y.key_node(svc, "entrypoint") or svc
                yield _Start(f"service {name}", str(name), argv, key, svc, None)


def _containers(file: y.YamlFile) -> list[Container]:
    out: list[Container] = []
    for start in _starts(file):
        commands = _commands(start.argv, y.line(start.key))
        if not commands:
            continue
        if start.pod is not None:
            grace_node = y.get(start.pod, "terminationGracePeriodSeconds")
            grace = plain_seconds(y.scalar(grace_node)) if grace_node is not None else K8S_GRACE
            has_readiness = y.get(start.node, "readinessProbe") is not None
        else:
            grace_node = y.get(start.node, "stop_grace_period")
            grace = (
                _compose_seconds(y.scalar(grace_node)) if grace_node is not None else COMPOSE_GRACE
            )
            has_readiness = True  # Compose has no Service to route around a stopping one
        out.append(
            Container(
                start.what,
                commands,
                grace,
                y.line(grace_node) if grace_node is not None else None,
                has_readiness,
                y.line(start.key),
                start.pod is None,
                start.name or None,
            )
        )
    return out


def _compose_seconds(text: str | None) -> float | None:
    return nginx_seconds(text) if text else None


def _drain(cmd: Command, file: str) -> tuple[float | None, str]:
    """How long the server drains open streams on SIGTERM (None: forever or unknown)."""
    if cmd.program == "gunicorn":
        seconds, _ = gunicorn.from_command(cmd, file).seconds("graceful_timeout")
        return seconds, "gunicorn's graceful_timeout"
    if cmd.program == "uwsgi":
        return None, "uWSGI's shutdown"
    return uvicorn.drain_seconds(cmd), "uvicorn's --timeout-graceful-shutdown"


Check = Callable[[Container, str, Limits], list[Finding]]
rules: Registry[Check] = Registry("k8s")


@rules.rule(
    "termination-grace",
    "the orchestrator kills the server before its drain ends",
    Severity.WARNING,
    f"Kubernetes sends SIGKILL terminationGracePeriodSeconds after SIGTERM (30 s by default, "
    f"{K8S_DOCS}); Compose after stop_grace_period (10 s, {COMPOSE_DOCS}). A server still "
    "draining streams then loses them with no final event. Compared with the server's own "
    "drain when its command shows one (gunicorn's graceful_timeout, uvicorn's "
    "--timeout-graceful-shutdown); for a Deployment or StatefulSet that serves HTTP (a port "
    "or an HTTP probe, not a data store's image) with no such bound, with --max-duration.",
)
def termination_grace(c: Container, file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for cmd in c.commands:
        drain, whose = _drain(cmd, file)
        if drain is None or c.grace is None or c.grace >= drain:
            continue
        setting = "stop_grace_period" if c.compose else "terminationGracePeriodSeconds"
        default = " (default)" if c.grace_line is None else ""
        out.append(
            rules.info("termination-grace").finding(
                f"{c.what}: {setting} is {show(c.grace)}{default}, shorter than {whose} "
                f"({show(drain)}): on every rollout the server is killed while it still "
                "drains open streams.",
                f"Set {setting} to {int(drain) + 5} or more (above the drain).",
                file,
                c.grace_line or c.line,
            )
        )
    return out


@rules.rule(
    "readiness-probe",
    "a streaming server without a readiness probe keeps getting new streams while it stops",
    Severity.INFO,
    "Without a readiness probe a pod stays in the Service's endpoints until it is gone "
    f"({K8S_DOCS}); a `/readyz` that fails once SIGTERM arrives takes it out first.",
)
def readiness_probe(c: Container, file: str, limits: Limits) -> list[Finding]:
    if c.has_readiness:
        return []
    return [
        rules.info("readiness-probe").finding(
            f"{c.what} runs {c.commands[0].program} without a readinessProbe: during a rollout "
            "the Service keeps routing new streams to a pod that is shutting down.",
            "Add `readinessProbe: {httpGet: {path: /readyz, port: …}}` and fail /readyz once "
            "the server starts draining.",
            file,
            c.line,
        )
    ]


def node_started(file: y.YamlFile) -> list[tuple[str | None, Command]]:
    """(Compose service or workload name, command) of every Node server the file starts."""
    return [
        (start.name, replace(cmd, line=y.line(start.key)))
        for start in _starts(file)
        if start.argv and _PLAIN_NAME.match(start.name)
        for cmd in node_servers(shlex.join(start.argv))
    ]


def started(file: y.YamlFile) -> list[tuple[str | None, Command]]:
    """(service or workload name, command) of every server the file's containers start."""
    out: list[tuple[str | None, Command]] = []
    for c in _containers(file):
        # A name from a template (`{{…}}`) or none at all addresses nothing.
        service = c.service if c.service and _PLAIN_NAME.match(c.service) else None
        out += [(service, cmd) for cmd in c.commands]
    return out


@dataclass(frozen=True, slots=True)
class Services:
    """The names others reach a file's services by, and where Compose builds each one."""

    names: set[str]  # Compose services, Kubernetes workloads and Services
    builds: dict[str, tuple[str, str]]  # Compose service -> (build context, its Dockerfile)
    # Compose service -> the other names it answers to (`container_name`, `hostname`).
    aliases: dict[str, set[str]] = field(default_factory=dict)


def services(file: y.YamlFile) -> Services:
    """Service names and Compose build contexts (paths relative to the file's folder)."""
    names: set[str] = set()
    builds: dict[str, tuple[str, str]] = {}
    aliases: dict[str, set[str]] = {}
    for doc in file.docs:
        kind = y.kind_of(doc)
        if kind in WORKLOADS or kind == "Service":
            name = y.name_of(doc)
            if _PLAIN_NAME.match(name):
                names.add(name)
        found = y.get(doc, "services")
        if kind != "" or not isinstance(found, yaml.MappingNode):
            continue
        for name, _, svc in y.items(found):
            names.add(name)
            for key in ("container_name", "hostname"):
                alias = y.scalar(y.get(svc, key))
                if alias and _PLAIN_NAME.match(alias) and alias != name:
                    aliases.setdefault(name, set()).add(alias)
                    names.add(alias)
            build = y.get(svc, "build")
            context = y.scalar(build) or y.scalar(y.get(build, "context"))
            if context and "$" not in context and "://" not in context:
                dockerfile = y.scalar(y.get(build, "dockerfile")) or "Dockerfile"
                builds[name] = (context, dockerfile)
    return Services(names, builds, aliases)


# Images that serve data, not streamed answers: their pods' grace periods are not ours to judge.
DATA_STORES = frozenset(
    """postgres postgresql pgvector timescaledb mysql mariadb redis redis-stack valkey keydb
    mongo mongodb memcached rabbitmq kafka zookeeper etcd minio qdrant milvus weaviate chroma
    chromadb elasticsearch opensearch clickhouse nats cassandra neo4j influxdb prometheus
    grafana loki jaeger""".split()
)


@dataclass(frozen=True, slots=True)
class Pod:
    """A Kubernetes workload's pod template, for the grace period it gives open streams."""

    what: str  # "Deployment chat"
    grace: float | None  # None: written but unreadable (a template value)
    grace_line: int | None  # None: the default applies
    line: int  # the pod template's `spec`
    serves_http: bool  # a container port or an HTTP probe, on an image that is no data store
    finite_drain: bool  # a container starts a server whose own drain is a known number


def _image_name(image: str | None) -> str:
    base = (image or "").rsplit("/", 1)[-1]
    return base.split("@", 1)[0].split(":", 1)[0].lower()


# An image named as a stand-in (`ai-gateway-testupstream`, `mock-llm`): examples, not streams.
_STAND_IN = re.compile(r"(^|[-_.])(test|mock|fake|dummy|echo)")


def _serves_http(c: yaml.Node) -> bool:
    image = _image_name(y.scalar(y.get(c, "image")))
    if image in DATA_STORES or _STAND_IN.search(image):
        return False
    probes = (y.get(c, key) for key in ("readinessProbe", "livenessProbe", "startupProbe"))
    return y.get(c, "ports") is not None or any(y.get(p, "httpGet") is not None for p in probes)


def _pods(file: y.YamlFile) -> list[Pod]:
    out: list[Pod] = []
    for doc in file.docs:
        if y.kind_of(doc) not in {"Deployment", "StatefulSet"}:
            continue
        spec_key = y.key_node(y.get(y.get(doc, "spec"), "template"), "spec")
        pod = _pod_spec(doc)
        containers = _container_nodes(pod)
        if spec_key is None or not containers:
            continue
        grace_node = y.get(pod, "terminationGracePeriodSeconds")
        grace = plain_seconds(y.scalar(grace_node)) if grace_node is not None else K8S_GRACE
        drains = [
            _drain(cmd, file.path)[0]
            for c in containers
            for cmd in _commands(_container_argv(c), 0)
        ]
        out.append(
            Pod(
                f"{y.kind_of(doc)} {y.name_of(doc)}",
                grace,
                y.line(grace_node) if grace_node is not None else None,
                y.line(spec_key),
                any(_serves_http(c) for c in containers),
                any(drain is not None for drain in drains),
            )
        )
    return out


def _pod_grace(pod: Pod, file: str, limits: Limits) -> list[Finding]:
    """A pod that serves HTTP and whose servers' drains the file does not bound: Kubernetes'
    SIGKILL at the grace period is what ends its streams."""
    if not pod.serves_http or pod.finite_drain or pod.grace is None:
        return []
    if pod.grace >= limits.max_duration:
        return []
    default = " (default)" if pod.grace_line is None else ""
    return [
        rules.info("termination-grace").finding(
            f"{pod.what}: terminationGracePeriodSeconds is {show(pod.grace)}{default}: on every "
            f"rollout and scale-down Kubernetes kills the pod {show(pod.grace)} after SIGTERM, "
            "so the streams it still serves are cut, however the app drains (--max-duration is "
            f"{show(limits.max_duration)}).",
            f"Set terminationGracePeriodSeconds to {int(limits.max_duration) + 30}, and have the "
            "app stop taking new streams on SIGTERM (fail its readiness probe, or a preStop "
            "sleep) and finish the open ones.",
            file,
            pod.grace_line or pod.line,
        )
    ]


def _grace_bounds_it(c: Container, limits: Limits) -> bool:
    """Whether the orchestrator's grace period around an unbounded uvicorn drain is this
    file's to judge: Kubernetes' is (k8s/termination-grace reports it), and a Compose
    stop_grace_period above --max-duration lets the streams finish."""
    if not c.compose:
        return True
    return c.grace is not None and c.grace >= limits.max_duration


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for pod in _pods(file):
        out += _pod_grace(pod, file.path, limits)
    for container in _containers(file):
        for cmd in container.commands:
            out += signals.check(cmd, file.path, limits)
            if cmd.program == "gunicorn":
                out += gunicorn.check(gunicorn.from_command(cmd, file.path), limits)
            elif cmd.program == "uwsgi":
                out += uwsgi.check(uwsgi.from_command(cmd, file.path), limits)
            else:
                found = uvicorn.check(cmd, file.path, limits)
                if _grace_bounds_it(container, limits):
                    found = [f for f in found if f.id != "uvicorn/graceful-shutdown"]
                out += found
        for _, rule in rules.checks:
            out += rule(container, file.path, limits)
    return out
