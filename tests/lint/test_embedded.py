"""nginx configs that entrypoint scripts write with heredocs are linted at the script's lines."""

from __future__ import annotations

from streamwarden.lint import Kind, Limits, lint_text
from streamwarden.lint.embedded import nginx_heredocs

SCRIPT = """#!/bin/sh
set -e
mkdir -p /etc/nginx
cat > /etc/nginx/conf.d/default.conf <<NGINX
server {
    listen 80;
    location /api/ {
        proxy_pass http://app:8000;
        proxy_set_header Host \\$host;
        proxy_read_timeout 20s;
    }
}
NGINX
exec nginx -g 'daemon off;'
"""


def test_a_heredoc_config_is_found_at_the_scripts_lines() -> None:
    [config] = nginx_heredocs(SCRIPT)
    assert config.line == 5
    lines = config.text.split("\n")
    assert lines[9].strip() == "proxy_read_timeout 20s;"  # line 10 of the script
    assert "$host" in config.text and "\\$" not in config.text  # the shell's escape undone


def test_its_findings_point_into_the_script() -> None:
    found = {(f.id, f.line) for f in lint_text("entrypoint.sh", SCRIPT, Kind.COMMANDS, Limits())}
    assert ("nginx/read-timeout", 10) in found
    assert ("nginx/buffering-unverified", 8) in found


def test_a_quoted_heredoc_is_literal_and_other_heredocs_are_not_nginx() -> None:
    quoted = SCRIPT.replace("<<NGINX", "<<'NGINX'").replace("\\$host", "$host")
    [config] = nginx_heredocs(quoted)
    assert "$host" in config.text
    other = 'cat > /app/config.json <<JSON\n{"server": {"port": 80}}\nJSON\n'
    assert nginx_heredocs(other) == []


def test_a_tab_stripped_heredoc_ends_at_its_indented_word() -> None:
    text = (
        "cat <<-END > nginx.conf\n\tserver {\n\t\tlocation / { proxy_pass http://a; }\n"
        "\t}\n\tEND\necho done\n"
    )
    [config] = nginx_heredocs(text)
    assert "echo" not in config.text


def test_a_heredoc_nginx_cannot_read_is_named() -> None:
    broken = SCRIPT.replace("listen 80;", "listen 80; }}}")  # what a shell loop left unbalanced
    found = {f.id for f in lint_text("entrypoint.sh", broken, Kind.COMMANDS, Limits())}
    assert "nginx/unread-heredoc" in found
