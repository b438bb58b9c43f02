"""Values as a shell would expand them before a server sees them.

`${VAR:-default}` and `${VAR-default}` become the default (what runs when the variable is
unset, which is what the file itself says); `${VAR}` and `$VAR` are unknown (None): only the
environment knows them, and no rule may judge a value nobody can read here.
"""

from __future__ import annotations

import re

_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
_BARE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def expand(value: str) -> str | None:
    """The value with shell defaults applied, or None when a variable without one remains."""
    out = _DEFAULTED.sub(lambda m: m.group(1), value)
    return None if _BARE.search(out) else out


def placeholders(value: str) -> list[str]:
    """The variables in `value` that have no default (`${VAR}`, `$VAR`)."""
    return _BARE.findall(_DEFAULTED.sub("", value))
