"""nginx inheritance, versions, includes and dumps, on small configs written per test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from streamwarden.lint import ConfigError, Limits
from streamwarden.lint.appservers import named
from streamwarden.lint.nginx import check, effective, load, proxied

CLOSE = Limits(app_server=named("node"))  # an app server that answers HTTP/1.0 close-delimited


def lint(text: str, tmp_path: Path, limits: Limits | None = None) -> set[tuple[int | None, str]]:
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return {(f.line, f.id) for f in check(load(str(path), text), limits or Limits())}


GOOD = " proxy_http_version 1.1;\n proxy_buffering off;\n"


def test_innermost_setting_wins(tmp_path: Path) -> None:
    text = "http { proxy_buffering on; server { location / { proxy_buffering off;\n"
    text += "location /x { proxy_pass http://a; } } } }"
    root = load(str(tmp_path / "a.conf"), text).root
    [(_pp, chain)] = list(proxied(root))
    assert [b.name for b in chain] == ["(root)", "http", "server", "location", "location"]
    d = effective(chain, "proxy_buffering")
    assert d is not None and d.args == ("off",)


def test_default_buffering_and_http10_are_one_finding_at_proxy_pass(tmp_path: Path) -> None:
    text = "server {\n location / {\n  proxy_pass http://a;\n }\n}\n"
    # A close-delimited app (here Node, as --app-server node says) bursts behind the defaults.
    assert lint(text, tmp_path, CLOSE) == {(3, "nginx/proxy-buffering")}
    # So does any app on a route the user says streams, unless it opts out.
    assert lint(text, tmp_path, Limits(stream_paths=("/",))) == {(3, "nginx/proxy-buffering")}
    # Told nothing about the app or the route, the linter names it and does not guess.
    assert lint(text, tmp_path) == {(3, "nginx/buffering-unverified")}
    # HTTP/1.1 lets the app answer in chunks: buffering then holds nothing back (measured).
    chunked = text.replace("  proxy_pass", "  proxy_http_version 1.1;\n  proxy_pass")
    assert lint(chunked, tmp_path, CLOSE) == set()
    assert lint(chunked, tmp_path) == set()
    # The app's X-Accel-Buffering: no turns buffering off per response.
    accel = replace(CLOSE, app_sends_accel_buffering=True)
    assert lint(text, tmp_path, accel) == set()
    assert lint(text, tmp_path, Limits(app_sends_accel_buffering=True)) == set()


def test_one_finding_per_inherited_directive(tmp_path: Path) -> None:
    text = "http {\n proxy_read_timeout 10s;\n" + GOOD
    text += (
        " server { location /a { proxy_pass http://a; } location /b { proxy_pass http://a; } }\n}"
    )
    assert lint(text, tmp_path) == {(2, "nginx/read-timeout")}


def test_max_gap_moves_the_threshold(tmp_path: Path) -> None:
    text = "server {\n" + GOOD + " location / {\n  proxy_pass http://a;\n }\n}\n"
    assert lint(text, tmp_path) == set()
    # With 45 s of silence expected, the default 60 s read timeout is too short.
    assert lint(text, tmp_path, Limits(max_gap=45)) == {(5, "nginx/read-timeout")}
    assert lint(text, tmp_path, Limits(max_gap=30)) == set()  # 60 >= 2 x 30


def test_nginx_version_decides_the_http_version_default(tmp_path: Path) -> None:
    text = "server {\n location / {\n  proxy_pass http://a;\n }\n}\n"
    assert lint(text, tmp_path, CLOSE) == {(3, "nginx/proxy-buffering")}
    assert lint(text, tmp_path, replace(CLOSE, nginx_version=(1, 29, 7))) == set()
    assert lint(text, tmp_path, Limits(nginx_version=(1, 29, 7))) == set()
    older = replace(CLOSE, nginx_version=(1, 29, 6))
    assert lint(text, tmp_path, older) == {(3, "nginx/proxy-buffering")}
    # An explicit HTTP/1.0 is the cause the author wrote: the finding is named after it.
    explicit = text.replace("server {", "server { proxy_http_version 1.0;")
    newer = replace(CLOSE, nginx_version=(1, 30))
    assert lint(explicit, tmp_path, newer) == {(1, "nginx/http-version")}
    # Buffering off: HTTP/1.0 alone holds nothing back.
    off = text.replace("server {", "server { proxy_buffering off;")
    assert lint(off, tmp_path, CLOSE) == set()


def test_headers_repeated_in_full_are_not_hidden(tmp_path: Path) -> None:
    text = "server {\n" + GOOD + ' proxy_set_header Host $host;\n proxy_set_header Connection "";\n'
    text += ' location / {\n  proxy_set_header Connection "";\n  proxy_set_header Host $host;\n'
    text += "  proxy_set_header X-Extra 1;\n  proxy_pass http://a;\n }\n}\n"
    assert lint(text, tmp_path) == set()
    dropped = text.replace(
        '  proxy_set_header Connection "";\n  proxy_set_header Host', "  proxy_set_header Host"
    )
    assert lint(dropped, tmp_path) == {(7, "nginx/proxy-headers-hidden")}


def test_gzip_off_default_types_or_off_in_location_are_fine(tmp_path: Path) -> None:
    base = "http {\n" + GOOD + " gzip on;\n server { location / { proxy_pass http://a; } }\n}\n"
    assert lint(base, tmp_path) == set()  # default gzip_types is text/html only
    star = base.replace("gzip on;", "gzip on; gzip_types *;")
    assert lint(star, tmp_path) == {(4, "nginx/gzip-event-stream")}
    assert lint(star.replace("gzip on;", "gzip off;"), tmp_path) == set()


def test_ignored_header_only_matters_while_buffering_over_http10(tmp_path: Path) -> None:
    text = "http {\n proxy_http_version 1.0;\n proxy_ignore_headers x-accel-buffering;\n"
    text += " server { location / { proxy_pass http://a; } }\n}\n"
    assert lint(text, tmp_path) == {(3, "nginx/ignores-accel-buffering")}
    # Even an app that sends the header cannot help: nginx ignores it.
    limits = Limits(app_sends_accel_buffering=True)
    assert lint(text, tmp_path, limits) == {(3, "nginx/ignores-accel-buffering")}
    assert lint(text.replace("1.0;", "1.0; proxy_buffering off;"), tmp_path) == set()
    assert lint(text.replace("1.0;", "1.1;"), tmp_path) == set()


def test_if_blocks_and_nested_locations_inherit(tmp_path: Path) -> None:
    text = "server {\n" + GOOD + " location /api/ {\n  location /api/stream {\n"
    text += "   if ($arg_x) {\n    proxy_pass http://a;\n   }\n  }\n }\n}\n"
    assert lint(text, tmp_path) == set()
    assert len(list(proxied(load("x.conf", text).root))) == 1


def test_include_loop_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf;\n")
    (tmp_path / "b.conf").write_text("include a.conf;\n")
    with pytest.raises(ConfigError, match="include loop"):
        load(str(tmp_path / "a.conf"), "include b.conf;\n")


def test_missing_include_is_reported_not_fatal(tmp_path: Path) -> None:
    text = "http {\n include /nonexistent/streaming.conf;\n" + GOOD + "}\n"
    assert lint(text, tmp_path) == {(2, "nginx/missing-include")}


def test_dump_resolves_relative_includes_and_uses_dump_lines(tmp_path: Path) -> None:
    dump = (
        "# configuration file /etc/nginx/nginx.conf:\n"
        "http {\n include snippets/*.conf;\n server { location / { proxy_pass http://a; } }\n}\n"
        "\n# configuration file /etc/nginx/snippets/s.conf:\n"
        "proxy_buffering off;\nproxy_http_version 1.1;\nproxy_read_timeout 5s;\n"
    )
    path = tmp_path / "dump.txt"
    path.write_text(dump)
    findings = check(load(str(path), dump), Limits())
    assert [(f.file, f.line, f.id) for f in findings] == [(str(path), 10, "nginx/read-timeout")]
