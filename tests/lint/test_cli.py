"""`streamwarden lint` end to end: exit codes, formats, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from lint_helpers import CORPUS

from conftest import Ran

Cli = Callable[..., Ran]
NGINX = CORPUS / "nginx"
SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0-subset.schema.json").read_text())


def test_warnings_only_exit_0(cli: Cli) -> None:
    # --stream-path says the route streams, so the default buffering is a warning.
    ran = cli("lint", "--stream-path", "/", str(NGINX / "default-proxy.conf"))
    assert ran.exit_code == 0
    assert "warning nginx/proxy-buffering" in ran.stdout and "fix:" in ran.stdout


def test_an_error_finding_exits_1(cli: Cli) -> None:
    assert cli("lint", str(NGINX / "read-timeout.conf")).exit_code == 1


def test_clean_exits_0_with_a_summary(cli: Cli) -> None:
    ran = cli("lint", str(NGINX / "clean.conf"))
    assert ran.exit_code == 0
    lines = ran.stdout.strip().splitlines()
    assert lines[-1] == "1 file checked: no findings"
    assert lines[0] == "nginx routes treated as streaming: server > location / (clean.conf:13)"


def test_text_is_grouped_by_file(cli: Cli) -> None:
    ran = cli("lint", str(NGINX / "gzip-star.conf"), str(NGINX / "read-timeout.conf"))
    lines = ran.stdout.splitlines()
    headers = [line for line in lines if line.endswith(".conf")]
    assert headers == [str(NGINX / "gzip-star.conf"), str(NGINX / "read-timeout.conf")]
    assert lines[-1] == "2 files checked: 1 error, 1 warning"


def test_json_has_the_documented_shape(cli: Cli) -> None:
    ran = cli("lint", "--format", "json", str(NGINX / "ignore-accel.conf"))
    assert ran.exit_code == 1
    data = json.loads(ran.stdout)
    assert list(data) == ["findings"]
    keys = ["rule", "severity", "file", "line", "message", "fix"]
    assert all(list(f) == keys for f in data["findings"])
    first = data["findings"][0]
    assert (first["rule"], first["severity"], first["line"]) == (
        "nginx/ignores-accel-buffering",
        "error",
        4,
    )


def test_sarif_validates_against_the_schema(cli: Cli) -> None:
    ran = cli("lint", "--format", "sarif", str(CORPUS / "nginx"), str(CORPUS / "gunicorn"))
    log = json.loads(ran.stdout)
    jsonschema.validate(log, SCHEMA)
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1


def test_the_schema_rejects_what_sarif_forbids() -> None:
    # The vendored subset must be able to fail: a bad level and an unknown property.
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": []}]}
    jsonschema.validate(good, SCHEMA)
    bad_level = json.loads(json.dumps(good))
    bad_level["runs"][0]["results"] = [{"message": {"text": "m"}, "level": "fatal"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_level, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "extra": 1}, SCHEMA)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("nope/missing.conf", "nope/missing.conf: no such file or directory"),
        (str(CORPUS / "broken" / "unbalanced.conf"), "unbalanced.conf:7: cannot parse nginx"),
        (str(CORPUS / "broken" / "bad.yaml"), "bad.yaml:3: cannot parse YAML"),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(cli: Cli, path: str, problem: str) -> None:
    ran = cli("lint", path)
    assert ran.exit_code == 2
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0]
    assert "Traceback" not in ran.stderr + ran.stdout


def test_other_files_are_still_reported_next_to_a_broken_one(cli: Cli) -> None:
    broken = str(CORPUS / "broken" / "unbalanced.conf")
    ran = cli("lint", "--format", "json", broken, str(NGINX / "read-timeout.conf"))
    assert ran.exit_code == 2
    assert [f["rule"] for f in json.loads(ran.stdout)["findings"]] == ["nginx/read-timeout"]


def test_options_reach_the_rules(cli: Cli) -> None:
    clean = str(NGINX / "clean.conf")
    assert cli("lint", "--max-gap", "3000", clean).exit_code == 1  # 1 h < 2 x 3000 s
    terraform = str(CORPUS / "terraform" / "main.tf")
    rules = {f["rule"] for f in json.loads(cli("lint", "-f", "json", terraform).stdout)["findings"]}
    assert "gcp-lb/backend-timeout" in rules
    out = cli("lint", "-f", "json", "--max-duration", "100", terraform).stdout
    lines = {(f["rule"], f["line"]) for f in json.loads(out)["findings"]}
    assert ("gcp-lb/backend-timeout", 45) not in lines  # 120 s is enough for 100 s streams
    dflt = str(NGINX / "default-proxy.conf")
    older = cli("lint", "-f", "json", "--stream-path", "/", dflt).stdout
    assert "nginx/proxy-buffering" in older
    out = cli("lint", "-f", "json", "--stream-path", "/", "--nginx-version", "1.29.7", dflt).stdout
    assert "nginx/proxy-buffering" not in out and "nginx/http-version" not in out


def test_unknown_file_needs_kind(cli: Cli, tmp_path: Path) -> None:
    odd = tmp_path / "lb.txt"
    odd.write_text("defaults\n    timeout server 5s\nbackend b\n    server s 10.0.0.1:80\n")
    ran = cli("lint", str(odd))
    assert ran.exit_code == 2 and "try --kind" in ran.stderr
    ran = cli("lint", "--kind", "haproxy", "-f", "json", str(odd))
    assert ran.exit_code == 1
    assert json.loads(ran.stdout)["findings"][0]["rule"] == "haproxy/timeout-server"


def test_directories_skip_files_they_do_not_know(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# hello\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "site.conf").write_text((NGINX / "clean.conf").read_text())
    ran = cli("lint", str(tmp_path))
    assert ran.exit_code == 0
    lines = ran.stdout.strip().splitlines()
    assert lines[-1] == "1 file checked: no findings"
    assert lines[0] == "nginx routes treated as streaming: server > location / (site.conf:13)"


def test_bad_nginx_version_is_a_usage_error(cli: Cli) -> None:
    ran = cli("lint", "--nginx-version", "latest", str(NGINX / "clean.conf"))
    assert ran.exit_code == 2
    assert "not a version" in ran.stderr


def test_the_installed_command_gives_one_line_and_no_traceback() -> None:
    # Through the real entry point (streamwarden.cli wires these commands).
    broken = str(CORPUS / "broken" / "unbalanced.conf")
    ran = subprocess.run(
        [sys.executable, "-m", "streamwarden", "lint", broken, str(NGINX / "clean.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        f'streamwarden lint: {broken}:7: cannot parse nginx config: unexpected end of file, expecting "}}"'
    ]
    lines = ran.stdout.strip().splitlines()
    assert lines[-1] == "1 file checked: no findings"
    assert lines[0] == "nginx routes treated as streaming: server > location / (clean.conf:13)"
