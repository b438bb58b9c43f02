"""Which config family a file belongs to, by its name first and its content second."""

from __future__ import annotations

import enum
import os
import re


class Kind(enum.StrEnum):
    NGINX = "nginx"
    GUNICORN = "gunicorn"  # gunicorn.conf.py
    COMMANDS = "commands"  # Procfile, Dockerfile, shell script: gunicorn/uvicorn command lines
    HAPROXY = "haproxy"
    YAML = "yaml"  # Kubernetes ingress-nginx and Envoy
    TERRAFORM = "terraform"


_HAPROXY_SECTION = re.compile(r"^(defaults|frontend|backend|listen)\b", re.MULTILINE)
_NGINX_HINT = re.compile(
    r"^\s*(http|server|location|upstream|events)\b[^;{]*\{|^\s*proxy_pass\s|^# configuration file ",
    re.MULTILINE,
)
_SERVER_CMD = re.compile(r"\b(gunicorn|uvicorn)\b")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".terraform", ".tox"}


def detect(path: str, text: str) -> Kind | None:
    name = os.path.basename(path)
    lower = name.lower()
    if lower.endswith(".tf"):
        return Kind.TERRAFORM
    if lower.endswith((".yaml", ".yml")):
        return Kind.YAML
    if lower.endswith(".py"):
        is_conf = "gunicorn" in lower or re.search(r"^(worker_class|bind)\s*=", text, re.M)
        return Kind.GUNICORN if is_conf else None
    if lower == "procfile" or lower.startswith(("dockerfile", "containerfile")):
        return Kind.COMMANDS
    if lower.endswith((".dockerfile", ".sh", ".bash")):
        return Kind.COMMANDS
    if "haproxy" in lower or (lower.endswith(".cfg") and _HAPROXY_SECTION.search(text)):
        return Kind.HAPROXY
    if lower.endswith(".conf") or "nginx" in lower or _NGINX_HINT.search(text):
        if _HAPROXY_SECTION.search(text) and not _NGINX_HINT.search(text):
            return Kind.HAPROXY
        return Kind.NGINX
    if text.startswith("#!") and _SERVER_CMD.search(text):
        return Kind.COMMANDS
    return None


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """(files named or found under directories, paths that do not exist)."""
    files: list[str] = []
    missing: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                files.extend(os.path.join(root, n) for n in sorted(names))
        elif os.path.exists(path):
            files.append(path)
        else:
            missing.append(path)
    return files, missing
