"""What a new user meets first: directories, templates, stdin, --kind, --root, exit codes."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Ran
from streamwarden.lint import Finding, Kind, Limits, lint_paths, lint_text
from streamwarden.lint.detect import detect

Cli = Callable[..., Ran]
SRC = Path(__file__).parents[2] / "src" / "streamwarden"


def ids(findings: list[Finding]) -> set[str]:
    return {f.id for f in findings}


def test_the_linter_s_own_source_is_not_a_gunicorn_config(cli: Cli) -> None:
    # lint/gunicorn.py has "gunicorn" in its name but assigns no gunicorn setting.
    assert (
        detect(str(SRC / "lint" / "gunicorn.py"), (SRC / "lint" / "gunicorn.py").read_text())
        is None
    )
    conf = "bind = '0.0.0.0:8000'\nworkers = 4\n"
    assert detect("settings.py", conf) is Kind.GUNICORN  # two gunicorn settings at module level
    assert detect("deploy/gunicorn_config.py", "timeout = 60\n") is Kind.GUNICORN


def test_directories_skip_venvs_build_node_modules_and_gitignored(tmp_path: Path) -> None:
    site = "server { location / { proxy_pass http://a; } }\n"
    for where in (
        "venv/lib/site.conf",
        "build/site.conf",
        "node_modules/x/site.conf",
        "generated/site.conf",
        "keep/site.conf",
        "skipme/site.conf",
    ):
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / where).write_text(site)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "venv" / "lib" / "METADATA").write_text("Metadata-Version: 2.1\n")
    (tmp_path / ".gitignore").write_text("generated/\n")
    result = lint_paths([str(tmp_path)], excludes=["skipme"])
    assert [Path(f).relative_to(tmp_path).as_posix() for f in result.files] == ["keep/site.conf"]
    assert result.errors == []


def test_zero_files_checked_exits_2_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# nothing to lint\n")
    ran = cli("lint", str(tmp_path))
    assert ran.exit_code == 2
    assert ran.stderr.count("\n") == 1
    assert ran.stderr.startswith("streamwarden lint: 0 files checked in ")
    assert "check the path" in ran.stderr


def test_kind_mismatch_is_an_error(cli: Cli, tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("defaults\n    timeout server 5s\nbackend b\n    server s 10.0.0.1:80\n")
    ran = cli("lint", "--kind", "nginx", str(cfg))
    assert ran.exit_code == 2
    assert "looks like haproxy, not nginx" in ran.stderr


def test_a_helm_tpl_of_yaml_is_yaml_and_its_unread_values_are_named(tmp_path: Path) -> None:
    tpl = tmp_path / "ingress.tpl"
    tpl.write_text(
        "{{- if .Values.ingress.enabled }}\napiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        "metadata:\n  name: {{ .Release.Name }}\n  {{- with .Values.ingress.annotations }}\n"
        "  annotations:\n    {{- toYaml . | nindent 4 }}\n  {{- end }}\nspec:\n  rules: []\n"
        "{{- end }}\n"
    )
    assert detect(str(tpl), tpl.read_text()) is Kind.YAML
    result = lint_paths([str(tpl)], Limits(max_gap=45))
    assert result.errors == []
    # The annotations are unknown: no default read timeout is assumed (max_gap 45 would flag it).
    [note] = result.findings
    assert note.id == "helm/unread-values" and "annotations of Ingress" in note.summary


def test_a_literal_annotation_in_a_template_is_still_read(tmp_path: Path) -> None:
    tpl = tmp_path / "ingress.yaml"
    tpl.write_text(
        "{{- if .Values.on }}\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
        "  name: {{ .Release.Name }}\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-read-timeout: "600s"\n{{- end }}\n'
    )
    assert ids(lint_paths([str(tpl)]).findings) == {"ingress/invalid-annotation"}


def test_stdin_reads_rendered_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = (
        "---\n# Source: chart/templates/ingress.yaml\napiVersion: networking.k8s.io/v1\n"
        "kind: Ingress\nmetadata:\n  name: chat\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-read-timeout: "20"\n'
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(rendered))
    result = lint_paths(["-"])
    assert result.files == ["<stdin>"]
    assert ids(result.findings) == {"ingress/read-timeout"}


def test_root_maps_absolute_includes_onto_the_tree(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n include /etc/nginx/conf.d/*.conf;\n}\n"
    )
    (tmp_path / "conf.d" / "site.conf").write_text(
        "server { location / { proxy_read_timeout 10s; proxy_pass http://a; } }\n"
    )
    alone = lint_paths([str(tmp_path / "nginx.conf")])
    assert ids(alone.findings) == {"nginx/missing-include"}
    mapped = lint_paths([str(tmp_path / "nginx.conf")], roots=[("/etc/nginx", str(tmp_path))])
    assert {"nginx/read-timeout", "nginx/buffering-unverified"} == ids(mapped.findings)


def test_a_repository_s_absolute_include_never_reads_the_linting_machine(
    tmp_path: Path,
) -> None:
    # /etc/passwd exists on every Linux box; read as nginx it would not parse (exit 2). A
    # repository's copy names the server's files, not this machine's, so it stays unknown.
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n include /etc/passwd;\n}\n")
    result = lint_paths([str(tmp_path / "nginx.conf")])
    assert result.errors == []
    assert [(f.id, f.line) for f in result.findings] == [("nginx/missing-include", 3)]


def test_an_include_sharing_one_top_folder_is_not_the_same_install(tmp_path: Path) -> None:
    # A repository in /tmp/… that includes /tmp/other.conf (or /usr/src/app and /usr/local/…):
    # one top folder in common is not the server's tree, so this machine's file stays unread.
    with tempfile.NamedTemporaryFile("w", dir="/tmp", suffix=".conf") as other:
        other.write("this is not nginx {\n")
        other.flush()
        (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{\n include {other.name};\n}}\n")
        result = lint_paths([str(tmp_path / "nginx.conf")])
    assert result.errors == []
    assert [f.id for f in result.findings] == ["nginx/missing-include"]


def test_a_config_linted_in_place_reads_its_absolute_includes(tmp_path: Path) -> None:
    home = tmp_path / "etc" / "nginx"
    (home / "conf.d").mkdir(parents=True)
    (home / "nginx.conf").write_text(f"events {{}}\nhttp {{\n include {home}/conf.d/*.conf;\n}}\n")
    (home / "conf.d" / "site.conf").write_text(
        "server { location / { proxy_read_timeout 10s; proxy_pass http://a; } }\n"
    )
    found = lint_paths([str(home / "nginx.conf")]).findings
    assert "nginx/read-timeout" in ids(found)


def test_an_unresolved_include_makes_its_block_unknown_not_default(tmp_path: Path) -> None:
    site = "server {\n location /api {\n  include proxy.conf;\n  proxy_pass http://a;\n }\n}\n"
    found = lint_text(str(tmp_path / "site.conf"), site, Kind.NGINX, Limits(max_gap=45))
    assert [(f.id, f.line) for f in found] == [("nginx/missing-include", 3)]


def test_template_placeholders_are_unknown(tmp_path: Path) -> None:
    site = "server {\n location /api {\n  proxy_read_timeout ${READ_TIMEOUT};\n"
    site += "  proxy_http_version 1.1;\n  proxy_pass http://a;\n }\n}\n"
    found = lint_text(str(tmp_path / "site.conf.template"), site, Kind.NGINX, Limits())
    assert [(f.id, f.line) for f in found] == [("nginx/template-placeholder", 3)]


def test_a_placeholder_where_nginx_wants_on_or_off_is_unknown_not_an_error(
    tmp_path: Path,
) -> None:
    # Kong's custom_nginx.template: `daemon ${{NGINX_DAEMON}};` and `> if … then` lines
    # (Penlight) made "invalid value in daemon directive", exit 2.
    kong = (
        "> if nginx_user then\nuser ${{NGINX_USER}};\n> end\ndaemon ${{NGINX_DAEMON}};\n"
        "events {}\nhttp {\n server {\n  location /v1/chat {\n"
        "   proxy_read_timeout ${{READ_TIMEOUT}};\n   proxy_pass http://a;\n  }\n }\n}\n"
    )
    (tmp_path / "custom_nginx.template").write_text(kong)
    result = lint_paths([str(tmp_path / "custom_nginx.template")])
    assert result.errors == []
    # The read timeout is unknown (no read-timeout finding); the route's buffering is named.
    assert [(f.id, f.line) for f in result.findings] == [
        ("nginx/template-placeholder", 9),
        ("nginx/buffering-unverified", 10),
    ]
    envsubst = "daemon ${DAEMON};\nevents {}\nhttp {}\n"
    (tmp_path / "nginx.conf.template").write_text(envsubst)
    assert lint_paths([str(tmp_path / "nginx.conf.template")]).errors == []


def test_routes_that_do_not_stream_are_skipped_and_stream_path_selects(tmp_path: Path) -> None:
    site = (
        "proxy_cache_path /tmp/c keys_zone=c:1m;\nserver {\n"
        " location /health { proxy_pass http://a; }\n"
        " location /static/ { proxy_pass http://a; }\n"
        " location /pages { proxy_cache c; proxy_cache_valid 200 1m; proxy_pass http://a; }\n"
        " location /v1/chat { proxy_pass http://a; }\n}\n"
    )
    path = tmp_path / "site.conf"
    path.write_text(site)
    result = lint_paths([str(path)])
    assert [f.line for f in result.findings] == [6]
    assert len(result.streaming) == 1 and "/v1/chat" in result.streaming[0]
    assert len(result.skipped) == 3
    only = lint_paths([str(path)], Limits(stream_paths=("/pages",)))
    assert [f.line for f in only.findings] == [5]


def test_shell_defaults_are_used_and_bare_variables_are_unknown() -> None:
    script = "exec gunicorn -k ${WORKER_CLASS:-sync} --timeout $TIMEOUT app:app\n"
    found = {f.id for f in lint_text("run.sh", script, Kind.COMMANDS, Limits())}
    # sync from the default; the timeout is unknown, so gunicorn/timeout does not fire.
    assert "gunicorn/sync-worker" in found and "gunicorn/timeout" not in found
    gevent = script.replace(":-sync", ":-gevent")
    assert "gunicorn/sync-worker" not in {
        f.id for f in lint_text("run.sh", gevent, Kind.COMMANDS, Limits())
    }


def test_misspelled_gunicorn_settings_are_reported() -> None:
    found = lint_text("gunicorn.conf.py", "keep_alive = 75\n", Kind.GUNICORN, Limits())
    [typo] = [f for f in found if f.id == "gunicorn/unknown-setting"]
    assert typo.line == 1 and "`keepalive`" in typo.fix


def test_a_command_reads_its_sibling_gunicorn_conf(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text("worker_class = 'gevent'\ngraceful_timeout = 1000\n")
    (tmp_path / "Dockerfile").write_text('CMD ["gunicorn", "app:app"]\n')
    result = lint_paths([str(tmp_path / "Dockerfile")])
    assert ids(result.findings) <= {"gunicorn/keepalive"}  # no sync worker: the conf says gevent


def test_deployment_commands_grace_and_probe() -> None:
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n"
        "    spec:\n      terminationGracePeriodSeconds: 20\n      containers:\n"
        "        - name: web\n          command: [gunicorn, -k, gevent, --graceful-timeout, '60',"
        " app:app]\n"
    )
    found = {(f.id, f.line) for f in lint_text("d.yaml", manifest, Kind.YAML, Limits())}
    assert ("k8s/termination-grace", 7) in found
    assert ("k8s/readiness-probe", 10) in found
    assert ("gunicorn/graceful-timeout", 10) in found


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            'resource "aws_apigatewayv2_integration" "a" {\n  integration_type = "HTTP_PROXY"\n}\n',
            "aws-apigateway/integration-timeout",
        ),
        (
            'resource "google_cloud_run_v2_service" "a" {\n  template {\n    timeout = "300s"\n'
            "  }\n}\n",
            "cloud-run/request-timeout",
        ),
        (
            'resource "aws_cloudfront_distribution" "a" {\n  origin {\n    custom_origin_config {\n'
            '      origin_protocol_policy = "https-only"\n      origin_read_timeout = 20\n    }\n'
            "  }\n}\n",
            "cloudfront/origin-read-timeout",
        ),
    ],
)
def test_terraform_front_doors(text: str, rule: str) -> None:
    assert {f.id for f in lint_text("main.tf", text, Kind.TERRAFORM, Limits())} == {rule}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "kind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n    - timeouts: {request: 60s}\n",
            "gateway-api/request-timeout",
        ),
        (
            "kind: VirtualService\nmetadata: {name: v}\nspec:\n  http:\n    - timeout: 30s\n",
            "istio/route-timeout",
        ),
        (
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
            "  template:\n    spec: {containers: []}\n",
            "cloud-run/request-timeout",
        ),
        (
            "static_resources:\n  listeners:\n    - filters:\n        - typed_config:\n"
            "            stream_idle_timeout: 10s\n",
            "envoy/stream-idle-timeout",
        ),
        (
            "static_resources:\n  x:\n    processing_mode: {response_body_mode: BUFFERED}\n",
            "envoy/ext-proc-buffered",
        ),
        (
            "static_resources:\n  x:\n    common_http_protocol_options: {max_stream_duration: 60s}\n",
            "envoy/max-stream-duration",
        ),
        (
            "entryPoints:\n  web:\n    transport:\n      respondingTimeouts: {writeTimeout: 60s}\n",
            "traefik/write-timeout",
        ),
        (
            "http:\n  middlewares:\n    buf:\n      buffering: {maxResponseBodyBytes: 1000}\n",
            "traefik/buffering",
        ),
        (
            "Resources:\n  Int:\n    Type: AWS::ApiGatewayV2::Integration\n    Properties:\n"
            "      TimeoutInMillis: 29000\n",
            "aws-apigateway/integration-timeout",
        ),
    ],
)
def test_yaml_front_doors(text: str, rule: str) -> None:
    assert {f.id for f in lint_text("x.yaml", text, Kind.YAML, Limits())} == {rule}


def test_a_regex_location_naming_openapi_json_is_not_static(tmp_path: Path) -> None:
    # Onyx's `location ~ ^/(api|openapi.json)(/.*)?$`: ".json" is not a ".js" static file.
    site = "server {\n location ~ ^/(api|openapi.json)(/.*)?$ {\n  proxy_pass http://a;\n }\n}\n"
    path = tmp_path / "site.conf"
    path.write_text(site)
    result = lint_paths([str(path)])
    assert len(result.streaming) == 1 and result.skipped == []
    assert {f.id for f in result.findings} == {"nginx/buffering-unverified"}


def test_stock_includes_are_known_not_unknown(tmp_path: Path) -> None:
    # mime.types sets types only: including it must not hide http{}'s defaults.
    conf = "events {}\nhttp {\n include /etc/nginx/mime.types;\n"
    conf += " server { location /v1 { proxy_pass http://a; } }\n}\n"
    found = lint_text(str(tmp_path / "nginx.conf"), conf, Kind.NGINX, Limits())
    assert [f.id for f in found] == ["nginx/buffering-unverified"]


def test_helm_on_path_renders_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in `helm` that prints what `helm template CHART --show-only T` would.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text(
        "#!/bin/sh\ncat <<'EOF'\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        "metadata:\n  name: chat\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-read-timeout: "10"\nEOF\n'
    )
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: chat\nversion: 0.1.0\n")
    tpl = chart / "templates" / "ingress.yaml"
    tpl.write_text(
        "kind: Ingress\nmetadata:\n  annotations:\n    {{- toYaml .Values.a | nindent 4 }}\n"
    )
    assert ids(lint_paths([str(tpl)]).findings) == {"ingress/read-timeout"}


def test_compose_stop_grace_period_against_gunicorn_drain() -> None:
    compose = (
        "services:\n  api:\n    image: app\n"
        "    command: gunicorn -k gevent --graceful-timeout 1000 --keep-alive 75 app:app\n"
    )
    found = {(f.id, f.line) for f in lint_text("compose.yaml", compose, Kind.YAML, Limits())}
    assert found == {("k8s/termination-grace", 4)}  # Compose's 10 s default


def test_routes_to_an_object_store_are_not_streams(tmp_path: Path) -> None:
    # Bisheng's nginx proxies its MinIO buckets: stored files, never a stream.
    site = (
        "server {\n"
        " location ~ ^/(bucket|tmp-dir)/ { proxy_pass http://minio:9000; }\n"
        " location /docs/ { proxy_pass https://docs.s3.eu-west-1.amazonaws.com; }\n"
        " location /blobs/ { proxy_pass https://acct.blob.core.windows.net; }\n"
        " location /dyn/ { proxy_pass http://$minio_host; }\n"
        " location /v1/chat { proxy_pass http://app:8000; }\n}\n"
    )
    path = tmp_path / "site.conf"
    path.write_text(site)
    result = lint_paths([str(path)])
    # A variable host is unknown, so /dyn/ still counts as a stream.
    assert [f.line for f in result.findings] == [5, 6]
    assert len(result.skipped) == 3
    assert all("object store" in why for why in result.skipped)


def test_a_helm_if_inside_a_configmap_block_scalar_is_read(tmp_path: Path) -> None:
    # Bisheng's chart keeps nginx.conf in a ConfigMap with `{{- if }}` inside `data: |`;
    # stripping it to a column-0 comment ended the block scalar (exit 2, YAML error).
    tpl = tmp_path / "configmap-nginx.yaml"
    tpl.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-nginx\n"
        "data:\n  default.conf: |\n    server {\n      listen 80;\n    }\n"
        "    {{- if .Values.clientPort }}\n    server {\n      listen 81;\n    }\n"
        "    {{- end }}\n"
    )
    result = lint_paths([str(tpl)])
    assert result.errors == []
    assert result.files == [str(tpl)]


def test_an_aigatewayroute_rule_without_timeouts_gets_60_s() -> None:
    # Envoy AI Gateway's basic example: three rules, none sets timeouts, so each is cut at 60 s.
    route = (
        "apiVersion: aigateway.envoyproxy.io/v1alpha1\nkind: AIGatewayRoute\n"
        "metadata: {name: r}\nspec:\n  rules:\n"
        "    - backendRefs: [{name: a}]\n"
        "    - backendRefs: [{name: b}]\n"
        "    - backendRefs: [{name: c}]\n      timeouts: {request: 120s}\n"
        "    - backendRefs: [{name: d}]\n      timeouts: {request: 1200s}\n"
    )
    found = lint_text("route.yaml", route, Kind.YAML, Limits())
    # One finding for the two rules left on the default, one for the short explicit value.
    assert [(f.id, f.line) for f in found] == [
        ("ai-gateway/request-timeout", 9),
        ("ai-gateway/request-timeout", 6),
    ]
    assert "2 of its rules" in found[1].summary and "60 s" in found[1].summary
    long_enough = route.replace("request: 120s", "request: 1200s")
    long_enough = long_enough.replace("[{name: a}]", "[{name: a}]\n      timeouts: {request: 0s}")
    long_enough = long_enough.replace(
        "[{name: b}]", "[{name: b}]\n      timeouts: {request: 3600s}"
    )
    assert lint_text("route.yaml", long_enough, Kind.YAML, Limits()) == []


def test_stored_file_paths_are_not_streams(tmp_path: Path) -> None:
    # Dify's and WeKnora's `/files` serve uploaded files through the app: downloads.
    site = (
        "server {\n"
        " location = /files { proxy_pass http://app:8080/files; }\n"
        " location /uploads/ { proxy_pass http://app:8080; }\n"
        " location /filesystem-events { proxy_pass http://app:8080; }\n"
        " location /v1/chat { proxy_pass http://app:8080; }\n}\n"
    )
    path = tmp_path / "site.conf"
    path.write_text(site)
    result = lint_paths([str(path)])
    # `/filesystem-events` is not `/files`: it still counts as a stream.
    assert [f.line for f in result.findings] == [4, 5]
    assert len(result.skipped) == 2
    assert all("stored files" in why for why in result.skipped)


POD = (
    "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: chat}}\nspec:\n  template:\n"
    "    spec:\n{grace}      containers:\n        - name: app\n          image: {image}\n"
    "{extra}"
)
PORT = "          ports: [{containerPort: 8080}]\n"


@pytest.mark.parametrize(
    ("kind", "grace", "image", "extra", "expected"),
    [
        # A Go or Node app (no command the linter reads) that serves HTTP: the 30 s default
        # grace is what ends its streams on a rollout.
        ("Deployment", "", "ghcr.io/acme/relay:1.2", PORT, {("k8s/termination-grace", 6)}),
        ("StatefulSet", "", "acme/relay", PORT, {("k8s/termination-grace", 6)}),
        (
            "Deployment",
            "      terminationGracePeriodSeconds: 10\n",
            "acme/relay",
            PORT,
            {("k8s/termination-grace", 7)},
        ),
        # Long enough for the longest stream: nothing.
        ("Deployment", "      terminationGracePeriodSeconds: 930\n", "acme/relay", PORT, set()),
        # A template value nobody can read here is unknown, not the default.
        (
            "Deployment",
            "      terminationGracePeriodSeconds: '{{ .Values.grace }}'\n",
            "acme/relay",
            PORT,
            set(),
        ),
        # No port and no HTTP probe: nothing says it serves anything.
        ("Deployment", "", "acme/worker", "", set()),
        # An HTTP probe is enough.
        (
            "Deployment",
            "",
            "acme/relay",
            "          readinessProbe: {httpGet: {path: /readyz, port: 8080}}\n",
            {("k8s/termination-grace", 6)},
        ),
        # Data stores and stand-in upstreams serve no streams.
        ("StatefulSet", "", "docker.io/library/postgres:16", PORT, set()),
        ("Deployment", "", "qdrant/qdrant:v1.9", PORT, set()),
        ("Deployment", "", "envoyproxy/ai-gateway-testupstream:latest", PORT, set()),
        # Not a workload that rolls.
        ("DaemonSet", "", "acme/relay", PORT, set()),
    ],
)
def test_a_pod_that_serves_http_gets_a_grace_period_for_its_streams(
    kind: str, grace: str, image: str, extra: str, expected: set[tuple[str, int]]
) -> None:
    manifest = POD.format(kind=kind, grace=grace, image=image, extra=extra)
    found = {(f.id, f.line) for f in lint_text("d.yaml", manifest, Kind.YAML, Limits())}
    assert {f for f in found if f[0] == "k8s/termination-grace"} == expected


def test_a_pod_whose_server_drains_for_a_known_time_is_judged_by_that_drain() -> None:
    # gunicorn drains for graceful_timeout: the container rule compares the two; the pod
    # check stays out of it (one finding for one cause).
    manifest = (
        POD.format(kind="Deployment", grace="", image="acme/api", extra=PORT)
        + "          command: [gunicorn, -k, gevent, --graceful-timeout, '20', app:app]\n"
    )
    found = [f.id for f in lint_text("d.yaml", manifest, Kind.YAML, Limits())]
    assert "k8s/termination-grace" not in found
    # uvicorn without --timeout-graceful-shutdown waits forever: the grace decides.
    forever = manifest.replace(
        "[gunicorn, -k, gevent, --graceful-timeout, '20', app:app]", "[uvicorn, app:app]"
    )
    found = [f.id for f in lint_text("d.yaml", forever, Kind.YAML, Limits())]
    assert found.count("k8s/termination-grace") == 1


def test_a_dockerfile_shell_form_inside_exec_form_is_read() -> None:
    dockerfile = (
        'CMD ["sh", "-c", "uv run gunicorn api:app \\\n'
        "  --worker-class uvicorn.workers.UvicornWorker \\\n"
        '  --graceful-timeout 600 --threads $THREADS"]\n'
    )
    found = {(f.id, f.line) for f in lint_text("Dockerfile", dockerfile, Kind.COMMANDS, Limits())}
    assert ("gunicorn/deprecated-uvicorn-worker", 1) in found
    assert ("gunicorn/graceful-timeout", 1) in found  # 600 s < --max-duration's 900 s


def test_an_unreadable_grace_period_is_unknown_for_a_known_drain_too() -> None:
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n"
        "    spec:\n      terminationGracePeriodSeconds: '{{ .Values.grace }}'\n"
        "      containers:\n        - name: web\n"
        "          command: [gunicorn, -k, gevent, --graceful-timeout, '60', app:app]\n"
    )
    found = {f.id for f in lint_text("d.yaml", manifest, Kind.YAML, Limits())}
    assert "k8s/termination-grace" not in found  # it was read as the 30 s default before


def test_an_envoy_patch_policy_is_read_as_envoy_config() -> None:
    # Envoy Gateway carries raw Envoy routes in its JSON patches (AIBrix's gateway.yaml).
    policy = (
        "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyPatchPolicy\n"
        "metadata: {name: epp}\nspec:\n  jsonPatches:\n"
        "  - type: type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
        "    operation:\n      op: add\n      path: /virtual_hosts/0/routes/0\n      value:\n"
        "        name: pinned\n        match: {prefix: /}\n"
        "        route: {cluster: upstream, timeout: 600s}\n"
    )
    found = {(f.id, f.line) for f in lint_text("gw.yaml", policy, Kind.YAML, Limits())}
    assert found == {("envoy/route-timeout", 13)}


def test_a_jinja_nginx_template_is_read_with_its_expressions_unknown(tmp_path: Path) -> None:
    # dstack's service.jinja2, Ansible's nginx.conf.j2: `{% %}` go, `{{ x }}` is unknown.
    site = (
        "{% for zone in zones %}\n"
        "limit_req_zone {{ zone.key }} zone={{ zone.name }}:10m rate={{ zone.rpm }}r/m;\n"
        "{% endfor %}\n"
        "server {\n  location /v1 {\n    proxy_read_timeout {{ read_timeout }};\n"
        "    proxy_pass http://{{ upstream }};\n  }\n}\n"
    )
    path = tmp_path / "service.jinja2"
    path.write_text(site)
    result = lint_paths([str(path)])
    assert result.errors == []
    found = {(f.id, f.line) for f in result.findings}
    # The read timeout is a template value: unknown, named, never judged as 60 s or as text.
    assert ("nginx/template-placeholder", 6) in found
    assert not any(rule == "nginx/read-timeout" for rule, _ in found)


def test_a_helm_action_indented_with_a_tab_still_parses() -> None:
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n"
        "\t{{- .Values.ports | toYaml | nindent 2 }}\n"
    )
    found = lint_text("svc.yaml", manifest, Kind.YAML, Limits())
    assert all(f.id.startswith("helm/") for f in found)


@pytest.mark.parametrize(
    ("manifest", "line"),
    [
        (
            "apiVersion: networking.gke.io/v1\nkind: GCPBackendPolicy\nmetadata: {name: api}\n"
            "spec:\n  default:\n    timeoutSec: 300\n",
            6,
        ),
        # Unset, GKE's backend service gives the whole response 30 s.
        ("apiVersion: cloud.google.com/v1\nkind: BackendConfig\nmetadata: {name: api}\n", 2),
        ("apiVersion: cloud.google.com/v1\nkind: BackendConfig\nspec:\n  timeoutSec: 1800\n", None),
    ],
)
def test_gke_backend_timeouts(manifest: str, line: int | None) -> None:
    found = {(f.id, f.line) for f in lint_text("gke.yaml", manifest, Kind.YAML, Limits())}
    expected = {("gcp-lb/backend-timeout", line)} if line is not None else set()
    assert found == expected


def test_docs_and_program_source_are_never_configs(tmp_path: Path) -> None:
    # This repository's own tree: docs quote nginx blocks, and a Node app calls
    # `http.createServer`; linting the directory took both for nginx configs (exit 2).
    (tmp_path / "guide.md").write_text("```nginx\nserver {\n    location / {\n```\n")
    (tmp_path / "server.js").write_text("const http = require('http');\nhttp.createServer(app);\n")
    (tmp_path / "site.conf").write_text("server { location / { proxy_pass http://a; } }\n")
    result = lint_paths([str(tmp_path)])
    assert result.errors == []
    assert [os.path.basename(f) for f in result.files] == ["site.conf"]
