"""Which config family a file belongs to, by its name first and its content second."""

from __future__ import annotations

import enum
import fnmatch
import os
import re
from collections.abc import Iterator

from streamwarden.lint import uwsgi
from streamwarden.lint.cmdline import is_dockerfile, python_commands
from streamwarden.lint.gunicorn import settings_assigned


class Kind(enum.StrEnum):
    NGINX = "nginx"
    GUNICORN = "gunicorn"  # gunicorn.conf.py
    COMMANDS = "commands"  # Procfile, Dockerfile, shell script: gunicorn/uvicorn command lines
    HAPROXY = "haproxy"
    YAML = "yaml"  # Kubernetes (ingress-nginx, workloads, routes), Compose, Envoy, Traefik, CFN
    TERRAFORM = "terraform"


_HAPROXY_SECTION = re.compile(r"^(defaults|frontend|backend|listen)\b", re.MULTILINE)
_NGINX_HINT = re.compile(
    r"^\s*(http|server|location|upstream|events)\b[^;{:]*\{|^\s*proxy_pass\s|"
    r"^# configuration file ",
    re.MULTILINE,
)
_YAML_HINT = re.compile(
    r"^(apiVersion|kind|services|Resources|AWSTemplateFormatVersion|entryPoints|"
    r"static_resources|http):\s|^---\s*$",
    re.MULTILINE,
)
_SERVER_CMD = re.compile(r"\b(gunicorn|uvicorn|uwsgi)\b")
_GUNICORN_NAME = re.compile(r"gunicorn.*\.py$")
_SUPERVISOR_SECTION = re.compile(
    r"^\[(program|supervisord|group|eventlistener):?[^\]]*\]\s*$", re.M
)
_LAUNCHER_NAME = re.compile(r"^(gunicorn|uvicorn|start|serve|launch|entrypoint)[\w.-]*\.py$")
# Settings that, assigned together at module level, only a gunicorn config assigns.
_GUNICORN_SETTINGS = {"bind", "workers", "worker_class", "graceful_timeout", "keepalive"}
_GUNICORN_SETTINGS |= {"worker_connections", "threads", "preload_app", "accesslog", "errorlog"}
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".terraform", ".tox", "site-packages"}
# Dot-directories are tool state (caches, editors, VCS), except these, where projects keep
# deployment files (AFFiNE's Helm chart and nginx live under .github/).
DOT_DIRS_KEPT = {".github", ".gitlab", ".deploy", ".docker", ".k8s", ".kubernetes", ".helm"}
SKIP_DIRS |= {"build", "dist", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def looks_like_yaml(text: str) -> bool:
    return bool(_YAML_HINT.search(text)) and not _NGINX_HINT.search(text.split("\n---", 1)[0])


# Documentation and program source: they quote configs and call `http.createServer`, but are
# never configs themselves (a directory lint met both in this repository's own tree).
NEVER_CONFIGS: tuple[str, ...] = (".md", ".markdown", ".rst", ".adoc", ".html", ".htm", ".ipynb")
NEVER_CONFIGS += (".css",)
NEVER_CONFIGS += (".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".java", ".kt", ".rs")
NEVER_CONFIGS += (".rb", ".php", ".cs", ".c", ".h", ".cpp", ".swift", ".ex", ".exs", ".lua")


_HELM_DEFINE = re.compile(r"\{\{-?\s*define\s+\"")


def detect(path: str, text: str) -> Kind | None:
    name = os.path.basename(path)
    lower = name.lower().removesuffix(".template")
    if lower.endswith(NEVER_CONFIGS):
        return None
    if lower.endswith(".tpl") and (lower.startswith("_") or _HELM_DEFINE.search(text)):
        # Helm's named templates (`_helpers.tpl`): pieces that manifests include, never a
        # config of their own (helm renders no file whose name starts with `_`).
        return None
    if lower.endswith(".tf"):
        return Kind.TERRAFORM
    if lower.endswith((".yaml", ".yml")):
        return Kind.YAML
    if lower.endswith(".py"):
        assigned = settings_assigned(text)
        by_name = _GUNICORN_NAME.search(lower) and (assigned or not text.strip())
        if by_name or len(assigned & _GUNICORN_SETTINGS) >= 2:
            return Kind.GUNICORN
        # A launcher module that builds the server's command line as a list (MaxKB's
        # services/gunicorn.py): read only by its name, so a tree's other modules stay out.
        if _LAUNCHER_NAME.search(lower) and python_commands(text):
            return Kind.COMMANDS
        return None
    if lower == "procfile" or is_dockerfile(lower):
        return Kind.COMMANDS
    # supervisord's INI: its `command=` lines start the servers (never an nginx config);
    # uWSGI's `[uwsgi]` ini holds a server's options.
    if _SUPERVISOR_SECTION.search(text) or uwsgi.is_ini(text):
        return Kind.COMMANDS
    if lower.endswith((".sh", ".bash")):
        return Kind.COMMANDS
    # YAML first: a Helm `.tpl` or an extension-less manifest is never nginx.
    if (lower.endswith((".tpl", ".json")) or "." not in lower) and looks_like_yaml(text):
        return Kind.YAML
    if "haproxy" in lower or (lower.endswith(".cfg") and _HAPROXY_SECTION.search(text)):
        return Kind.HAPROXY
    if looks_like_yaml(text) and not lower.endswith(".conf"):
        return Kind.YAML
    if lower.endswith(".conf") or ".conf." in lower or "nginx" in lower or _NGINX_HINT.search(text):
        if _HAPROXY_SECTION.search(text) and not _NGINX_HINT.search(text):
            return Kind.HAPROXY
        return Kind.NGINX
    if text.startswith("#!") and _SERVER_CMD.search(text):
        return Kind.COMMANDS
    return None


def _ignored(rel: str, patterns: list[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        anchored = pat.startswith("/")
        pat = pat.lstrip("/")
        hit = fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*")
        if not anchored and not hit:
            hit = fnmatch.fnmatch(base, pat) or any(
                fnmatch.fnmatch(part, pat) for part in rel.split("/")[:-1]
            )
        if hit:
            out = not negate
    return out


def _gitignore(root: str) -> list[str]:
    try:
        with open(os.path.join(root, ".gitignore"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def walk(root: str, excludes: list[str]) -> Iterator[str]:
    """Files under `root`, leaving out what .gitignore and --exclude name, virtualenvs,
    site-packages, build output and node_modules."""
    ignore = _gitignore(root) + list(excludes)
    for here, dirs, names in os.walk(root):
        rel_here = os.path.relpath(here, root)
        keep = []
        for d in sorted(dirs):
            rel = os.path.normpath(os.path.join(rel_here, d)).replace(os.sep, "/")
            hidden = d.startswith(".") and d not in DOT_DIRS_KEPT
            if d in SKIP_DIRS or hidden or _is_venv(os.path.join(here, d)):
                continue
            if _ignored(rel, ignore):
                continue
            keep.append(d)
        dirs[:] = keep
        for n in sorted(names):
            rel = os.path.normpath(os.path.join(rel_here, n)).replace(os.sep, "/")
            if not _ignored(rel, ignore):
                yield os.path.join(here, n)


def expand(paths: list[str], excludes: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(files named or found under directories, paths that do not exist)."""
    files: list[str] = []
    missing: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            files.extend(walk(path, excludes or []))
        elif os.path.exists(path):
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def nginx_prefix(paths: list[str]) -> str | None:
    """nginx's prefix for a linted directory: the one holding its main nginx.conf."""
    for path in paths:
        if not os.path.isdir(path):
            continue
        for here, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
            if "nginx.conf" in names or "nginx.conf.template" in names:
                return os.path.abspath(here)
    return None
