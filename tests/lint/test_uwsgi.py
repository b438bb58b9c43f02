"""uWSGI: its command lines and ini files, read for the options that decide what a stream meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwarden.lint import Kind, Limits, lint_paths, lint_text
from streamwarden.lint.cmdline import find_commands
from streamwarden.lint.uwsgi import from_command, from_ini

TREES = Path(__file__).parent / "real_trees"


def ids(name: str, text: str) -> set[str]:
    return {f.id for f in lint_text(name, text, Kind.COMMANDS, Limits())}


def test_options_by_name_and_alias() -> None:
    [cmd] = find_commands('CMD ["uwsgi", "--http", ":80", "-p", "4", "--threads=8", "-t", "60"]\n')
    o = from_command(cmd, "Dockerfile")
    assert o.values["processes"] == "4" and o.values["threads"] == "8"
    assert o.seconds("harakiri") == 60


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # uWSGI's defaults: one process, no threads, no --die-on-term.
        ("uwsgi --http :80 --wsgi-file app.py", {"uwsgi/workers", "uwsgi/die-on-term"}),
        ("uwsgi --http :80 -p 8 --threads 16 --die-on-term --module app", set()),
        ("uwsgi --http :80 --gevent 1000 --die-on-term --module app", set()),
        ("uwsgi --http :80 --gevent 1000 --harakiri 120 --die-on-term -w app", {"uwsgi/harakiri"}),
        ("uwsgi --ini /etc/uwsgi/app.ini", set()),  # its options are in a file: unknown
    ],
)
def test_rules_on_command_lines(line: str, expected: set[str]) -> None:
    found = ids("Procfile", f"web: {line}\n") - {"container/shell-in-front"}
    assert found == expected


def test_an_ini_file() -> None:
    ini = "[uwsgi]\nmodule = app:app\nprocesses = 2\nthreads = 2\nharakiri = 30\nmaster = true\n"
    o = from_ini(ini, "uwsgi.ini")
    assert o.values["processes"] == "2" and o.line == 1
    assert ids("uwsgi.ini", ini) == {"uwsgi/workers", "uwsgi/harakiri", "uwsgi/die-on-term"}
    graceful = ini + "hook-master-start = unix_signal:15 gracefully_kill_them_all\n"
    assert "uwsgi/die-on-term" not in ids("uwsgi.ini", graceful)


def test_a_real_dockerfile_with_uwsgis_defaults() -> None:
    # Azure's chat-with-your-data accelerator: its judge (blind) found both problems.
    path = TREES / "chat-with-your-data-solution-accelerator/docker/WebApp.Dockerfile"
    found = {(f.id, f.line) for f in lint_paths([str(path)]).findings}
    assert {("uwsgi/workers", 31), ("uwsgi/die-on-term", 31)} <= found
