"""The server a Dockerfile inherits from a well-known base image that starts one itself.

`FROM tiangolo/uvicorn-gunicorn-fastapi` with no `CMD` of its own runs the image's
`/start.sh`: `gunicorn -c /gunicorn_conf.py app.main:app`, whose settings come from
environment variables with these defaults (tiangolo/uvicorn-gunicorn-docker,
`docker-images/gunicorn_conf.py` and `start.sh`): `WORKER_CLASS`
uvicorn.workers.UvicornWorker, `GRACEFUL_TIMEOUT` 120, `TIMEOUT` 120, `KEEPALIVE` 120, `PORT`
80. The image installs `uvicorn[standard]` (`docker-images/requirements.txt`), so httptools.
Nothing in the project's Dockerfile shows any of it, so without this table the server is
invisible. A Dockerfile that sets those variables with `ENV` gets its values; one that ships
its own `gunicorn_conf.py` (which the image then reads instead) or its own `CMD`/`ENTRYPOINT`
is left to what it says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streamwarden.lint.findings import line_at

# image name -> the command line its start script runs, with the variables it reads
_TIANGOLO = (
    "gunicorn",
    "-k",
    "${WORKER_CLASS:-uvicorn.workers.UvicornWorker}",
    "--graceful-timeout",
    "${GRACEFUL_TIMEOUT:-120}",
    "--timeout",
    "${TIMEOUT:-120}",
    "--keep-alive",
    "${KEEPALIVE:-120}",
    "--bind",
    "0.0.0.0:${PORT:-80}",
)
KNOWN: dict[str, tuple[str, ...]] = {
    "tiangolo/uvicorn-gunicorn-fastapi": _TIANGOLO,
    "tiangolo/uvicorn-gunicorn": _TIANGOLO,
}
# The images that install httptools (uvicorn[standard]) for the servers they start.
INSTALL_HTTPTOOLS = frozenset(KNOWN)

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.I | re.M)
_OWN_START = re.compile(r"^\s*(?:CMD|ENTRYPOINT)\s", re.I | re.M)
_ENV = re.compile(r"^\s*ENV\s+(.+)$", re.I | re.M)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}")


def image_name(reference: str) -> str:
    """`docker.io/tiangolo/uvicorn-gunicorn-fastapi:python3.11` -> the name without the
    registry, tag or digest."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    for registry in ("docker.io/", "index.docker.io/", "registry.hub.docker.com/"):
        name = name.removeprefix(registry)
    return name.lower()


def _env(text: str) -> dict[str, str]:
    """`ENV KEY=VALUE …` and `ENV KEY VALUE` of a Dockerfile stage."""
    out: dict[str, str] = {}
    for match in _ENV.finditer(text):
        body = match.group(1).strip()
        if "=" in body.split()[0]:
            for pair in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', body):
                out[pair[0]] = pair[1].strip('"')
        else:
            key, _, value = body.partition(" ")
            out[key] = value.strip().strip('"')
    return out


@dataclass(frozen=True, slots=True)
class Stage:
    """A Dockerfile's last stage: what the image runs."""

    base: str  # the FROM reference, as written
    start: int  # offset of its FROM line in the Dockerfile
    text: str  # the stage, from its FROM line on


def last_stage(text: str) -> Stage | None:
    froms = list(_FROM.finditer(text))
    if not froms:
        return None
    last = froms[-1]
    return Stage(last.group(1), last.start(), text[last.start() :])


def inherited(text: str) -> tuple[tuple[str, ...], int] | None:
    """(argv, line of its FROM) of the server command a Dockerfile's last stage inherits
    from a known base image."""
    stage = last_stage(text)
    template = KNOWN.get(image_name(stage.base)) if stage else None
    if stage is None or template is None:
        return None
    if _OWN_START.search(stage.text) or "gunicorn_conf.py" in stage.text:
        return None
    env = _env(stage.text)

    def value(match: re.Match[str]) -> str:
        return env.get(match.group(1), match.group(2))

    argv = tuple(_VARIABLE.sub(value, word) for word in template)
    return argv, line_at(text, stage.start)


def installs_httptools(text: str) -> bool:
    """Whether a Dockerfile's base image installs httptools for the server it starts."""
    return any(image_name(m.group(1)) in INSTALL_HTTPTOOLS for m in _FROM.finditer(text))
