"""StreamWarden's linter against gixy-ng on the nginx corpus, one command:

    .venv/bin/pip install gixy-ng   # for this comparison only; not a dependency
    .venv/bin/python bench/lint_vs_gixy.py [--markdown]

Ground truth is the `expect:` markers in tests/lint/corpus/nginx (the same ones the tests
check). A tool "catches" a marked problem when it reports something on that file and line:
for StreamWarden the marked rule id, for gixy-ng any finding at all (gixy has no rule ids for
these problems, so any finding on the line is generous to it). It also counts what each tool
reports that is not a marked streaming problem, and the wall time of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from streamwarden.lint import lint_paths  # noqa: E402

CORPUS = ROOT / "tests" / "lint" / "corpus" / "nginx"
INCLUDES = CORPUS / "with-includes"
SW_RUN = "import sys; from streamwarden.lint import lint_paths; lint_paths(sys.argv[1:])"
EXPECT = re.compile(r"expect(-next)?:\s*([a-z0-9/,\s-]+)")


def units() -> list[tuple[Path, list[Path]]]:
    """(file to lint, files whose markers it should produce)."""
    out = [(p, [p]) for p in sorted(CORPUS.rglob("*")) if p.is_file() and INCLUDES not in p.parents]
    out.append((INCLUDES / "nginx.conf", [p for p in INCLUDES.rglob("*") if p.is_file()]))
    return out


def markers(files: list[Path]) -> set[tuple[str, int, str]]:
    found: set[tuple[str, int, str]] = set()
    for file in files:
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                at = number + 1 if match.group(1) else number
                for rule in filter(None, (r.strip() for r in match.group(2).split(","))):
                    found.add((str(file.resolve()), at, rule))
    return found


def gixy_binary() -> str | None:
    beside = Path(sys.executable).parent / "gixy"
    return str(beside) if beside.exists() else shutil.which("gixy")


def run_gixy(gixy: str, path: Path) -> tuple[list[dict[str, object]], float, str]:
    start = time.perf_counter()
    ran = subprocess.run([gixy, "-f", "json", str(path)], capture_output=True, text=True)
    took = time.perf_counter() - start
    try:
        return json.loads(ran.stdout or "[]"), took, ""
    except ValueError:
        return [], took, (ran.stderr or ran.stdout).strip().splitlines()[-1:][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print only the markdown table")
    args = parser.parse_args()
    gixy = gixy_binary()
    if gixy is None:
        print("gixy not found: `.venv/bin/pip install gixy-ng` first", file=sys.stderr)
        return 2
    version = subprocess.run([gixy, "--version"], capture_output=True, text=True).stdout
    version = next((line for line in version.splitlines() if line.strip()), "?").strip()

    per_rule: Counter[str] = Counter()
    sw_hits: Counter[str] = Counter()
    gixy_hits: Counter[str] = Counter()
    sw_other = gixy_other = 0
    gixy_plugins: Counter[str] = Counter()
    sw_time = gixy_time = 0.0
    notes: list[str] = []
    for path, files in units():
        expected = markers(files)
        result = lint_paths([str(path)])
        # Timed as a fresh process per config, like gixy, so start-up counts for both.
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", SW_RUN, str(path)], check=True)
        sw_time += time.perf_counter() - start
        sw = {(str(Path(f.file).resolve()), f.line, f.id) for f in result.findings}
        g, took, problem = run_gixy(gixy, path)
        gixy_time += took
        if problem:
            notes.append(f"gixy on {path.relative_to(ROOT)}: {problem}")
        g_lines = {(os.path.realpath(str(i.get("file", ""))), i.get("line")) for i in g}
        gixy_plugins.update(str(i.get("plugin")) for i in g)
        for key in expected:
            file, line, rule = key
            per_rule[rule] += 1
            sw_hits[rule] += key in sw
            gixy_hits[rule] += (file, line) in g_lines
        sw_other += len(sw - expected)
        gixy_other += sum(
            1
            for i in g
            if not any(
                (f, ln) == (os.path.realpath(str(i.get("file", ""))), i.get("line"))
                for f, ln, _ in expected
            )
        )

    total = sum(per_rule.values())
    rows = [
        "| streaming problem (rule) | marked | StreamWarden | gixy-ng |",
        "|---|---:|---:|---:|",
    ]
    for rule in sorted(per_rule):
        rows.append(f"| `{rule}` | {per_rule[rule]} | {sw_hits[rule]} | {gixy_hits[rule]} |")
    rows.append(
        f"| **all** | **{total}** | **{sum(sw_hits.values())}** | **{sum(gixy_hits.values())}** |"
    )
    rows.append(f"| other findings (not marked) | | {sw_other} | {gixy_other} |")
    rows.append(
        f"| wall time, {len(units())} configs, one process each | | {sw_time:.2f} s "
        f"| {gixy_time:.2f} s |"
    )
    table = "\n".join(rows)
    if args.markdown:
        print(table)
        return 0
    print(f"corpus: {CORPUS.relative_to(ROOT)} ({len(units())} configs), gixy: {version}\n")
    print(table)
    print("\ngixy-ng findings by plugin:", dict(gixy_plugins.most_common()))
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
