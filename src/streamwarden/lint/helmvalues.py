"""Helm templates evaluated against their chart's default values, without helm.

`helm template` is the real renderer; this is what the linter does when helm is not installed.
It evaluates only what it can be sure of: `.Values` lookups, `if`/`with`/`else`/`end` on
them, and the common pipeline functions (`default`, `quote`, `int`, `toYaml | nindent`, …).
Anything else (`include`, `tpl`, `range`, `.Capabilities`, a function it does not know) is
*unknown*: its branch is kept and its action is left for `templates.strip`, which makes it a
placeholder that no rule judges.

Line numbers never move: a line of a branch that does not render becomes a comment at its own
indentation, and a map or list that `toYaml` inserts is written as one line of flow YAML (JSON),
so findings still point at the template's lines.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

__all__ = [
    "UNKNOWN",
    "Failure",
    "NilPointer",
    "chart_dependencies",
    "chart_of",
    "chart_values",
    "dependencies_of",
    "evaluate",
    "evaluation",
    "values_of",
]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

_TRIM = re.compile(r"^-(?=\s)|(?<=\s)-$")
# An action or a comment (which may hold `}}` itself: `{{/* e.g. {{ .Values.x }} */}}`),
# trim markers and spaces left to `_body`: a pattern that trims them itself backtracks
# cubically on a long line with no `}}`.
_WHOLE_ACTION = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}|\{\{.*?\}\}", re.DOTALL)
_CONTROL = re.compile(r"^(if|else|with|range|end|define|block)\b")
_ASSIGN = re.compile(r"^(\$[A-Za-z_]\w*)\s*(:?=)\s*(.+)$", re.DOTALL)
# `range $k, $v := …`, `with $x := …`: the variables a block declares, and its pipeline.
_DECLARE = re.compile(r"^(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*(.+)$", re.DOTALL)
_MUTATES = {"set", "unset", "merge", "mergeOverwrite", "mustMerge", "mustMergeOverwrite"}
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`|\(|\)|\||[^\s()|]+')


def chart_values(path: str, overrides: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any] | None:
    """The values of the chart that renders template `path` (see `chart_of` and
    `values_of`); None for a file helm does not render as a template."""
    chart = chart_of(path)
    return values_of(chart, overrides) if chart is not None else None


def chart_dependencies(path: str) -> frozenset[str] | None:
    """`dependencies_of` the chart that renders template `path`."""
    chart = chart_of(path)
    return dependencies_of(chart) if chart is not None else None


def chart_of(path: str) -> str | None:
    """The chart folder of a template helm renders: one whose `templates/` holds `path` and
    that has a values.yaml. None outside `templates/` and for `_…` files, which helm does not
    render."""
    if os.path.basename(path).startswith("_"):
        return None
    here = os.path.dirname(os.path.abspath(path))
    for _ in range(4):
        if os.path.isfile(os.path.join(here, "values.yaml")) and _holds_templates(here, path):
            return here
        here = os.path.dirname(here)
    return None


def dependencies_of(chart: str) -> frozenset[str] | None:
    """What helm fills `.Values.NAME` from besides values.yaml: the chart's dependencies by
    name and alias (Chart.yaml, or requirements.yaml for apiVersion v1) and the charts in its
    `charts/` folder. None when the chart has no Chart.yaml to read, or imports values from
    a dependency (`import-values`), since then any key may come from elsewhere."""
    if not os.path.isfile(os.path.join(chart, "Chart.yaml")):
        return None
    names: set[str] = set()
    for file in ("Chart.yaml", "requirements.yaml"):
        deps = (_mapping(os.path.join(chart, file)) or {}).get("dependencies")
        for dep in deps if isinstance(deps, list) else []:
            if not isinstance(dep, dict):
                continue
            if dep.get("import-values"):
                return None
            names |= {str(dep[key]) for key in ("name", "alias") if dep.get(key)}
    folder = os.path.join(chart, "charts")
    if os.path.isdir(folder):
        for entry in os.listdir(folder):
            # `redis/`, or a packaged `redis-17.3.2.tgz`
            names.add(re.sub(r"-v?\d[\w.+-]*\.tgz$", "", entry).removesuffix(".tgz"))
    return frozenset(names)


def _mapping(path: str) -> dict[str, Any] | None:
    """A YAML file's top mapping ({} for an empty or non-mapping file); None when it cannot
    be read or parsed."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            loaded = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else {}


def values_of(
    chart: str, overrides: Sequence[Mapping[str, Any]] = (), depth: int = 0
) -> dict[str, Any] | None:
    """A chart's values.yaml, with what a parent chart sets for it (a subchart in the
    parent's `charts/NAME/` takes the parent's `NAME:` (or its alias's) and `global:`
    values, as helm does). `overrides` are the values files a user deploys with (`helm
    install -f`), merged in order over the values of the chart being installed: the
    outermost one. None when values.yaml is missing or does not parse."""
    values = _mapping(os.path.join(chart, "values.yaml"))
    if values is None:
        return None
    folder = os.path.dirname(chart)
    parent = os.path.dirname(folder)
    is_subchart = depth < 3 and os.path.basename(folder) == "charts"
    if not (is_subchart and os.path.isfile(os.path.join(parent, "values.yaml"))):
        for override in overrides:  # the chart being installed takes the user's values
            values = _merged(values, dict(override))
        return values
    above = values_of(parent, overrides, depth + 1)
    if above:
        keys = _keys_for(parent, os.path.basename(chart))
        if len(keys) != 1:
            return None  # several aliases: which one's values is not known
        mine = above.get(keys[0])
        values = _merged(values, mine if isinstance(mine, dict) else {})
        if isinstance(above.get("global"), dict):
            values = _merged(values, {"global": above["global"]})
    return values


def _keys_for(parent: str, name: str) -> list[str]:
    """The keys of a parent's values that feed subchart `name`: its aliases, or its name."""
    deps = (_mapping(os.path.join(parent, "Chart.yaml")) or {}).get("dependencies")
    aliases = [
        str(dep.get("alias") or name)
        for dep in (deps if isinstance(deps, list) else [])
        if isinstance(dep, dict) and dep.get("name") == name
    ]
    return aliases or [name]


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _holds_templates(chart: str, path: str) -> bool:
    templates = os.path.join(chart, "templates") + os.sep
    return os.path.abspath(path).startswith(templates)


# -- expressions --------------------------------------------------------------------------


def _truthy(value: Any) -> bool | None:
    """Go template truth: false, 0, nil and empty are false. None: unknown."""
    if value is UNKNOWN:
        return None
    if isinstance(value, _Truth):
        return value.truth
    return bool(value) if value is not None else False


@dataclass(slots=True)
class _Scope:
    root: dict[str, Any]
    dot: Any
    variables: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Failure:
    """Where helm stops rendering: `path` reads `field` of `holder`, a map that is not there."""

    line: int
    path: str  # `.Values.autoscaling.enabled`
    holder: str  # `.Values.autoscaling`
    field: str  # `enabled`


class NilPointer(Exception):
    """A field of a value that is not there (`.Values.autoscaling.enabled` where values.yaml
    has no `autoscaling`): helm stops with "nil pointer evaluating interface {}.enabled"."""

    def __init__(self, field: str, depth: int, path: str = "", rooted: bool = False) -> None:
        super().__init__(field)
        self.field = field  # the field read of nothing: `enabled`
        self.depth = depth  # how many fields of the path were read before it
        self.path = path  # the expression's field path, `.Values.autoscaling.enabled`
        self.rooted = rooted  # read from the template's root (`$`, or `.` at the top)

    @property
    def holder(self) -> str:
        """The missing map: `.Values.autoscaling`."""
        head = "$" if self.path.startswith("$") else ""
        fields = self.path.lstrip("$").lstrip(".").split(".")
        return head + "." + ".".join(fields[: self.depth])


def _lookup(base: Any, fields: list[str]) -> Any:
    for depth, name in enumerate(fields):
        if base is UNKNOWN:
            return UNKNOWN
        if base is None:
            raise NilPointer(name, depth)
        if not isinstance(base, Mapping):
            return UNKNOWN  # a method or a field of a non-map: not evaluated
        base = base.get(name)
    return base


def _operand(token: str, scope: _Scope) -> Any:
    if token.startswith('"'):
        try:
            return json.loads(token)
        except ValueError:
            return UNKNOWN
    if token.startswith("`"):
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    if token == "nil":
        return None
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if re.fullmatch(r"-?\d+\.\d*", token):
        return float(token)
    if token == ".":
        return scope.dot
    name, _, rest = token.partition(".")
    if token.startswith("$"):
        base = scope.root if name == "$" else scope.variables.get(name, UNKNOWN)
        rooted, fields = name == "$", rest.split(".") if rest else []
    elif token.startswith("."):
        base, rooted, fields = scope.dot, scope.dot is scope.root, token[1:].split(".")
    else:
        return UNKNOWN
    try:
        return _lookup(base, fields)
    except NilPointer as nil:
        raise NilPointer(nil.field, nil.depth, token, rooted) from None


def _to_int(value: Any) -> Any:
    """sprig's `int` (spf13/cast): a number truncates, a string of digits parses, and any
    other string, nil included, is 0."""
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, (int, float)):
        try:
            return int(value)
        except (OverflowError, ValueError):
            return UNKNOWN  # inf and nan: Go's conversion is platform-defined
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?(0|[1-9]\d*)", value):
            return int(value)
        return UNKNOWN if re.fullmatch(r"[+-]?0\d+|[+-]?0[xXoObB]\w+", value) else 0
    return UNKNOWN


def _default(fallback: Any, value: Any = None) -> Any:
    truth = _truthy(value)
    if truth is None:
        return UNKNOWN
    return value if truth else fallback


class _Truth:
    """A value whose truth is known but not the value itself (`or X .Values.y` with X
    unknown and y set: true either way, but which one renders is not known)."""

    def __init__(self, truth: bool) -> None:
        self.truth = truth


def _and(*args: Any) -> Any:
    """Go's `and`: the first false argument, else the last; by truth alone when an unknown
    argument comes before the one that decides."""
    return _decided(args, False)


def _or(*args: Any) -> Any:
    """Go's `or`: the first true argument, else the last."""
    return _decided(args, True)


def _decided(args: tuple[Any, ...], stop: bool) -> Any:
    truths = [_truthy(a) for a in args]
    if stop in truths:
        at = truths.index(stop)
        return args[at] if None not in truths[:at] else _Truth(stop)
    if None in truths:
        return UNKNOWN
    return args[-1]


def _not(value: Any) -> Any:
    truth = _truthy(value)
    return UNKNOWN if truth is None else not truth


class _Flow(str):
    """Text that `toYaml` made: one line of flow YAML, placed like the map or list it holds."""


def _flow(value: Any) -> _Flow:
    """What `toYaml` inserts, as one line of flow YAML (JSON is YAML)."""
    return value if isinstance(value, _Flow) else _Flow(json.dumps(value, default=str))


def _quote(value: Any) -> Any:
    return UNKNOWN if value is None else json.dumps(_text(value))


def _text(value: Any) -> str:
    """A value as Go's fmt prints it: helm reads every values.yaml number as a float64, so
    60 prints `60` and 1000000 prints `1e+06`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    return str(value)


def _go_float(number: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64): the shortest digits, in exponent form from 1e6
    up or below 1e-4."""
    if number != number or number in (float("inf"), float("-inf")):
        return {"inf": "+Inf", "-inf": "-Inf"}.get(str(number), "NaN")
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # where the decimal point falls in `text`
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def _eq(first: Any, *others: Any) -> Any:
    """Go's `eq`: true when the first equals any other. Numbers are left unknown: values.yaml
    numbers are float64 and template literals int, which Go refuses to compare."""
    values = (first, *others)
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return UNKNOWN
    return any(first == other for other in others)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": _default,
    "quote": _quote,
    "squote": lambda v: UNKNOWN if v is None else "'" + _text(v) + "'",
    "int": _to_int,
    "int64": _to_int,
    "toString": lambda v: UNKNOWN if v is None else _text(v),
    "toYaml": _flow,
    "toJson": _flow,
    "nindent": lambda _n, v: v,
    "indent": lambda _n, v: v,
    "trim": lambda v: _text(v).strip(),
    "lower": lambda v: _text(v).lower(),
    "upper": lambda v: _text(v).upper(),
    "not": _not,
    "and": _and,
    "or": _or,
    "eq": _eq,
    "ne": lambda a, b: _not(_eq(a, b)),
    "empty": lambda v: _not(v),
    "required": lambda _msg, v: v,
}
_LAZY = {"and", "or"}  # their UNKNOWN arguments do not make the result unknown


def _parse(tokens: list[str], at: int = 0) -> tuple[list[list[Any]], int]:
    """A pipeline: commands separated by `|`; each command a list of tokens or
    sub-pipelines (parenthesised). Returns the pipeline and where it stopped."""
    pipeline: list[list[Any]] = [[]]
    while at < len(tokens):
        token = tokens[at]
        if token == ")":
            return pipeline, at + 1
        if token == "(":
            inner, at = _parse(tokens, at + 1)
            pipeline[-1].append(inner)
            continue
        if token == "|":
            pipeline.append([])
        else:
            pipeline[-1].append(token)
        at += 1
    return pipeline, at


def _run(pipeline: list[list[Any]], scope: _Scope) -> Any:
    piped: list[Any] = []
    for command in pipeline:
        if not command:
            return UNKNOWN
        head, *rest = command
        if head in _LAZY and not piped:
            value = _lazily(head, rest, scope)
            if value is UNKNOWN:
                return UNKNOWN
            piped = [value]
            continue
        args = [_run(a, scope) if isinstance(a, list) else _operand(a, scope) for a in rest]
        args += piped
        if isinstance(head, list):
            value = _run(head, scope) if not args else UNKNOWN
        elif head in _FUNCTIONS:
            if head not in _LAZY and any(a is UNKNOWN for a in args):
                return UNKNOWN
            try:
                value = _FUNCTIONS[head](*args)
            except (TypeError, ValueError, OverflowError):
                return UNKNOWN
        elif not rest and not piped:
            value = _operand(head, scope)
        else:
            return UNKNOWN  # include, tpl, printf, a function this reader does not know
        if value is UNKNOWN:
            return UNKNOWN
        piped = [value]
    return piped[0] if piped else UNKNOWN


def _lazily(head: str, rest: list[Any], scope: _Scope) -> Any:
    """`and`/`or` as Go evaluates them: argument by argument, stopping once decided, so a
    guard (`and .Values.a .Values.a.b`) keeps the nil field from being read."""
    done: list[Any] = []
    for arg in rest:
        try:
            value = _run(arg, scope) if isinstance(arg, list) else _operand(arg, scope)
        except NilPointer:
            if any(_truthy(d) is None for d in done):
                return UNKNOWN  # an unknown guard before it may have stopped Go here
            raise
        done.append(value)
        truth = _truthy(value)
        if truth is (head == "or"):
            break
    return _FUNCTIONS[head](*done)


def _value(expression: str, scope: _Scope) -> Any:
    tokens = _TOKEN.findall(expression)
    if not tokens:
        return UNKNOWN
    pipeline, _ = _parse(tokens)
    return _run(pipeline, scope)


# -- the template, line by line -----------------------------------------------------------


class _Root(dict[str, Any]):
    """The template's `.`: `.Values` is known; `.Chart`, `.Release`, `.Capabilities`,
    `.Template` and `.Files` are not read, so they are unknown rather than missing."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, UNKNOWN)


@dataclass(slots=True)
class _Frame:
    kind: str  # if, with, range, define
    state: bool | None  # this branch renders, does not, or unknown
    taken: bool | None  # an earlier branch of this if/with rendered (for else)
    dot: Any  # what `.` is inside the branch
    variables: dict[str, Any] = field(default_factory=dict)  # declared (`:=`) inside it


class _Template:
    def __init__(self, values: dict[str, Any], subcharts: frozenset[str] | None = None) -> None:
        # helm gives every chart a `global` map, empty unless a parent chart fills it.
        self.root: dict[str, Any] = _Root(Values={"global": {}, **values})
        self.frames: list[_Frame] = []
        self.variables: dict[str, Any] = {}
        self.line = 0
        self.failure: Failure | None = None  # where helm stops
        # The chart's dependencies, whose values helm merges in from their own charts
        # (None: no Chart.yaml read, so no failure is claimed).
        self.subcharts = subcharts

    def _value(self, expression: str, scope: _Scope | None = None, runs: bool = True) -> Any:
        """An expression's value; a nil field is helm's render error where the action
        surely runs (`runs`), and unknown where it may not."""
        try:
            return _value(expression, scope or self.scope)
        except NilPointer as nil:
            top = re.match(r"^\$?\.Values\.(\w+)", nil.path)
            surely = (
                runs
                and nil.rooted
                and self.failure is None
                and self.subcharts is not None
                and top is not None
                and top.group(1) not in self.subcharts
            )
            if surely:
                self.failure = Failure(self.line, nil.path, nil.holder, nil.field)
            return UNKNOWN

    def _dot(self, below: int | None = None) -> Any:
        frames = self.frames[:below]
        return next((f.dot for f in reversed(frames) if f.kind != "if"), self.root)

    @property
    def scope(self) -> _Scope:
        return _Scope(self.root, self._dot(), self._visible())

    def _visible(self) -> dict[str, Any]:
        """The variables in scope: the template's, then each open block's, inner ones last."""
        seen = dict(self.variables)
        for frame in self.frames:
            seen.update(frame.variables)
        return seen

    @property
    def state(self) -> bool | None:
        states = [f.state for f in self.frames]
        if False in states:
            return False
        return None if None in states else True

    def control(self, action: str) -> None:
        word, rest = [*action.split(None, 1), ""][:2]
        rest = rest.strip()
        declared = _DECLARE.match(rest)
        names = [n for n in declared.group(1, 2) if n] if declared else []
        if declared:
            rest = declared.group(3)
        if word == "end":
            if self.frames:
                self.frames.pop()
        elif word == "else":
            self._otherwise(rest)
        elif word == "define":
            self.frames.append(_Frame(word, False, None, UNKNOWN))
        elif word in ("range", "block"):  # a block renders in place, with its own `.`
            self.frames.append(_Frame(word, None, None, UNKNOWN, dict.fromkeys(names, UNKNOWN)))
        else:
            state = self.state
            value = self._value(rest, runs=state is True) if state is not False else UNKNOWN
            truth = _truthy(value)
            dot = value if word == "with" and truth else UNKNOWN
            bound = {name: value if truth else UNKNOWN for name in names}
            self.frames.append(_Frame(word, truth, truth, dot, bound))

    def _otherwise(self, rest: str) -> None:
        """`else`, `else if X`, `else with X`: this branch renders when no earlier one did."""
        if not self.frames:
            return
        frame = self.frames[-1]
        outer = self._dot(-1)
        if frame.kind == "with":
            frame.dot = outer
        if frame.taken is True:
            frame.state = False
            return
        if not rest:
            frame.state = None if frame.taken is None else True
            return
        word, condition = [*rest.split(None, 1), ""][:2]
        above = [f.state for f in self.frames[:-1]]
        runs = frame.taken is False and all(state is True for state in above)
        value = self._value(condition, _Scope(self.root, outer, self._visible()), runs)
        truth = _truthy(value) if word in ("if", "with") else None
        if word == "with" and truth:
            frame.dot = value
        if frame.taken is None:
            frame.state = False if truth is False else None
            frame.taken = True if truth is True else None
        else:
            frame.state = frame.taken = truth

    def assign(self, action: str) -> None:
        """`$x := v` declares in the innermost open block; `$x = v` sets the nearest
        declaration. Where the block may not run, the variable is unknown after it."""
        match = _ASSIGN.match(action)
        state = self.state
        if match is None or state is False:
            return
        name, declares, expression = match.group(1), match.group(2) == ":=", match.group(3)
        value = self._value(expression, runs=state is True)
        if state is None:
            value = UNKNOWN
        if declares:
            (self.frames[-1].variables if self.frames else self.variables)[name] = value
            return
        for scope in [f.variables for f in reversed(self.frames)] + [self.variables]:
            if name in scope:
                scope[name] = value
                return

    def mutate(self, action: str) -> None:
        """`set`/`unset`/`merge` on the values change them as the template runs: from here on
        nothing read from them, or from variables, is known."""
        if self.state is not False and _MUTATES & set(_TOKEN.findall(action)):
            self.root["Values"] = UNKNOWN
            for scope in [self.variables] + [f.variables for f in self.frames]:
                for name in scope:
                    scope[name] = UNKNOWN

    def output(self, action: str) -> Any:
        """What an output action inserts (UNKNOWN when it cannot be known)."""
        if self.state is False:
            return UNKNOWN
        value = self._value(action, runs=self.state is True)
        return UNKNOWN if value is None else value


_OPEN_KEY = re.compile(r"^\s*(- )?[^#\s][^#]*:\s*$")


def _inserted(value: Any, alone: bool, above: list[str], action: str) -> str | None:
    """The text an output action becomes, or None to leave it to strip (unknown).

    A map or list fits one line only as a whole value: alone on the line below a key that
    has none (`annotations:` then `{{- toYaml … | nindent 4 }}`), or after the key on its
    own line. Merged into a mapping or sequence already open, it would need lines of its
    own, so it stays unknown."""
    if value is UNKNOWN or isinstance(value, _Truth):
        return None
    if isinstance(value, (dict, list)):
        return None  # printed without toYaml, Go writes `map[a:1]`: not what a rule reads
    if not isinstance(value, _Flow):
        text = _text(value)
        # A value of several lines would shift every line below it.
        return None if alone or len(text.splitlines()) > 1 or "\r" in text else text
    if not alone:
        return value
    previous = next((line for line in reversed(above) if line.strip() != "#"), "")
    if _OPEN_KEY.match(previous) and ("nindent" in action or "indent" in action):
        return value
    return None


def _nindent(actions: list[re.Match[str]], indent: str, above: list[str]) -> str:
    """Where inserted flow text goes: `nindent N`'s column, deeper than the key it belongs
    to (helm may put a block sequence at the key's own column; a flow one must be deeper)."""
    match = re.search(r"\bn?indent\s+(\d+)", _body(actions[-1]))
    width = int(match.group(1)) if match else len(indent)
    key = next((line for line in reversed(above) if line.strip() != "#"), "")
    if _OPEN_KEY.match(key):
        width = max(width, len(key) - len(key.lstrip()) + 2)
    return " " * width


def _body(action: re.Match[str]) -> str:
    """An action's text without its `{{-`/`-}}` trim markers and surrounding spaces."""
    return _TRIM.sub("", action.group(0)[2:-2].strip()).strip()


def _one_line_actions(text: str) -> str:
    """Actions and comments that span lines (`{{/*` … `*/}}`, a long `if or …`) put on their
    first line, with the lines they covered left empty, so each line's actions are whole and
    line numbers stay."""
    out: list[str] = []
    at = 0
    for match in _WHOLE_ACTION.finditer(text):
        breaks = match.group(0).count("\n")
        if not breaks:
            continue
        out += [text[at : match.start()], match.group(0).replace("\n", " "), "\n" * breaks]
        at = match.end()
    return "".join(out) + text[at:]


def _kind(action: str) -> str:
    if action.startswith("/*") or action.startswith("- /*"):
        return "comment"
    if _CONTROL.match(action):
        return "control"
    if _ASSIGN.match(action):
        return "assign"
    return "output"


def evaluate(text: str, values: dict[str, Any]) -> str:
    """`text` with what the values decide rendered, and what they do not left as it was."""
    return evaluation(text, values)[0]


def evaluation(
    text: str, values: dict[str, Any], subcharts: frozenset[str] | None = None
) -> tuple[str, Failure | None]:
    """`evaluate`, and where helm would surely stop with a nil pointer. Claimed only with the chart's dependencies known
    (`subcharts`), since helm fills `.Values.NAME` from a dependency's own values."""
    template = _Template(values, subcharts)
    out: list[str] = []
    for number, line in enumerate(_one_line_actions(text).splitlines(), start=1):
        template.line = number
        for action in _WHOLE_ACTION.finditer(line):
            template.mutate(_body(action))
        indent = line[: len(line) - len(line.lstrip())].replace("\t", " " * 8)
        actions = list(_WHOLE_ACTION.finditer(line))
        was = template.state
        if not actions:
            out.append(indent + "#" if was is False else line)
            continue
        kinds = [_kind(_body(a)) for a in actions]
        only_actions = not _WHOLE_ACTION.sub("", line).strip()
        if any(k == "control" for k in kinds):
            for action, kind in zip(actions, kinds, strict=True):
                if kind == "control":
                    template.control(_body(action))
                elif kind == "assign":
                    template.assign(_body(action))
            outputs = [a for a, k in zip(actions, kinds, strict=True) if k == "output"]
            if only_actions and not outputs:
                out.append(indent + "#")
            elif was is False and template.state is False:
                out.append(indent + "#")
            else:
                out.append(line)  # a branch inside one line: left to strip
            continue
        if was is False:
            out.append(indent + "#")
            continue
        replacements: list[str | None] = []
        for action, kind in zip(actions, kinds, strict=True):
            if kind == "assign":
                template.assign(_body(action))
                replacements.append("" if only_actions else None)
            elif kind == "comment":
                replacements.append("")
            else:
                value = template.output(_body(action))
                replacements.append(_inserted(value, only_actions, out, _body(action)))
        rendered = line
        for action, replacement in reversed(list(zip(actions, replacements, strict=True))):
            if replacement is not None:
                rendered = rendered[: action.start()] + replacement + rendered[action.end() :]
        if only_actions and not rendered.strip():
            rendered = indent + "#"
        elif only_actions and "{{" not in rendered:
            rendered = _nindent(actions, indent, out) + rendered.strip()
        out.append(rendered)
    return "\n".join(out) + ("\n" if text.endswith("\n") else ""), template.failure
