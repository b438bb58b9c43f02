"""The probe's ITL and TPOT side by side with GuideLLM's, on the same target and load.

    .venv/bin/python bench/guidellm_compare.py [--guidellm PATH] [--concurrency 8]
        [--requests 120] [--rounds 3] [--tps 40] [--ttft 0.1] [--output-tokens 64]
        [--out guidellm_compare.json]

The target is `streamwarden serve` (its simulated model: a fixed TTFT, then one word per
chunk at `--tps` tokens per second, `usage` at the end when asked). GuideLLM runs its
`concurrent` profile (`--concurrency` streams, `--requests` requests, synthetic prompts of
`--prompt-tokens` words asking for `--output-tokens` tokens), then `streamwarden probe` runs
the same closed loop (same concurrency, same request count) with the very bodies GuideLLM
sent, read back from GuideLLM's own JSON. The two alternate for `--rounds` rounds (which
one goes first alternates too), so the machine's noise hits both.

The two tools name the same quantities differently, so the table pairs them by formula, not
by name (n = the request's output tokens, from `usage`, in both tools):

- GuideLLM's **ITL** is a per-request mean, `(last token − first token) / (n − 1)`: the
  probe's **TPOT**. Its mean over requests is weighted by `n − 1`, so it also equals the
  probe's ITL mean (every gap of every stream, one token per chunk).
- GuideLLM's **TPOT** is `(last token − request start) / n`, which counts the TTFT in; the
  probe does not report it, so it is computed here from the probe's own records.
- The probe's **ITL** p50 is the median of single gaps, a figure GuideLLM does not have; it
  is printed beside GuideLLM's ITL median for reference only, as are the two TPOTs (same
  name, different formulas) and the TTFTs.

GuideLLM needs a tokenizer to size its synthetic prompts and cannot download one here: a
word-level tokenizer is built offline (GuideLLM's Faker vocabulary plus the sim's words) with
the Python of GuideLLM's own virtualenv. Without GuideLLM the script says so and exits 0.
Writes bench/results/guidellm_compare.json (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamwarden.probe import load_runs, stream_metrics
from streamwarden.probe.metrics import percentile, token_times
from streamwarden.procs import ManagedProcess, free_port, wait_for_port
from streamwarden.upstreams.sim import SIM_MODEL, WORDS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import git_rev, machine, write_json

TOLERANCE_PCT = 5.0
DEFAULT_GUIDELLM = ("guidellm", "/tmp/gvenv/bin/guidellm")

#: Run with GuideLLM's Python: a word-level tokenizer saved where `from_pretrained` reads it.
TOKENIZER_SCRIPT = """
import json, sys
from faker.providers.lorem.en_US import Provider
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = set(Provider.word_list) | {w.capitalize() for w in Provider.word_list}
words |= set(json.loads(sys.argv[2])) | {".", ",", "?", "!"}
vocab = {"[UNK]": 0}
for w in sorted(words):
    vocab.setdefault(w, len(vocab))
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(sys.argv[1])
"""

#: The figures compared: (GuideLLM's name, the probe's name for the same formula).
PAIRS = (
    ("itl_mean_ms", "tpot_mean_ms"),
    ("itl_median_ms", "tpot_p50_ms"),
    ("itl_mean_ms", "itl_mean_ms"),
    ("tpot_mean_ms", "guidellm_tpot_mean_ms"),
    ("tpot_median_ms", "guidellm_tpot_p50_ms"),
)
#: Printed for reference, not gated: different quantities, or not a per-token figure. The
#: TPOT row pairs the two tools' figures of that name, whose formulas differ.
REFERENCE = (
    ("itl_median_ms", "itl_p50_ms"),
    ("tpot_mean_ms", "tpot_mean_ms"),
    ("ttft_mean_ms", "ttft_mean_ms"),
    ("ttft_median_ms", "ttft_p50_ms"),
)


def find_guidellm(given: str | None) -> Path | None:
    for candidate in (given,) if given else DEFAULT_GUIDELLM:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return None


def build_tokenizer(guidellm: Path, folder: Path) -> None:
    python = guidellm.parent / "python"
    subprocess.run(
        [str(python), "-c", TOKENIZER_SCRIPT, str(folder), json.dumps(WORDS)],
        check=True,
        capture_output=True,
    )


def guidellm_round(
    guidellm: Path, base: str, tokenizer: Path, work: Path, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    out = work / f"guidellm-{n}.json"
    scenario = {
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": base,
                "model": SIM_MODEL,
                "request_format": "/v1/chat/completions",
                # The gateway has no /health; its model list answers the same question.
                "api_routes": {"/health": "v1/models"},
            },
            "profile": {"kind": "concurrent", "streams": args.concurrency},
            "data": [
                {
                    "kind": "synthetic_text",
                    "prompt_tokens": args.prompt_tokens,
                    "output_tokens": args.output_tokens,
                }
            ],
            "tokenizer": {"kind": "huggingface_auto", "model": str(tokenizer)},
            "constraints": [{"kind": "max_requests", "count": args.requests}],
            "outputs": [{"kind": "json", "path": str(out)}],
        }
    }
    path = work / f"scenario-{n}.json"
    path.write_text(json.dumps(scenario))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    argv = [str(guidellm), "run", "--scenario", str(path), "--disable-console"]
    log = work / f"guidellm-{n}.log"
    with log.open("wb") as f:
        done = subprocess.run(argv, cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        sys.exit(f"guidellm_compare: GuideLLM failed (exit {done.returncode}):\n{tail}")
    return dict(json.loads(out.read_text())["benchmarks"][0])


def guidellm_figures(bench: dict[str, Any]) -> dict[str, Any]:
    """GuideLLM's figures as it reports them, and recomputed from its per-request timings
    with the formulas read in its source (a check that the pairing above is right)."""
    m = bench["metrics"]

    def pick(name: str, stat: str) -> float:
        return round(float(m[name]["successful"][stat]), 3)

    done = bench["requests"]["successful"]
    itl, tpot = [], []
    for r in done:
        t = r["info"]["timings"]
        tokens = r["output_metrics"]["text_tokens"]
        itl.append(1000 * (t["last_token_iteration"] - t["first_token_iteration"]) / (tokens - 1))
        tpot.append(1000 * (t["last_token_iteration"] - t["request_start"]) / tokens)
    return {
        "requests": int(m["request_totals"]["successful"]),
        "errored": int(m["request_totals"]["errored"]),
        "output_tokens": sorted({r["output_metrics"]["text_tokens"] for r in done}),
        "itl_mean_ms": pick("inter_token_latency_ms", "mean"),
        "itl_median_ms": pick("inter_token_latency_ms", "median"),
        "tpot_mean_ms": pick("time_per_output_token_ms", "mean"),
        "tpot_median_ms": pick("time_per_output_token_ms", "median"),
        "ttft_mean_ms": pick("time_to_first_token_ms", "mean"),
        "ttft_median_ms": pick("time_to_first_token_ms", "median"),
        "recomputed": {
            "itl_mean_ms": round(statistics.fmean(itl), 3),
            "tpot_mean_ms": round(statistics.fmean(tpot), 3),
        },
    }


def guidellm_bodies(bench: dict[str, Any]) -> list[str]:
    """The request bodies GuideLLM sent, one JSON document each."""
    return [
        json.dumps(json.loads(r["request_args"])["body"]) for r in bench["requests"]["successful"]
    ]


def probe_round(base: str, bodies: Path, work: Path, args: argparse.Namespace, n: int) -> Path:
    out = work / f"probe-{n}.json"
    argv = [sys.executable, "-m", "streamwarden", "probe", base + "/v1/chat/completions"]
    argv += ["--bodies", str(bodies), "--concurrency", str(args.concurrency)]
    argv += ["--max-requests", str(args.requests), "--step-duration", "600"]
    argv += ["--json", str(out), "--fail-on", "never"]
    log = work / f"probe-{n}.log"
    with log.open("wb") as f:
        done = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        sys.exit(f"guidellm_compare: the probe failed (exit {done.returncode}):\n{tail}")
    return out


def probe_figures(path: Path) -> dict[str, Any]:
    """The probe's figures, and GuideLLM's TPOT formula applied to the probe's records."""
    run = load_runs(path)[0].run
    ok = [r for r in run.requests if r.succeeded]
    per = [stream_metrics(r) for r in ok]
    itl = [g for m in per for g in m.itl_ms]
    tpot = [m.tpot_ms for m in per if m.tpot_ms is not None]
    ttft = [m.ttft_ms for m in per if m.ttft_ms is not None]
    # GuideLLM's TPOT: (last token − request start) / n; token times count from the start.
    with_first = [token_times(r)[-1] / m.output_tokens for r, m in zip(ok, per, strict=True)]
    step = json.loads(path.read_text())["steps"][0]
    return {
        "requests": len(ok),
        "failed": len(run.requests) - len(ok),
        "output_tokens": sorted({m.output_tokens for m in per}),
        "tokens_from_usage": all(m.tokens_from_usage for m in per),
        "tpot_mean_ms": round(statistics.fmean(tpot), 3),
        "tpot_p50_ms": round(percentile(tpot, 50), 3),
        "itl_mean_ms": round(statistics.fmean(itl), 3),
        "itl_p50_ms": round(percentile(itl, 50), 3),
        "guidellm_tpot_mean_ms": round(statistics.fmean(with_first), 3),
        "guidellm_tpot_p50_ms": round(percentile(with_first, 50), 3),
        "ttft_mean_ms": round(statistics.fmean(ttft), 3),
        "ttft_p50_ms": round(percentile(ttft, 50), 3),
        "reported": {k: step.get(k) for k in ("itl_ms", "tpot_ms")},
    }


def diff_pct(probe: float, guidellm: float) -> float:
    return round(100.0 * (probe - guidellm) / guidellm, 2)


def summarize(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for gated, pairs in ((True, PAIRS), (False, REFERENCE)):
        for g_key, p_key in pairs:
            g = statistics.fmean(r["guidellm"][g_key] for r in rounds)
            p = statistics.fmean(r["probe"][p_key] for r in rounds)
            d = diff_pct(p, g)
            row: dict[str, Any] = {
                "guidellm": g_key,
                "probe": p_key,
                "guidellm_ms": round(g, 3),
                "probe_ms": round(p, 3),
                "diff_pct": d,
                "per_round_diff_pct": [
                    diff_pct(r["probe"][p_key], r["guidellm"][g_key]) for r in rounds
                ],
                "gated": gated,
            }
            if gated:
                row["passed"] = abs(d) <= TOLERANCE_PCT
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guidellm", help="the guidellm executable (default: PATH, /tmp/gvenv)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tps", type=float, default=40.0)
    parser.add_argument("--ttft", type=float, default=0.1)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--out", default="guidellm_compare.json", help="file in bench/results")
    args = parser.parse_args()
    guidellm = find_guidellm(args.guidellm)
    if guidellm is None:
        missing = f"{args.guidellm} is not an executable" if args.guidellm else "not installed"
        print(
            f"guidellm_compare: skipped, GuideLLM {missing} — install it in its own venv "
            "(python3 -m venv /tmp/gvenv && /tmp/gvenv/bin/pip install guidellm) "
            "or pass --guidellm PATH"
        )
        return
    version = subprocess.run(
        [str(guidellm), "--version"], capture_output=True, text=True
    ).stdout.split()[-1]
    started = dict(machine(), loadavg_start=[round(x, 2) for x in os.getloadavg()])
    port = free_port()
    argv = [sys.executable, "-m", "streamwarden", "serve", "--port", str(port)]
    argv += ["--sim-ttft", str(args.ttft), "--sim-tokens", str(args.output_tokens)]
    argv += ["--sim-tps", str(args.tps), "--no-access-log"]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="guidellm-compare-") as tmp:
        work = Path(tmp)
        build_tokenizer(guidellm, work / "tokenizer")
        bodies = work / "bodies.jsonl"
        with ManagedProcess(argv, log_path=work / "serve.log"):
            wait_for_port("127.0.0.1", port, timeout=20)
            base = f"http://127.0.0.1:{port}"
            for n in range(args.rounds):
                order = ("guidellm", "probe") if n % 2 == 0 else ("probe", "guidellm")
                figures: dict[str, Any] = {"order": list(order)}
                for tool in order:
                    t0 = time.perf_counter()
                    if tool == "guidellm":
                        bench = guidellm_round(guidellm, base, work / "tokenizer", work, args, n)
                        figures["guidellm"] = guidellm_figures(bench)
                        if not bodies.exists():
                            bodies.write_text("\n".join(guidellm_bodies(bench)) + "\n")
                    else:
                        figures["probe"] = probe_figures(probe_round(base, bodies, work, args, n))
                    figures[f"{tool}_wall_s"] = round(time.perf_counter() - t0, 1)
                rounds.append(figures)
                print(
                    f"round {n + 1}: GuideLLM ITL mean {figures['guidellm']['itl_mean_ms']} ms, "
                    f"probe TPOT mean {figures['probe']['tpot_mean_ms']} ms",
                    flush=True,
                )
    rows = summarize(rounds)
    print(f"\n{'GuideLLM figure':16} {'probe figure':24} {'GuideLLM':>9} {'probe':>9} {'diff':>8}")
    for row in rows:
        verdict = ("ok" if row["passed"] else "FAIL") if row["gated"] else "(ref)"
        print(
            f"{row['guidellm']:16} {row['probe']:24} {row['guidellm_ms']:9.3f} "
            f"{row['probe_ms']:9.3f} {row['diff_pct']:+7.2f}%  {verdict}"
        )
    passed = all(row["passed"] for row in rows if row["gated"])
    print(f"\nwithin {TOLERANCE_PCT:g} %: {'yes' if passed else 'NO'}")
    out = {
        "command": "bench/guidellm_compare.py " + " ".join(sys.argv[1:]),
        "git_rev": git_rev(),
        "machine": dict(started, loadavg_end=[round(x, 2) for x in os.getloadavg()]),
        "guidellm_version": version,
        "sim": {"ttft_s": args.ttft, "tps": args.tps, "output_tokens": args.output_tokens},
        "load": {
            "concurrency": args.concurrency,
            "requests": args.requests,
            "prompt_tokens": args.prompt_tokens,
        },
        "tolerance_pct": TOLERANCE_PCT,
        "rounds": rounds,
        "summary": rows,
        "passed": passed,
    }
    write_json(args.out.removesuffix(".json"), out)


if __name__ == "__main__":
    main()
