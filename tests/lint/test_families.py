"""Parsers and rules of the non-nginx families on small inputs."""

from __future__ import annotations

import pytest

from streamwarden.lint import ConfigError, Kind, Limits, gunicorn, lint_text
from streamwarden.lint.cmdline import COMPUTED, find_commands, python_commands
from streamwarden.lint.detect import detect
from streamwarden.lint.durations import envoy_seconds, haproxy_seconds, nginx_seconds, number


def rules(
    name: str, text: str, kind: Kind, limits: Limits | None = None
) -> set[tuple[int | None, str]]:
    return {(f.line, f.id) for f in lint_text(name, text, kind, limits or Limits())}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60", 60), ("60s", 60), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("5x", None)],
)
def test_nginx_times(text: str, seconds: float | None) -> None:
    assert nginx_seconds(text) == seconds


def test_haproxy_times_default_to_milliseconds() -> None:
    assert haproxy_seconds("30000") == 30
    assert haproxy_seconds("30s") == 30
    assert haproxy_seconds("5m") == 300
    assert haproxy_seconds("soon") is None


def test_envoy_durations() -> None:
    assert envoy_seconds("0.5s") == 0.5
    assert envoy_seconds({"seconds": 15, "nanos": 500_000_000}) == 15.5
    assert envoy_seconds("15") is None


def test_plain_numbers_shared_by_gunicorn_and_terraform() -> None:
    assert number("30") == 30 and number("0.5") == 0.5 and number(" 7 ") == 7
    # A variable, an expression, or a value that is not finite: unknown, not a timeout.
    for text in ("var.idle", "${local.t}", "", "inf", "nan", "-inf"):
        assert number(text) is None, text


def test_commands_found_where_servers_start_not_where_they_install() -> None:
    text = (
        "RUN pip install gunicorn uvicorn\n"
        'ENV GUNICORN_CMD_ARGS="--timeout 20 -k gevent"\n'
        "web: python -m gunicorn -t30 app:app\n"
        "exec uvicorn --timeout-keep-alive=90 app:app\n"
    )
    found = [(c.program, c.line, c.argv[1:3]) for c in find_commands(text)]
    assert found == [
        ("gunicorn", 2, ("--timeout", "20")),
        ("gunicorn", 3, ("-t30", "app:app")),
        ("uvicorn", 4, ("--timeout-keep-alive=90", "app:app")),
    ]


def test_async_workers_are_not_sync() -> None:
    out = rules(
        "Procfile",
        "web: gunicorn -k gevent --graceful-timeout 1000 --keep-alive 75 a:b\n",
        Kind.COMMANDS,
    )
    assert out == set()


def test_threads_turn_sync_into_gthread() -> None:
    conf = "threads = 4\ngraceful_timeout = 900\n"
    found = lint_text("gunicorn.conf.py", conf, Kind.GUNICORN, Limits())
    [sync] = [f for f in found if f.id == "gunicorn/sync-worker"]
    assert sync.severity == "warning" and "gthread" in sync.summary


def test_sync_timeout_zero_means_no_timeout() -> None:
    out = rules("gunicorn.conf.py", "timeout = 0\ngraceful_timeout = 900\n", Kind.GUNICORN)
    assert out == {(1, "gunicorn/sync-worker")}


def test_gunicorn_conf_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot parse Python"):
        lint_text("gunicorn.conf.py", "workers = (\n", Kind.GUNICORN, Limits())


def test_haproxy_named_defaults_and_overrides() -> None:
    cfg = (
        "defaults fast\n    timeout server 5s\n"
        "defaults slow\n    timeout server 10m\n    timeout client 10m\n"
        "backend a from fast\n    server s 1.1.1.1:80\n"
        "backend b\n    server s 1.1.1.1:80\n"
    )
    assert rules("haproxy.cfg", cfg, Kind.HAPROXY) == {(2, "haproxy/timeout-server")}


def test_ingress_configmap_read_timeout_and_max_gap() -> None:
    doc = "kind: ConfigMap\nmetadata: {name: ingress-nginx-controller}\ndata:\n"
    doc += '  proxy-read-timeout: "120"\n'
    assert rules("cm.yaml", doc, Kind.YAML) == set()
    assert rules("cm.yaml", doc, Kind.YAML, Limits(max_gap=90)) == {(4, "ingress/read-timeout")}


def test_ingress_default_read_timeout_reported_on_kind_line() -> None:
    doc = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\n"
    assert rules("i.yaml", doc, Kind.YAML, Limits(max_gap=40)) == {(2, "ingress/read-timeout")}


def test_terraform_unclosed_resource_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="never closed"):
        lint_text(
            "main.tf", 'resource "aws_lb" "a" {\n  idle_timeout = 5\n', Kind.TERRAFORM, Limits()
        )


def test_terraform_ignores_comments_and_nested_blocks() -> None:
    tf = 'resource "aws_lb" "a" {\n  # idle_timeout = 5\n  tags {\n    idle_timeout = 5\n  }\n}\n'
    assert rules("main.tf", tf, Kind.TERRAFORM) == set()


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("nginx.conf", "events {}", Kind.NGINX),
        ("site", "server {\n listen 80;\n}\n", Kind.NGINX),
        ("haproxy.cfg", "defaults\n", Kind.HAPROXY),
        ("lb.conf", "frontend fe\n  bind :80\n", Kind.HAPROXY),
        ("gunicorn.conf.py", "", Kind.GUNICORN),
        ("settings.py", "DEBUG = True\n", None),
        ("Dockerfile.prod", "", Kind.COMMANDS),
        ("entrypoint", "#!/bin/sh\nexec uvicorn app:app\n", Kind.COMMANDS),
        ("main.tf", "", Kind.TERRAFORM),
        # A launcher module that builds the command as a list; other modules never count.
        ("services/gunicorn.py", "cmd = ['gunicorn', 'app:app']\n", Kind.COMMANDS),
        ("start_server.py", "run(('python', '-m', 'uvicorn', 'a:b'))\n", Kind.COMMANDS),
        ("views.py", "cmd = ['gunicorn', 'app:app']\n", None),
        ("supervisord.conf", "[supervisord]\n[program:api]\ncommand=uvicorn a:b\n", Kind.COMMANDS),
        ("test_gunicorn_recycling.py", "cmd = ['gunicorn', 'app:app']\n", None),
        ("start.py", "cmd = ['celery', 'worker']\n", None),
        ("envoy.yml", "", Kind.YAML),
        ("notes.txt", "hello", None),
    ],
)
def test_detect(name: str, text: str, kind: Kind | None) -> None:
    assert detect(name, text) == kind


def test_python_list_commands_keep_literals_and_mark_the_rest_unknown() -> None:
    source = (
        "import subprocess\n"
        "class Service:\n"
        "    def cmd(self):\n"
        "        return [\n"
        "            'gunicorn', 'app.wsgi:application',\n"
        "            '-b', f'{HOST}:{PORT}', '-k', 'gthread', '--threads', '8',\n"
        "            '-w', str(self.workers), '--max-requests', '500',\n"
        "        ]\n"
        "subprocess.run(['python', '-m', 'uvicorn', 'a:b', '--port', '9000'])\n"
        "other = ['celery', 'gunicorn']\n"
    )
    gunicorn_cmd, uvicorn_cmd = python_commands(source)
    assert gunicorn_cmd.line == 4 and gunicorn_cmd.argv[:2] == ("gunicorn", "app.wsgi:application")
    assert gunicorn_cmd.argv[3] == COMPUTED and gunicorn_cmd.argv[9] == COMPUTED
    assert uvicorn_cmd.program == "uvicorn" and uvicorn_cmd.argv[-1] == "9000"
    assert python_commands("def broken(:\n") == []


def test_max_requests_cuts_gthread_streams_only() -> None:
    # gthread: a recycled worker's streams live graceful_timeout + timeout (measured).
    line = "gunicorn -k gthread --threads 200 --max-requests 1000 app:app\n"
    found = rules("start.sh", line, Kind.COMMANDS)
    assert (1, "gunicorn/max-requests") in found
    assert (1, "gunicorn/sync-worker") not in found  # 200 threads: streams are not capped
    # Long enough together for the longest stream: nothing to say.
    long = line.replace("app:app", "--graceful-timeout 600 --timeout 600 app:app")
    assert (1, "gunicorn/max-requests") not in rules("start.sh", long, Kind.COMMANDS)
    # The uvicorn worker lets open responses finish; sync finishes its one request first.
    for worker in ("uvicorn_worker.UvicornWorker", "sync"):
        # (sync with --threads is gthread to gunicorn, so the thread count goes too)
        other = line.replace("gthread", worker).replace("--threads 200 ", "")
        assert (1, "gunicorn/max-requests") not in rules("start.sh", other, Kind.COMMANDS)
    # Unset: no recycling.
    assert (1, "gunicorn/max-requests") not in rules(
        "start.sh", "gunicorn -k gthread app:app\n", Kind.COMMANDS
    )


def test_a_runner_s_options_come_before_the_server() -> None:
    [cmd] = find_commands("command=uv run --env-file .env uvicorn api.main:app --port 5055\n")
    assert cmd.program == "uvicorn" and cmd.argv[-1] == "5055"
    assert [c.program for c in find_commands("poetry run uvicorn a:b\n")] == ["uvicorn"]
    # `run` of something else, then an argument that names the server, is no command line.
    assert find_commands("docker run --rm img echo uvicorn\n") == []


def test_settings_set_in_a_branch_are_unknown() -> None:
    # chatbot-example's gunicorn.conf.py sets threads only inside `if … else`: gthread or not
    # depends on which branch runs, so no sync-worker verdict and no sync-worker timeout.
    conf = (
        "import os\nbind = '0.0.0.0:50505'\nif os.getenv('RUNNING_IN_PRODUCTION'):\n"
        "    workers = 9\n    threads = workers\nelse:\n    workers = 2\n    threads = 2\n"
        "timeout = 120\n"
    )
    settings = gunicorn.from_conf_py(conf)
    assert settings.values["threads"].text is None and settings.values["timeout"].text == "120"
    ids = {f.id for f in gunicorn.check(settings, Limits())}
    assert "gunicorn/sync-worker" not in ids and "gunicorn/timeout" not in ids
    assert "gunicorn/graceful-timeout" in ids


def test_a_helm_key_whose_content_an_action_inserts_stays_a_mapping() -> None:
    # ai-dial-helm: `labels: {{- include … | nindent 4 }}` with literal labels below it.
    template = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        '  labels: {{- include "common.labels" . | nindent 4 }}\n'
        "    app.kubernetes.io/component: core\nspec:\n  template:\n    spec:\n"
        "      terminationGracePeriodSeconds: 5\n"
        "      containers:\n        - name: core\n          image: x\n"
        "          command: [uvicorn, app:app, --timeout-graceful-shutdown, '60']\n"
    )
    # Parsed through: the pod below the filled key is read and judged.
    found = {f.id for f in lint_text("deployment.yaml", template, Kind.YAML, Limits())}
    assert "k8s/termination-grace" in found


def test_a_yaml_template_with_jinja_statements_is_read() -> None:
    # archgw's envoy.template.yaml: `{% if %}` lines around literal Envoy config.
    envoy = (
        "static_resources:\n  listeners:\n    - name: l\n      filter_chains:\n"
        "        - filters:\n            - name: envoy.filters.network.http_connection_manager\n"
        "              typed_config:\n                {% if tracing %}\n"
        "                generate_request_id: true\n                {% endif %}\n"
        "                route_config:\n                  virtual_hosts:\n"
        "                    - name: v\n                      domains: ['*']\n"
        "                      routes:\n                        - match: {prefix: /}\n"
        "                          route: {cluster: c, timeout: 30s}\n"
    )
    ids = {f.id for f in lint_text("envoy.template.yaml", envoy, Kind.YAML, Limits())}
    assert "envoy/route-timeout" in ids


def test_an_envoy_route_that_upgrades_websockets_is_a_warning_not_an_error() -> None:
    # Envoy's own websocket example: the route timeout covers only the upgrade handshake
    # (envoyproxy/envoy#41068), so a WebSocket is not cut at 15 s; SSE on that route is.
    hcm = (
        "static_resources:\n  listeners:\n    - name: l\n      filter_chains:\n"
        "        - filters:\n            - name: envoy.filters.network.http_connection_manager\n"
        "              typed_config:\n{upgrades}"
        "                route_config:\n                  virtual_hosts:\n"
        "                    - name: v\n                      domains: ['*']\n"
        "                      routes:\n                        - match: {{prefix: /}}\n"
        "                          route: {{cluster: c}}\n"
    )
    upgrades = "                upgrade_configs:\n                  - upgrade_type: websocket\n"
    [plain] = lint_text("envoy.yaml", hcm.format(upgrades=""), Kind.YAML, Limits())
    [ws] = lint_text("envoy.yaml", hcm.format(upgrades=upgrades), Kind.YAML, Limits())
    assert (plain.id, plain.severity) == ("envoy/route-timeout", "error")
    assert (ws.id, ws.severity) == ("envoy/route-timeout", "warning")
    assert "only their handshake" in ws.summary


def test_haproxy_stats_and_static_backends_are_not_streams() -> None:
    # sockjs-node's example: `static` and the stats page keep the 5 s default and carry no
    # stream; an API backend on the same default is judged.
    cfg = (
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n"
        "frontend all\n    bind :8888\n    timeout client 120s\n    default_backend static\n"
        "backend sockjs\n    timeout server 120s\n    server s1 127.0.0.1:9999\n"
        "backend static\n    server s2 127.0.0.1:8000\n"
        "backend stats\n    stats uri /stats\n    stats enable\n"
    )
    assert lint_text("haproxy.cfg", cfg, Kind.HAPROXY, Limits()) == []
    api = cfg + "backend api\n    server s3 127.0.0.1:8001\n"
    found = lint_text("haproxy.cfg", api, Kind.HAPROXY, Limits())
    assert [(f.id, f.line) for f in found] == [("haproxy/timeout-server", 4)]
    # A listen section that serves the stats page and an app is judged.
    both = cfg.replace("backend stats\n", "backend web\n").replace(
        "    stats enable\n", "    stats enable\n    server s4 127.0.0.1:8002\n"
    )
    found = lint_text("haproxy.cfg", both, Kind.HAPROXY, Limits())
    assert [(f.id, f.line) for f in found] == [("haproxy/timeout-server", 4)]


def test_an_upgrade_on_one_envoy_route_leaves_the_others_errors() -> None:
    # A route-level WebSocket upgrade on /ws says nothing of /v1/chat/completions beside it.
    routes = (
        "static_resources:\n  listeners:\n    - name: l\n      filter_chains:\n"
        "        - filters:\n            - name: envoy.filters.network.http_connection_manager\n"
        "              typed_config:\n                route_config:\n                  virtual_hosts:\n"
        "                    - name: v\n                      domains: ['*']\n"
        "                      routes:\n"
        "                        - match: {prefix: /ws}\n"
        "                          route:\n                            cluster: c\n"
        "                            upgrade_configs: [{upgrade_type: websocket}]\n"
        "                        - match: {prefix: /v1/chat/completions}\n"
        "                          route: {cluster: c}\n"
    )
    found = lint_text("envoy.yaml", routes, Kind.YAML, Limits())
    assert sorted((f.line, f.severity) for f in found) == [(14, "warning"), (18, "error")]
