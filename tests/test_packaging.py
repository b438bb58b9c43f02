"""The core install is the guard and SSE only (starlette + anyio); every tool's dependencies
are in its extra, and a command whose extra is missing says which one to install."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from import_graph import SRC, package_imports, third_party

ROOT = SRC.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

#: Modules that make up the core install; everything else belongs to a tool and its extra.
CORE = {
    "streamwarden",
    "streamwarden.guard",
    "streamwarden.sse",
    "streamwarden.findings",
    "streamwarden.defaults",
    "streamwarden.middleware",
    "streamwarden.gctuning",
    "streamwarden.upstreams",
    "streamwarden.upstreams.base",
    "streamwarden.upstreams.sim",
    "streamwarden.doctor",  # lazy: loads nothing until a name is used
    "streamwarden.doctor.canary",  # mounted in apps that install only the core
}
#: The part a module belongs to -> the extra that installs what it imports.
PART_EXTRAS = {
    "streamwarden.locust": "locust",
    "streamwarden.procs": "gateway",  # ServerThread runs uvicorn; the launcher needs nothing
    "streamwarden.metrics": "metrics",
    "streamwarden.upstreams": "gateway",  # the HTTP clients of real upstreams
    "streamwarden.protocols": "gateway",
    "streamwarden.gateway": "gateway",
    "streamwarden.resume": "gateway",
    "streamwarden.client": "probe",  # httpx
    "streamwarden.probe.target": "lab",  # a demo server: it speaks the gateway's protocols
    "streamwarden.probe": "probe",
    "streamwarden.lint": "lint",
    "streamwarden.doctor": "probe",
    "streamwarden.lab": "lab",
}
#: Imports each tool's dependencies lazily and says which extra is missing (tested below).
CLI = {"streamwarden.cli", "streamwarden.__main__"}
#: What `import streamwarden` must not load: the tools' dependencies.
TOOL_MODULES = ("aiohttp", "rich", "typer", "prometheus_client", "pydantic", "httpx", "yaml")


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def _requirements(extra: str | None) -> set[str]:
    """Distribution names an extra installs (the core's with None), self-references resolved."""
    names = {_name(r) for r in PYPROJECT["dependencies"]}
    if extra is None:
        return names
    for requirement in PYPROJECT["optional-dependencies"][extra]:
        inner = re.fullmatch(r"streamwarden\[([a-z,]+)\]", requirement)
        if inner:
            for other in inner.group(1).split(","):
                names |= _requirements(other)
        else:
            names.add(_name(requirement))
    return names


def _extra_of(module: str) -> str | None:
    if module in CORE:
        return None
    for part, extra in PART_EXTRAS.items():
        if module == part or module.startswith(part + "."):
            return extra
    return "all"  # a new part not mapped here yet: at least its dependencies are declared


def test_the_core_install_is_starlette_and_anyio() -> None:
    assert _requirements(None) == {"starlette", "anyio"}


def test_every_extra_named_in_the_docs_exists() -> None:
    assert {"gateway", "probe", "lint", "lab", "all", "test"} <= set(
        PYPROJECT["optional-dependencies"]
    )
    assert _requirements("all") <= _requirements("test")


def test_each_module_imports_only_what_its_extra_installs() -> None:
    distributions = importlib.metadata.packages_distributions()
    wrong = []
    for found in package_imports():
        top = third_party(found.target)
        if top is None or found.typing_only or found.optional or found.module in CLI:
            continue
        extra = _extra_of(found.module)
        installed = _requirements(extra)
        owners = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
        if not owners & installed:
            wrong.append(f"{found.module}:{found.line} imports {top} ({extra or 'core'})")
    assert wrong == []


def test_import_streamwarden_loads_no_tool_dependency() -> None:
    code = "import streamwarden; streamwarden.stream_response; streamwarden.SSEDecoder"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "starlette" in loaded and "anyio" in loaded
    assert sorted(name for name in loaded if name.split(".")[0] in TOOL_MODULES) == []


# Runs the CLI with some modules made impossible to import, as if their extra were missing.
_WITHOUT = """
import sys
blocked = set(sys.argv[1].split(","))

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing())
from streamwarden.cli import main
main(sys.argv[2:])
"""
ALL_TOOLS = "typer,rich,httptools,httpx,pydantic,prometheus_client,uvicorn,yaml,crossplane"


def _cli_without(blocked: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT, blocked, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["probe", "http://127.0.0.1:9/"], "probe"),
        (["analyze", "run.json"], "probe"),
        (["serve", "--port", "8001"], "gateway"),
        (["lint", "nginx.conf"], "lint"),
        (["config", "nginx"], "lint"),
        (["lab"], "lab"),
        (["doctor", "http://127.0.0.1:9/"], "probe"),
    ],
)
def test_the_core_install_names_the_missing_extra(args: list[str], extra: str) -> None:
    ran = _cli_without(ALL_TOOLS, *args)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.splitlines() == [
        f"streamwarden {args[0]}: needs the {extra} extra — pip install 'streamwarden[{extra}]'"
    ]


def test_the_core_install_still_answers_version_and_help() -> None:
    version = _cli_without(ALL_TOOLS, "--version")
    assert version.returncode == 0 and version.stdout.startswith("streamwarden ")
    shown = _cli_without(ALL_TOOLS, "--help")
    assert shown.returncode == 0 and "pip install 'streamwarden[probe]'" in shown.stdout


def test_one_missing_extra_leaves_the_other_commands_working() -> None:
    # The lint extra alone: typer is there, the probe's httptools is not.
    ran = _cli_without("httptools", "probe", "http://127.0.0.1:9/")
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        "streamwarden probe: needs the probe extra — pip install 'streamwarden[probe]'"
    ]
    shown = _cli_without("httptools", "--help")
    assert shown.returncode == 0 and "lint" in shown.stdout and "needs the probe" in shown.stdout


@pytest.mark.slow
def test_a_fresh_venv_gets_starlette_and_anyio_only(tmp_path: Path) -> None:
    """`pip install .` in a clean venv. Needs a package index (or pip's cache): skipped
    without one, as the metadata test above checks the same declaration offline."""
    venv.create(tmp_path / "venv", with_pip=True)
    pip = tmp_path / "venv" / "bin" / "pip"
    ran = subprocess.run(
        [str(pip), "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if ran.returncode != 0:
        pytest.skip(f"pip could not install from an index here: {ran.stderr.strip()[-200:]}")
    listed = subprocess.run(
        [str(pip), "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {line.split("==")[0].lower().replace("_", "-") for line in listed.stdout.split()}
    extra = names - {"streamwarden", "pip", "setuptools", "wheel"}
    # starlette and anyio, and what they need themselves (idna, sniffio, typing-extensions).
    assert {"starlette", "anyio"} <= extra
    assert extra <= {"starlette", "anyio", "idna", "sniffio", "typing-extensions", "exceptiongroup"}
