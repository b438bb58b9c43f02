"""The `streamwarden` command line. Each command lives with its part; this file wires them and
gives them one voice.

Every error is one line on stderr, `streamwarden <command>: what is wrong — how to fix it`,
with exit code 2, usage errors from click included. Only the command being run is imported,
so a tool pays for no other tool's imports, and a command whose extra is not installed says
which one to install instead of failing on an import.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from streamwarden import __version__

if TYPE_CHECKING:
    import typer

# Click's types are spelt `Any` here: newer typer vendors its own copy of click, so the
# classes differ with the typer installed.
Context = Any
Command = Any

__all__ = ["COMMANDS", "build_app", "error_line", "fail", "main"]

#: Command name -> (module, function, the extra that installs its dependencies).
COMMANDS = {
    "serve": ("streamwarden.gateway.command", "serve", "gateway"),
    "probe": ("streamwarden.probe.command", "probe", "probe"),
    "analyze": ("streamwarden.probe.command", "analyze", "probe"),
    "lab": ("streamwarden.lab.command", "lab", "lab"),
    "lint": ("streamwarden.lint.command", "lint", "lint"),
    "config": ("streamwarden.lint.command", "config", "lint"),
    "doctor": ("streamwarden.doctor.command", "doctor", "probe"),
}

_SUMMARY = "Hardened LLM streaming: guard, gateway, probe, doctor, lab and config linter."


def error_line(command: str | None, message: str, hint: str | None = None) -> str:
    """`streamwarden <command>: what is wrong — how to fix it`, on one line."""
    where = f"streamwarden {command}" if command else "streamwarden"
    line = " ".join(message.split())  # one line, whatever the message held
    if hint and "—" not in line:
        line = f"{line} — {hint}"
    return f"{where}: {line}"


def fail(command: str | None, message: str, hint: str | None = None) -> NoReturn:
    """Print one error line in the house voice and exit 2."""
    print(error_line(command, message, hint), file=sys.stderr)
    raise SystemExit(2)


def _needs_extra(command: str) -> NoReturn:
    extra = COMMANDS[command][2]
    fail(command, f"needs the {extra} extra", f"pip install 'streamwarden[{extra}]'")


def _is_missing_dependency(exc: ModuleNotFoundError) -> bool:
    """An import of a third-party module failed (an extra is missing), not one of ours."""
    return (exc.name or "").split(".")[0] != "streamwarden"


def _load(command: str) -> Any:
    module, function, _ = COMMANDS[command]
    return getattr(importlib.import_module(module), function)


def _version(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"streamwarden {__version__}")
        raise typer.Exit()


def _missing_command(command: str) -> Any:
    """A stand-in for a command whose extra is missing: listed in help, one line when run."""

    def stand_in() -> None:
        _needs_extra(command)

    extra = COMMANDS[command][2]
    stand_in.__doc__ = f"(needs the {extra} extra: pip install 'streamwarden[{extra}]')"
    return stand_in


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI with every command, or with `only` that one (what `main` runs)."""
    import typer

    app = typer.Typer(
        name="streamwarden",
        help=_SUMMARY,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # Plain click help: words as placeholders and no boxes padded to the terminal's width.
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
        cls=_group_class(),
    )
    version_option = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    )

    def root(version: bool = version_option) -> None:
        """Hardened LLM streaming: guard, gateway, probe, doctor, lab and config linter."""

    app.callback()(root)
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            function = _load(name)
        except ModuleNotFoundError as exc:
            if not _is_missing_dependency(exc):
                raise
            settings = {"allow_extra_args": True, "ignore_unknown_options": True}
            app.command(name, context_settings=settings, add_help_option=False)(
                _missing_command(name)
            )
            continue
        app.command(name)(function)
    return app


def _group_class() -> type[Any]:
    from typer.core import TyperGroup

    class Group(TyperGroup):
        """Runs a command with the one error voice, however it was invoked (console script
        or a test's CliRunner)."""

        def main(  # type: ignore[override]
            self,
            args: Sequence[str] | None = None,
            prog_name: str | None = None,
            complete_var: str | None = None,
            standalone_mode: bool = True,
            **extra: Any,
        ) -> Any:
            code = _run(self, args, prog_name, complete_var, **extra)
            if standalone_mode:
                sys.exit(code)
            return code

        def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
            command = super().get_command(ctx, cmd_name)
            if command is not None:
                _label_placeholders(command, ctx)
            return command

    return Group


def _run(
    group: Command,
    args: Sequence[str] | None,
    prog_name: str | None,
    complete_var: str | None,
    **extra: Any,
) -> int:
    # Click's exceptions are matched by name: typer vendors its own copy of click in newer
    # releases, so `click.ClickException` is not always the class raised.
    try:
        result = super(type(group), group).main(
            args, prog_name, complete_var, standalone_mode=False, **extra
        )
    except SystemExit as exit:  # fail(), and commands that exit on their own
        return exit.code if isinstance(exit.code, int) else 1
    except Exception as exc:
        kinds = {kind.__name__ for kind in type(exc).__mro__}
        context = getattr(exc, "ctx", None)
        if "NoArgsIsHelpError" in kinds:
            print(context.get_help() if context is not None else _SUMMARY)
            return 0
        if "Abort" in kinds:
            print("streamwarden: interrupted", file=sys.stderr)
            return 130
        if "ClickException" not in kinds:
            raise
        command = _command_name(context) or _first_command(args)
        help_command = f"streamwarden {command} --help" if command else "streamwarden --help"
        if "BadParameter" in kinds and getattr(exc, "param", None) is None:
            message = str(exc)  # a command's own check: its message says it all
        else:
            message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
        message = message.replace("Value error, ", "")  # newer typer's wording of a ValueError
        if message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
        print(error_line(command, message, f"see `{help_command}`"), file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


def _first_command(args: Sequence[str] | None) -> str | None:
    words = [a for a in args or () if not a.startswith("-")]
    return words[0] if words and words[0] in COMMANDS else None


def _command_name(context: Context | None) -> str | None:
    names = []
    while context is not None and context.parent is not None:
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(reversed(names)) or None


def _label_placeholders(command: Command, ctx: Context) -> None:
    """Give every value a word as its help placeholder (`SECONDS`, `PATH`, `N`) where the
    command did not name one, instead of a type name like `<float>`."""
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = _placeholder(param)
        if param.param_type_name == "argument" and param.metavar is not None:
            _plain_argument(param, param.metavar)
            _, choices = _kind(param)
            help_text = getattr(param, "help", None)
            if choices and help_text is not None and "one of:" not in help_text:
                param.help = f"{help_text} One of: {', '.join(choices)}."


def _plain_argument(param: Any, word: str) -> None:
    """Newer typer writes a required argument as `{URL}` in the usage line and adds its
    type (`<str>`) in the help; click's plain `URL` says the same."""
    usage = word if param.required else f"[{word}]"
    if hasattr(param, "_usage_display_name"):
        param._usage_display_name = lambda: usage
    if hasattr(param, "display_type_rich"):
        param.display_type_rich = lambda ctx: None


def _placeholder(param: Any) -> str:
    kind, choices = _kind(param)
    help_text = (getattr(param, "help", None) or "").lower()
    seconds = ("second" in help_text and "per second" not in help_text) or "(s)" in help_text
    if param.param_type_name == "argument" and param.name:
        word = param.name.upper()
    elif choices:
        word = "[" + "|".join(choices) + "]"
    elif kind == "path":
        word = "PATH"
    elif kind == "float":
        word = "SECONDS" if seconds else "NUMBER"
    elif kind == "int":
        word = "SECONDS" if seconds else "N"
    else:
        word = "TEXT"
    if param.param_type_name == "argument" and param.nargs != 1:
        word += "..."
    return str(word)


def _kind(param: Any) -> tuple[str, list[str]]:
    """The value's kind (int, float, path, text) and its choices, from typer's description
    of the parameter where it has one (newer typer) or click's type (older)."""
    described = getattr(param, "type_descriptor", None)
    if described is not None:
        annotation = described.annotation
        if described.is_choice:
            return "choice", [str(getattr(c, "value", c)) for c in described.choices or ()]
        if described.is_path:
            return "path", []
        inner = getattr(annotation, "__args__", None)
        if getattr(annotation, "__origin__", None) is list and inner:
            annotation = inner[0]
        name = getattr(annotation, "__name__", "")
        return {"int": "int", "float": "float"}.get(name, "text"), []
    click_type = getattr(param, "type", None)
    choices = getattr(click_type, "choices", None)
    if choices:
        return "choice", [str(c) for c in choices]
    name = getattr(click_type, "name", "")
    return {
        "integer": "int",
        "integer range": "int",
        "float": "float",
        "float range": "float",
        "path": "path",
    }.get(name, "text"), []


class _StripTrailingSpaces(io.TextIOBase):
    """stdout for a pipe or a file: tables padded to the terminal's width lose the padding
    at the end of each line, which nothing reading the output wants."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._stream.write("\n".join(line.rstrip(" ") for line in lines) + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._pending:
            self._stream.write(self._pending.rstrip(" "))
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def buffer(self) -> Any:
        return self._stream.buffer


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # The first word that is not an option names the command; anything else (--help, a
    # typo) gets the full app, so that help and "no such command" list every command.
    first = next((a for a in args if not a.startswith("-")), None)
    command = first if first in COMMANDS else None
    try:
        import typer  # noqa: F401  (every extra installs it; the core install does not)
    except ModuleNotFoundError:
        _without_typer(args, command)
    stdout = sys.stdout
    if not stdout.isatty():
        sys.stdout = _StripTrailingSpaces(stdout)
    try:
        build_app(command)(args=args, prog_name="streamwarden")
    finally:
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout


def _without_typer(args: list[str], command: str | None) -> NoReturn:
    """The core install: the guard only. Say what there is and how to get the tools."""
    if command is not None:
        _needs_extra(command)
    if args in (["--version"],):
        print(f"streamwarden {__version__}")
        raise SystemExit(0)
    lines = ["Usage: streamwarden COMMAND [ARGS]...", "", _SUMMARY, "", "Commands:"]
    for name, (_, _, extra) in COMMANDS.items():
        lines.append(f"  {name:<9} needs the {extra} extra: pip install 'streamwarden[{extra}]'")
    print("\n".join(lines))
    if args and not set(args) <= {"-h", "--help"}:
        fail(None, f"no such command {args[0]!r}", "see `streamwarden --help`")
    raise SystemExit(0)


def __getattr__(name: str) -> Any:
    if name == "app":  # the full app, for tools and tests that import it
        return build_app()
    raise AttributeError(f"module 'streamwarden.cli' has no attribute {name!r}")
