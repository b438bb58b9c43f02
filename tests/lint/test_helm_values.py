"""Helm templates read with their chart's default values when helm is not installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import Ran
from streamwarden.lint import Limits, lint_paths
from streamwarden.lint.detect import detect
from streamwarden.lint.helmvalues import (
    Failure,
    chart_dependencies,
    chart_values,
    evaluate,
    evaluation,
)

INGRESS = (
    "{{- if .Values.ingress.enabled }}\n"
    "apiVersion: networking.k8s.io/v1\n"
    "kind: Ingress\n"
    "metadata:\n"
    '  name: {{ include "chat.fullname" . }}\n'
    "  {{- with .Values.ingress.annotations }}\n"
    "  annotations:\n"
    "    {{- toYaml . | nindent 4 }}\n"
    "  {{- end }}\n"
    "spec:\n"
    "  ingressClassName: {{ .Values.ingress.className }}\n"
    "  rules:\n"
    "    - http:\n"
    "        paths:\n"
    "          - path: /\n"
    "            pathType: Prefix\n"
    "            backend:\n"
    "              service: {name: chat, port: {number: 80}}\n"
    "{{- end }}\n"
)
DEPLOYMENT = (
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: chat\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      {{- if .Values.terminationGracePeriodSeconds }}\n"
    "      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}\n"
    "      {{- end }}\n"
    "      containers:\n"
    "        - name: app\n"
    '          image: {{ .Values.image.repository }}:{{ .Values.image.tag | default "1" }}\n'
    "          ports:\n"
    "            - containerPort: {{ .Values.port }}\n"
)


def chart(tmp_path: Path, values: str, **templates: str) -> Path:
    root = tmp_path / "chat"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: chat\nversion: 0.1.0\n")
    (root / "values.yaml").write_text(values)
    for name, text in templates.items():
        (root / "templates" / f"{name}.yaml").write_text(text)
    return root


def test_if_else_and_with_follow_the_values_and_keep_every_line() -> None:
    template = (
        "a: 1\n{{- if .Values.on }}\nb: on\n{{- else if .Values.other }}\nb: other\n"
        "{{- else }}\nb: off\n{{- end }}\n{{- with .Values.box }}\nc: {{ .size }}\n{{- end }}\n"
    )
    on = evaluate(template, {"on": True, "box": {"size": 3}})
    assert on.splitlines() == ["a: 1", "#", "b: on", "#", "#", "#", "#", "#", "#", "c: 3", "#"]
    other = evaluate(template, {"on": False, "other": "x", "box": {}})
    assert [line for line in other.splitlines() if line != "#"] == ["a: 1", "b: other"]
    off = evaluate(template, {})
    assert [line for line in off.splitlines() if line != "#"] == ["a: 1", "b: off"]


def test_what_the_values_do_not_decide_is_left_for_strip() -> None:
    template = (
        '{{- if .Capabilities.APIVersions.Has "v1" }}\nkept: yes\n{{- end }}\n'
        'name: {{ include "x" . }}\nport: {{ .Values.missing.deeper }}\n'
        "{{- range .Values.hosts }}\nhost: {{ . }}\n{{- end }}\n"
    )
    out = evaluate(template, {"hosts": ["a"]}).splitlines()
    assert out[1] == "kept: yes"  # an unknown condition keeps its branch
    assert out[3] == 'name: {{ include "x" . }}'
    assert out[4] == "port: {{ .Values.missing.deeper }}"
    assert out[6] == "host: {{ . }}"  # range is not unrolled


def test_pipelines_and_flow_yaml_for_maps() -> None:
    template = (
        'a: {{ .Values.timeout | default 60 | quote }}\nb: {{ default "x" .Values.name }}\n'
        "c: {{ .Values.n | int }}\nd:\n  {{- toYaml .Values.map | nindent 2 }}\n"
        "e: {{- toYaml .Values.map | nindent 2 }}\nf: {{ and .Values.on .Values.n }}\n"
    )
    values = {"timeout": None, "n": "7", "map": {"k": "v"}, "on": True}
    assert evaluate(template, values).splitlines() == [
        'a: "60"',
        "b: x",
        "c: 7",
        "d:",
        '  {"k": "v"}',
        'e: {"k": "v"}',
        "f: 7",
    ]


def test_a_list_merged_into_an_open_sequence_stays_unknown() -> None:
    # lorax's chart appends `toYaml .Values.env` to a literal env list: one line cannot hold
    # it, so the line is left to strip (its content unknown), not written as a flow list.
    template = 'env:\n- name: PORT\n  value: "8000"\n{{- toYaml .Values.env | nindent 0 }}\n'
    out = evaluate(template, {"env": [{"name": "A", "value": "1"}]})
    assert out.splitlines()[3] == "{{- toYaml .Values.env | nindent 0 }}"


def test_a_grace_period_left_empty_in_values_is_kubernetes_default(tmp_path: Path) -> None:
    # ai-dial's dial-core chart: `terminationGracePeriodSeconds: ""` drops the field, so the
    # pod gets 30 s; stripped without values the field was a placeholder, and unknown.
    values = 'terminationGracePeriodSeconds: ""\nimage: {repository: app}\nport: 8080\n'
    root = chart(tmp_path, values, deployment=DEPLOYMENT)
    found = lint_paths([str(root)]).findings
    assert [(f.id, f.line) for f in found] == [("k8s/termination-grace", 7)]
    raised = "terminationGracePeriodSeconds: 960\nimage: {repository: app}\nport: 8080\n"
    (root / "values.yaml").write_text(raised)
    assert lint_paths([str(root)]).findings == []


def test_annotations_from_values_are_judged(tmp_path: Path) -> None:
    values = (
        "ingress:\n  enabled: true\n  className: nginx\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-read-timeout: "20"\n'
    )
    root = chart(tmp_path, values, ingress=INGRESS)
    found = lint_paths([str(root)]).findings
    assert [(f.id, f.line) for f in found] == [("ingress/read-timeout", 8)]


def test_a_template_the_defaults_switch_off_says_so(tmp_path: Path) -> None:
    root = chart(tmp_path, "ingress:\n  enabled: false\n", ingress=INGRESS)
    [note] = lint_paths([str(root)]).findings
    assert (note.id, note.line) == ("helm/not-rendered", 1)
    assert "`{{- if .Values.ingress.enabled }}` is false" in note.summary


def test_a_subchart_takes_its_parent_s_values(tmp_path: Path) -> None:
    parent = tmp_path / "app"
    (parent / "charts").mkdir(parents=True)
    (parent / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    (parent / "values.yaml").write_text(
        "chat:\n  ingress:\n    enabled: true\n    annotations:\n"
        '      nginx.ingress.kubernetes.io/proxy-read-timeout: "20"\n'
    )
    sub = chart(parent / "charts", "ingress:\n  enabled: false\n", ingress=INGRESS)
    values = chart_values(str(sub / "templates" / "ingress.yaml"))
    assert values is not None and values["ingress"]["enabled"] is True
    found = lint_paths([str(sub / "templates" / "ingress.yaml")]).findings
    assert [f.id for f in found] == ["ingress/read-timeout"]


def test_a_template_outside_a_chart_is_stripped_as_before(tmp_path: Path) -> None:
    (tmp_path / "ingress.yaml").write_text(INGRESS)
    assert chart_values(str(tmp_path / "ingress.yaml")) is None
    [note] = lint_paths([str(tmp_path / "ingress.yaml")]).findings
    assert note.id == "helm/unread-values"


def test_a_value_that_breaks_the_yaml_falls_back_to_stripping(tmp_path: Path) -> None:
    # Substituted raw, "a: b" makes `name: a: b`, which does not parse; helm users quote it.
    # The template is then read without values, as before, instead of failing with exit 2.
    deployment = DEPLOYMENT.replace("  name: chat\n", "  name: {{ .Values.name }}\n")
    values = 'name: "a: b"\nterminationGracePeriodSeconds: ""\nimage: {repository: app}\n'
    root = chart(tmp_path, values + "port: 8080\n", deployment=deployment)
    result = lint_paths([str(root)])
    assert result.errors == []
    assert str(root / "templates" / "deployment.yaml") in result.files
    assert result.findings == []  # the grace is a placeholder again: unknown, not 30 s


def test_flow_text_goes_deeper_than_its_key() -> None:
    # qdrant's chart: `args:` then `{{- toYaml . | nindent 10 }}` at the key's own column.
    # helm writes a block sequence there, which YAML allows; a flow one must be deeper.
    template = (
        "c:\n  args:\n  {{- with .Values.args }}\n    {{- toYaml . | nindent 2 }}\n  {{- end }}\n"
    )
    out = evaluate(template, {"args": ["./init.sh"]})
    assert out.splitlines()[3] == '    ["./init.sh"]'


def test_empty_strings_and_zero_are_false() -> None:
    template = "{{- if .Values.s }}\na: 1\n{{- end }}\n{{- if .Values.n }}\nb: 2\n{{- end }}\n"
    assert [
        line for line in evaluate(template, {"s": "", "n": 0}).splitlines() if line != "#"
    ] == []


def test_a_chart_s_helpers_are_not_configs() -> None:
    # qdrant's _helpers.tpl holds a define whose text reads like nginx (`http`): linting the
    # chart failed with exit 2 on "cannot parse nginx config".
    chart = Path(__file__).parent / "real_charts" / "qdrant-helm" / "qdrant"
    helpers = chart / "templates" / "_helpers.tpl"
    assert detect(str(helpers), helpers.read_text()) is None
    result = lint_paths([str(chart)])
    assert result.errors == []
    assert str(helpers) not in result.files


def test_an_include_under_labels_fills_labels_not_its_siblings(tmp_path: Path) -> None:
    # LibreChat's ingress: `labels:` then `{{- include "librechat.labels" . | nindent 4 }}`.
    # What the include inserts sits under `labels`; metadata's annotations stay readable
    # (absent: ingress-nginx's 60 s default, judged against a 45 s heartbeat).
    ingress = (
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
        '  name: {{ include "x.fullname" . }}\n  labels:\n'
        '    {{- include "x.labels" . | nindent 4 }}\nspec:\n  ingressClassName: nginx\n'
    )
    (tmp_path / "ingress.yaml").write_text(ingress)
    found = lint_paths([str(tmp_path / "ingress.yaml")], Limits(max_gap=45)).findings
    assert [f.id for f in found] == ["ingress/read-timeout"]


def test_a_field_of_a_missing_map_is_where_helm_stops() -> None:
    template = "{{- if .Values.autoscaling.enabled }}\nreplicas: 1\n{{- end }}\n"
    none: frozenset[str] = frozenset()
    assert evaluation(template, {}, none)[1] == Failure(
        1, ".Values.autoscaling.enabled", ".Values.autoscaling", "enabled"
    )
    # Not where helm would not stop: a guard (`and` reads lazily, as Go does), a branch
    # that may not run, a dependency's values (merged in by helm), or no Chart.yaml read.
    guarded = "{{- if and .Values.autoscaling .Values.autoscaling.enabled }}\na: 1\n{{- end }}\n"
    assert evaluation(guarded, {}, none)[1] is None
    maybe = "{{- range .Values.hosts }}\n{{- if $.Values.x.y }}\na: 1\n{{- end }}\n{{- end }}\n"
    assert evaluation(maybe, {"hosts": []}, none)[1] is None
    assert evaluation(template, {}, frozenset({"autoscaling"}))[1] is None
    assert evaluation(template, {}, None)[1] is None
    # helm gives every chart an empty `global`; a field of a field of it is still missing.
    deeper = "a: {{ .Values.global.app.name }}\n"
    assert evaluation("a: {{ .Values.global.name }}\n", {}, none)[1] is None
    assert evaluation(deeper, {}, none)[1] == Failure(
        1, ".Values.global.app.name", ".Values.global.app", "name"
    )


def test_a_chart_that_does_not_render_says_so_instead_of_judging(tmp_path: Path) -> None:
    # h2ogpt's chart reads `.Values.autoscaling.enabled` with no `autoscaling` in values:
    # helm install fails, so its default 30 s grace period is not a finding.
    deployment = "{{- if not .Values.autoscaling.enabled }}\n" + DEPLOYMENT + "{{- end }}\n"
    values = "image: {repository: app}\nport: 8080\n"
    root = chart(tmp_path, values, deployment=deployment)
    [note] = lint_paths([str(root)]).findings
    assert (note.id, note.line) == ("helm/render-error", 1)
    assert "`.Values.autoscaling.enabled`" in note.summary
    (root / "values.yaml").write_text(values + "autoscaling: {enabled: false}\n")
    assert [f.id for f in lint_paths([str(root)]).findings] == ["k8s/termination-grace"]


def test_go_semantics_the_review_found_wrong() -> None:
    # Each checked against Helm's engine (helm-python-sdk) when written.
    lines = (
        '{{- if eq .Values.mode "ingress" "both" }}\na: 1\n{{- end }}\n'  # eq: any of them
        'b: {{ or (include "x" .) .Values.t }}\n'  # which renders is unknown
        "c: {{ .Values.big }}\n"  # a float64: 1e+06
        "d: {{ .Values.missing | quote }}\n"  # nil quotes to nothing
        'e: {{ "3.5" | int }}\n'  # cast.ToInt of a non-integer string: 0
        "f: {{ .Values.m }}\n"  # a map without toYaml prints map[x:1]
        "g: {{ .Values.banner }}\n"  # two lines would shift the rest
        '{{- if and (include "x" .) .Values.tls.enabled }}\nh: 1\n{{- end }}\n'
    )
    values = {"mode": "both", "t": 20, "big": 1000000, "m": {"x": 1}, "banner": "a\nb: 1"}
    out, failure = evaluation(lines, values, frozenset())
    rendered = out.splitlines()
    assert len(rendered) == len(lines.splitlines())
    assert rendered[1] == "a: 1"
    assert rendered[3] == 'b: {{ or (include "x" .) .Values.t }}'
    assert rendered[4:7] == ["c: 1e+06", "d: {{ .Values.missing | quote }}", "e: 0"]
    assert rendered[7:9] == ["f: {{ .Values.m }}", "g: {{ .Values.banner }}"]
    assert failure is None  # `and` may stop at the unknown include before `.tls.enabled`


def test_variables_blocks_and_mutations_follow_go_scoping() -> None:
    template = (
        '{{- $t := "3600" }}\n'
        '{{- if include "x" . }}\n{{- $t = .Values.short }}\n{{- end }}\n'  # may run
        "a: {{ $t }}\n"
        '{{- $u := "outer" }}\n{{- if .Values.on }}\n{{- $u := "inner" }}\n{{- end }}\n'
        "b: {{ $u }}\n"  # `:=` inside the if declares its own
        "{{- range $k, $v := .Values.m }}\nc: {{ $v }}\n{{- end }}\n"  # bound by range
        "{{- if .Values.off }}\nd: 1\n{{- else\tif .Values.on }}\ne: 2\n{{- end }}\n"  # a tab
        '{{- $_ := set .Values "on" false }}\n'  # values change as the template runs
        "f: {{ .Values.on }}\n"
    )
    values = {"short": "20", "on": True, "off": False, "m": {"x": 1}}
    out = evaluate(template, values).splitlines()
    assert len(out) == len(template.splitlines())
    assert out[4] == "a: {{ $t }}"
    assert out[9] == "b: outer"
    assert out[11] == "c: {{ $v }}"
    assert [out[14], out[16]] == ["#", "e: 2"]
    assert out[19] == "f: {{ .Values.on }}"


def test_actions_across_lines_keep_blocks_balanced() -> None:
    # A comment with an action in it is not evaluated (helm skips it), and an `if` whose
    # condition spans lines still opens one block.
    template = (
        "{{/*\nExample: {{ .Values.tls.secretName }}\n*/}}\n"
        "{{- if .Values.ing }}\n{{- if or .Values.a\n      .Values.b }}\nx: 1\n{{- end }}\n"
        "y: 2\n{{- end }}\nz: 3\n"
    )
    out, failure = evaluation(template, {"ing": False, "a": True}, frozenset())
    assert failure is None
    lines = out.splitlines()
    assert len(lines) == len(template.splitlines())
    assert [line for line in lines if line.strip() not in ("", "#")] == ["z: 3"]


def test_a_long_line_with_no_closing_braces_is_read_quickly() -> None:
    # The old pattern backtracked cubically here (about a minute at this size).
    line = "a: {{" + " " * 3000 + "\n"
    assert evaluate(line, {}) == line


def test_a_helper_named_merge_does_not_change_the_values() -> None:
    # ai-dial's `include "common.tplvalues.merge" …` is a helper's name, not sprig's merge.
    template = (
        '{{- $l := include "common.tplvalues.merge" (dict "v" .Values.x) }}\na: {{ .Values.y }}\n'
    )
    assert evaluate(template, {"x": 1, "y": "z"}).splitlines()[1] == "a: z"


def test_what_helm_fills_from_elsewhere_is_never_a_render_error(tmp_path: Path) -> None:
    deployment = "{{- if .Values.redis.master.port }}\n" + DEPLOYMENT + "{{- end }}\n"
    values = "image: {repository: app}\nport: 8080\n"
    root = chart(tmp_path, values, deployment=deployment)
    template = str(root / "templates" / "deployment.yaml")
    assert chart_dependencies(template) == frozenset()
    # A chart in charts/, a v1 requirements.yaml, or imported values: `redis` may be filled.
    (root / "charts" / "redis").mkdir(parents=True)
    assert chart_dependencies(template) == frozenset({"redis"})
    (root / "charts" / "redis").rmdir()
    (root / "requirements.yaml").write_text("dependencies:\n  - name: redis\n")
    assert chart_dependencies(template) == frozenset({"redis"})
    (root / "requirements.yaml").unlink()
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: chat\nversion: 0.1.0\n"
        "dependencies:\n  - name: cache\n    import-values: [data]\n"
    )
    assert chart_dependencies(template) is None
    assert [f.id for f in lint_paths([str(root)]).findings] == ["k8s/termination-grace"]


def test_only_templates_helm_renders_are_evaluated(tmp_path: Path) -> None:
    # values.yaml may hold `tpl` strings; helm renders only templates/, never `_` files.
    values = 'secret: "{{ .Values.auth.name }}"\nimage: {repository: app}\nport: 8080\n'
    root = chart(tmp_path, values, deployment=DEPLOYMENT)
    assert chart_values(str(root / "values.yaml")) is None
    assert chart_values(str(root / "templates" / "_partial.yaml")) is None
    assert chart_values(str(root / "templates" / "deployment.yaml")) is not None
    assert all(f.id != "helm/render-error" for f in lint_paths([str(root)]).findings)


def test_a_subchart_under_an_alias_takes_the_alias_s_values(tmp_path: Path) -> None:
    parent = tmp_path / "app"
    (parent / "charts").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: chat\n    alias: api\n"
    )
    (parent / "values.yaml").write_text("api:\n  ingress:\n    enabled: true\n")
    sub = chart(parent / "charts", "ingress:\n  enabled: false\n", ingress=INGRESS)
    values = chart_values(str(sub / "templates" / "ingress.yaml"))
    assert values is not None and values["ingress"]["enabled"] is True


def test_the_not_rendered_note_quotes_the_condition(tmp_path: Path) -> None:
    ingress = '{{- $fullName := include "chat.fullname" . -}}\n' + INGRESS
    root = chart(tmp_path, "ingress:\n  enabled: false\n", ingress=ingress)
    [note] = lint_paths([str(root)]).findings
    assert (note.id, note.line) == ("helm/not-rendered", 2)
    assert "`{{- if .Values.ingress.enabled }}` is false" in note.summary


def test_the_values_a_user_deploys_with_are_read_over_the_chart_s(
    cli: Callable[..., Ran], tmp_path: Path
) -> None:
    root = chart(tmp_path, "ingress:\n  enabled: false\n", ingress=INGRESS)
    prod = tmp_path / "prod.yaml"
    prod.write_text(
        "ingress:\n  enabled: true\n  className: nginx\n  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-read-timeout: "20"\n'
    )
    ran = cli("lint", "--format", "json", str(root))
    assert [f["rule"] for f in json.loads(ran.stdout)["findings"]] == ["helm/not-rendered"]
    ran = cli("lint", "--format", "json", "--helm-values", str(prod), str(root))
    assert [(f["rule"], f["line"]) for f in json.loads(ran.stdout)["findings"]] == [
        ("ingress/read-timeout", 8)
    ]
    assert ran.exit_code == 1


def test_a_helm_values_file_that_does_not_parse_is_one_line_and_loses_nothing(
    cli: Callable[..., Ran], tmp_path: Path
) -> None:
    root = chart(tmp_path, "ingress:\n  enabled: false\n", ingress=INGRESS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("ingress: [unclosed\n")
    ran = cli(
        "lint", "--helm-values", str(bad), "--helm-values", str(tmp_path / "nope.yaml"), str(root)
    )
    assert ran.exit_code == 2
    errors = ran.stderr.strip().splitlines()
    assert len(errors) == 2 and "cannot parse Helm values" in errors[0]
    assert "cannot read the Helm values file" in errors[1]
    assert "helm/not-rendered" in ran.stdout  # the chart was still linted
