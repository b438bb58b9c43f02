"""`streamwarden doctor` refuses bad invocations with one line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from streamwarden.cli import main
from streamwarden.doctor.canary import canary_app
from streamwarden.procs import ServerThread, free_port


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(routes=[Mount("/_streamwarden", canary_app(token="right"))])
    with ServerThread(app) as running:
        yield running.url


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", *args])
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["https://api.example.com/_streamwarden", "--token", "t"], "--allow-remote"),
        (["ftp://127.0.0.1/x", "--token", "t"], "is not an http(s) URL"),
        (["http://127.0.0.1:9/_streamwarden"], "no --token"),
        (["http://127.0.0.1:9/x", "--token", "t", "--max-idle", "0"], "--max-idle 0"),
        (["http://127.0.0.1:9/x", "--token", "t", "--only", "nap"], "no experiment named 'nap'"),
    ],
)
def test_usage_errors(args: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(args, capsys)
    assert code == 2
    assert err.startswith("streamwarden doctor: ") and said in err and " — " in err
    assert len(err.strip().splitlines()) == 1, err


def test_unreachable_canary(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run([f"http://127.0.0.1:{free_port()}/_streamwarden", "--token", "t"], capsys)
    assert code == 2
    (line,) = err.strip().splitlines()  # nothing before it: the plan comes after the check
    assert line.startswith("streamwarden doctor: cannot reach")


def test_wrong_token_and_wrong_path(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run([server + "/_streamwarden", "--token", "wrong"], capsys)
    assert code == 2 and "refused the token (401)" in err and "--token" in err.splitlines()[-1]
    code, err = _run([server + "/elsewhere", "--token", "right"], capsys)
    assert code == 2 and "no streamwarden canary" in err


def test_a_run_the_canary_would_refuse_stops_before_it_starts(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run([server + "/_streamwarden", "--token", "right", "--max-idle", "1000"], capsys)
    assert code == 2
    assert err.strip() == (
        "streamwarden doctor: --max-idle 1000 is over the canary's pause cap of 900 s — "
        "lower --max-idle, or raise CanaryLimits(max_pause=...) where the canary is mounted"
    )
