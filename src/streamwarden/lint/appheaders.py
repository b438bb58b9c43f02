"""Whether the app's own source answers with `X-Accel-Buffering: no`, found in a linted tree.

nginx turns buffering off for each response that carries that header, so a route with nginx's
default buffering does not hold such an app's streams back (measured, docs/lint.md). The
header is almost always written as a literal next to the response that streams: a dict entry
(`"X-Accel-Buffering": "no"`), a call (`res.setHeader('X-Accel-Buffering', 'no')`,
`w.Header().Set("X-Accel-Buffering", "no")`) or an item assignment. Tests are left out: they
describe the header, they do not send it.
"""

from __future__ import annotations

import os
import re

from streamwarden.lint.findings import line_at

SOURCE_SUFFIXES: tuple[str, ...] = (".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go")
SOURCE_SUFFIXES += (".rb", ".java", ".kt", ".rs", ".php", ".cs", ".ex", ".exs")
# The header sits in handlers, not in generated bundles: skip files larger than this, and
# read no more of a file than MAX_CHARS.
MAX_FILE_BYTES = 2_000_000
MAX_CHARS = 200_000
_HEADER_NO = re.compile(
    r"""x-accel-buffering['"\]\s]*(?:[:,=]|=>)\s*['"]no['"]""",
    re.IGNORECASE,
)
_TEST_DIRS = {"test", "tests", "__tests__", "spec", "specs", "testdata", "fixtures", "e2e"}
_TEST_NAME = re.compile(r"(^test_.*\.py$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$)")


def is_app_source(path: str) -> bool:
    """A source file of the app (not a test, not a config) by its name and folders."""
    name = os.path.basename(path)
    if not name.endswith(SOURCE_SUFFIXES) or _TEST_NAME.search(name):
        return False
    parts = os.path.normpath(path).replace(os.sep, "/").split("/")[:-1]
    return not any(part.lower() in _TEST_DIRS for part in parts)


def header_lines(text: str) -> list[int]:
    """1-based lines of `text` that set X-Accel-Buffering to "no"."""
    text = text[:MAX_CHARS]
    return [line_at(text, m.start()) for m in _HEADER_NO.finditer(text)]
