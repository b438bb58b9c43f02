"""nginx configs that a script writes itself, with a heredoc, at container start.

Entrypoint scripts often generate nginx.conf (`cat > /etc/nginx/nginx.conf <<EOF … EOF`) so
that environment variables reach it. That config is what nginx runs, so it is linted like a
file, at the script's own line numbers. In an unquoted heredoc the shell expands `${VAR}`
(unknown here, as in an envsubst template) and `\\$` stands for nginx's own `$`; a quoted
one (`<<'EOF'`) is taken literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_NGINX_LIKE = re.compile(r"^\s*(server|http|location\s[^{]*|upstream\s+\S+)\s*\{", re.M)


@dataclass(frozen=True, slots=True)
class Embedded:
    line: int  # the script's line of the heredoc's first body line
    text: str  # the config, padded with blank lines so its line numbers are the script's


def nginx_heredocs(text: str) -> list[Embedded]:
    """The heredoc bodies in a script that are nginx configs."""
    lines = text.split("\n")
    out: list[Embedded] = []
    i = 0
    while i < len(lines):
        match = _HEREDOC.search(lines[i])
        if match is None or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        strip_tabs, quoted, word = match.group(1) == "-", bool(match.group(2)), match.group(3)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and (lines[j].lstrip("\t") if strip_tabs else lines[j]) != word:
            body.append(lines[j])
            j += 1
        config = "\n".join(body)
        if _NGINX_LIKE.search(config) and "proxy_pass" in config:
            if not quoted:
                config = config.replace("\\$", "$")
            out.append(Embedded(i + 2, "\n" * (i + 1) + config + "\n"))
        i = j + 1
    return out
