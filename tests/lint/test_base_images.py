"""The server a Dockerfile inherits from a well-known base image's own start script."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwarden.lint import lint_paths
from streamwarden.lint.baseimages import image_name, inherited

UNSEEN = Path(__file__).parent / "real_unseen"


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("tiangolo/uvicorn-gunicorn-fastapi:python3.11-slim", "tiangolo/uvicorn-gunicorn-fastapi"),
        ("docker.io/tiangolo/uvicorn-gunicorn:latest", "tiangolo/uvicorn-gunicorn"),
        ("localhost:5000/team/app@sha256:abc", "localhost:5000/team/app"),
    ],
)
def test_image_names(reference: str, name: str) -> None:
    assert image_name(reference) == name


def test_the_start_script_and_its_variables() -> None:
    found = inherited(
        "FROM tiangolo/uvicorn-gunicorn-fastapi:python3.11\nENV GRACEFUL_TIMEOUT=900 PORT=8080\n"
    )
    assert found is not None
    argv, line = found
    assert line == 1
    assert argv[argv.index("--graceful-timeout") + 1] == "900"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8080"
    assert argv[argv.index("-k") + 1] == "uvicorn.workers.UvicornWorker"


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM python:3.12\nCMD uvicorn main:app\n",  # not a known image
        'FROM tiangolo/uvicorn-gunicorn-fastapi\nCMD ["/start-reload.sh"]\n',  # its own start
        "FROM tiangolo/uvicorn-gunicorn-fastapi\nCOPY gunicorn_conf.py /app/\n",  # its own config
        "FROM tiangolo/uvicorn-gunicorn-fastapi AS base\nFROM python:3.12\n",  # not the last stage
    ],
)
def test_nothing_inherited(dockerfile: str) -> None:
    assert inherited(dockerfile) is None


def test_a_real_dockerfile_on_the_tiangolo_image(tmp_path: Path) -> None:
    # TiDB.AI's backend: nothing in the file names gunicorn, yet the image runs it with the
    # deprecated worker class (the unseen corpus's blind judge found this).
    result = lint_paths([str(UNSEEN / "tidb.ai/backend/Dockerfile")])
    assert {(f.id, f.line) for f in result.findings} >= {("gunicorn/deprecated-uvicorn-worker", 1)}
    [server] = result.app_servers
    assert (server.name, server.framing.value, set(server.ports)) == (
        "gunicorn -k uvicorn.workers.UvicornWorker (httptools)",
        "chunked",
        {80},
    )
