"""Find gunicorn and uvicorn command lines in Procfiles, Dockerfiles, shell scripts and the
Python modules that build them as lists."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from streamwarden.lint import baseimages


@dataclass(frozen=True, slots=True)
class Command:
    """One server command line: its argv from the program name on, and where it starts."""

    program: str  # "gunicorn" or "uvicorn"
    argv: tuple[str, ...]
    line: int
    # The shell that stays in front of the server (its parent, the container's PID 1), so
    # SIGTERM never reaches it: "/bin/sh -c" for a Dockerfile's shell form, "sh -c", "bash -c".
    shell: str | None = None


PROGRAMS = ("gunicorn", "uvicorn", "uwsgi")
# An argument a Python module computes (`str(self.workers)`, `f"{HOST}:{PORT}"`): unknown, as
# a shell variable without a default is.
COMPUTED = "${computed}"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; keep the first line number."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buf:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(stripped)
        out.append((start, " ".join(buf)))
        buf = []
    if buf:
        out.append((start, " ".join(buf)))
    return out


def _words(line: str) -> list[str]:
    body = line.strip()
    # Dockerfile exec form: CMD ["gunicorn", "-k", "..."]
    for keyword in ("CMD", "ENTRYPOINT", "RUN"):
        if body.upper().startswith(keyword + " "):
            body = body[len(keyword) :].strip()
            if body.startswith("["):
                try:
                    value = json.loads(body)
                except ValueError:
                    break
                if isinstance(value, list):
                    return [str(v) for v in value]
            break
    try:
        return shlex.split(body, comments=True)
    except ValueError:
        return body.split()


def _command_lines(
    text: str, hint: re.Pattern[str]
) -> Iterator[tuple[int, str, list[str], list[str]]]:
    """(line number, logical line, its words, its words with `sh -c` scripts read through)
    of each line that `hint` says may start a program we look for."""
    for number, line in _logical_lines(text):
        if hint.search(line):
            raw = _words(line)
            yield number, line, raw, _inline_scripts(raw)


_SERVER_HINT = re.compile("|".join(PROGRAMS), re.I)


# Dockerfile instructions that copy or declare, never run: `COPY --from=base /usr/local/bin/gunicorn …`
_NOT_RUN = re.compile(
    r"^\s*(COPY|ADD|ARG|LABEL|WORKDIR|EXPOSE|USER|VOLUME|FROM|STOPSIGNAL)\s", re.I
)


def find_commands(text: str) -> list[Command]:
    """Every gunicorn/uvicorn invocation, including `python -m uvicorn` and env-var args."""
    found: list[Command] = []
    for number, line, raw, words in _command_lines(text, _SERVER_HINT):
        if _NOT_RUN.match(line):
            continue
        for i, word in enumerate(words):
            base = word.rsplit("/", 1)[-1]
            if base in PROGRAMS and (i == 0 or _is_command_position(words, i)):
                shell = _shell_in_front(line, raw, base)
                found.append(Command(base, tuple(words[i:]), number, shell))
                break
            if word.startswith("GUNICORN_CMD_ARGS="):
                args = shlex.split(word.split("=", 1)[1])
                found.append(Command("gunicorn", ("gunicorn", *args), number))
                break
    return found


_SHELL_FORM = re.compile(r"^\s*(CMD|ENTRYPOINT)\s+(?!\[)", re.I)


def _shell_in_front(line: str, words: list[str], program: str) -> str | None:
    """The shell a container starts in front of this server, if it keeps it there.

    A Dockerfile's shell form runs `/bin/sh -c` (Docker's docs: it "does not pass signals").
    Measured on Debian's dash 0.5.12 and bash 5.2: `sh -c "server"` forks the server and stays
    its parent; `bash -c "a && server"` execs it, `bash -c "set -e; a && server"` does not.
    `exec server` always replaces the shell."""
    if _SHELL_FORM.match(line):
        return None if _exec_before(line, program) else "/bin/sh -c (the Dockerfile's shell form)"
    for i, word in enumerate(words[1:], start=1):
        if words[i - 1] != "-c" or program not in word.lower() or i < 2:
            continue
        shell = words[i - 2].rsplit("/", 1)[-1]
        if shell not in {"sh", "bash", "ash", "dash"} or _exec_before(word, program):
            return None
        if shell == "bash" and not _bash_keeps(word, program):
            return None
        return f"{shell} -c"
    return None


def _exec_before(script: str, program: str) -> bool:
    # `exec gunicorn`, `exec /venv/bin/uvicorn`, `exec python -m uvicorn`, `exec uv run gunicorn`
    return re.search(rf"\bexec\s+(\S*/)?([^\s;&|]+\s+){{0,4}}{program}\b", script) is not None


def _bash_keeps(script: str, program: str) -> bool:
    """bash execs the last command of a plain `a && b` list, not one after `;`, a newline, a
    pipe or `&`, nor one that other commands follow."""
    at = script.find(program)
    rest = script[at:]
    if re.search(r"(&&|\|\||;|\||&)", rest):
        return True
    return re.search(r"(;|\n|(?<![&|])[&|](?![&|]))", script[:at]) is not None


def _inline_scripts(words: list[str]) -> list[str]:
    """`sh -c "uv run gunicorn app:app …"` (a Dockerfile's exec form, a Compose command): the
    script after `-c` is one word; its own words are the command line."""
    out: list[str] = []
    for i, word in enumerate(words):
        if i and words[i - 1] == "-c" and any(p in word.lower() for p in PROGRAMS):
            try:
                out += shlex.split(word, comments=True)
            except ValueError:
                out += word.split()
        else:
            out.append(word)
    return out


# Tools that run a command in a project's environment: `uv run --env-file .env uvicorn …`.
RUNNERS = {"uv", "poetry", "pipenv", "pdm", "rye", "hatch"}


def _is_command_position(words: list[str], i: int) -> bool:
    # After a shell keyword, a separator, a Procfile process type or an env assignment.
    prev = words[i - 1]
    return (
        prev in {"exec", "&&", "||", ";", "then", "do", "nohup", "-c", "-m", "env", "run"}
        or prev.endswith(":")
        or "=" in prev
        or prev.rsplit("/", 1)[-1].startswith("python")
        or _after_runner_options(words, i)
    )


def _after_runner_options(words: list[str], i: int) -> bool:
    """`uv run [--option [value]]… PROGRAM`: the first word after the runner's options."""
    for j in range(i - 1, 0, -1):
        if words[j] == "run":
            runner = words[j - 1].rsplit("=", 1)[-1].rsplit("/", 1)[-1]
            between = words[j + 1 : i]
            # Options and their values only: nothing in between may be another program.
            return runner in RUNNERS and bool(between) and between[0].startswith("-")
    return False


def options(argv: tuple[str, ...], aliases: dict[str, str]) -> dict[str, str]:
    """`--timeout 30`, `--timeout=30`, `-t 30`, `-t30` -> {"timeout": "30"} for known options.

    Flags without values are recorded as "true". The last occurrence wins, as in argparse.
    """
    out: dict[str, str] = {}
    i = 1
    while i < len(argv):
        word = argv[i]
        name, value = word, None
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
        elif word.startswith("-") and not word.startswith("--") and len(word) > 2:
            if word[:2] in aliases:
                name, value = word[:2], word[2:]
        key = aliases.get(name)
        if key is not None:
            if key.endswith("!"):
                out[key[:-1]] = "true"
            elif value is not None:
                out[key] = value
            elif i + 1 < len(argv):
                out[key] = argv[i + 1]
                i += 1
        i += 1
    return out


def python_commands(text: str) -> list[Command]:
    """gunicorn/uvicorn command lines that a Python module builds as list or tuple literals
    (`subprocess.Popen(["gunicorn", "app:app", "-k", "gthread", …])`), read with `ast` and
    never run; an element that is not a string literal is unknown."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found: list[Command] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.List | ast.Tuple):
            continue
        words = [
            e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else COMPUTED
            for e in node.elts
        ]
        for i, word in enumerate(words[:3]):
            base = word.rsplit("/", 1)[-1]
            if base in PROGRAMS and (i == 0 or words[i - 1] == "-m"):
                found.append(Command(base, tuple(words[i:]), node.lineno))
                break
    return sorted(found, key=lambda c: c.line)


def commands_in(path: str, text: str) -> list[Command]:
    """The server command lines of one file, by its kind (a Dockerfile's include the one its
    base image starts, when it starts a known one)."""
    if path.lower().endswith(".py"):
        return python_commands(text)
    found = find_commands(text)
    if is_script(path, text) and not _TRAP_TERM.search(text):
        lines = text.split("\n")
        found = [_in_script(cmd, path, lines) for cmd in found]
    base = baseimages.inherited(text) if is_dockerfile(path) else None
    if base is not None:
        argv, line = base
        found.append(Command(argv[0], argv, line))
    return found


_TRAP_TERM = re.compile(r"^\s*trap\s.*\b(TERM|SIGTERM|15)\b", re.M)


def is_script(path: str, text: str) -> bool:
    """A shell script: by its name, or a shebang that names a shell."""
    if path.lower().endswith((".sh", ".bash")):
        return True
    first = text.split("\n", 1)[0]
    return first.startswith("#!") and re.search(r"\b(ba|da|a)?sh\b", first) is not None


def _in_script(cmd: Command, path: str, lines: list[str]) -> Command:
    """A server a script starts without `exec` runs under the script's shell, which forks it
    (measured on dash 0.5.12 and bash 5.2: a script file forks even its last command) and
    keeps SIGTERM from it. (A script that traps TERM to pass it on is not asked.)"""
    line = lines[cmd.line - 1] if 0 < cmd.line <= len(lines) else ""
    if cmd.shell is not None or _exec_before(line, cmd.program):
        return cmd
    return dataclasses.replace(cmd, shell=f"the shell running {os.path.basename(path)}")


def is_dockerfile(path: str) -> bool:
    name = os.path.basename(path).lower()
    return name.startswith(("dockerfile", "containerfile")) or name.endswith(".dockerfile")


# Node servers, read only to say how the app answers nginx (appservers): `node server.js`,
# `npm start`, `next start`. Node's http server answers HTTP/1.0 close-delimited (measured).
_NODE_SCRIPTS = {"start", "dev", "serve"}
_NODE_HINT = re.compile(r"\b(node|npm|yarn|pnpm|next|pm2-runtime)\b")


def node_servers(text: str) -> list[Command]:
    """Every line that starts a Node server: `node FILE`, `npm|yarn|pnpm [run] start|dev|serve`,
    `next start`, `pm2-runtime`."""
    found: list[Command] = []
    for number, line, _, words in _command_lines(text, _NODE_HINT):
        if re.match(r"\s*RUN\s", line, re.I):
            continue  # a build step (`RUN node scripts/build.js`), not what the image serves
        for i, word in enumerate(words):
            if i and not _is_command_position(words, i):
                continue
            if _starts_node(word.rsplit("/", 1)[-1], words[i + 1 : i + 3]):
                found.append(Command("node", tuple(words[i:]), number))
                break
    return found


def _starts_node(base: str, after: list[str]) -> bool:
    if base == "node":
        return bool(after) and not after[0].startswith("-")
    if base in {"npm", "yarn", "pnpm"}:
        script = after[1:2] if after[:1] == ["run"] else after[:1]
        return bool(script) and script[0] in _NODE_SCRIPTS
    if base == "next":
        return after[:1] == ["start"]
    return base == "pm2-runtime"
