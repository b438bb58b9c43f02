"""`--bodies FILE.jsonl` and size templates: the bodies a run sends, checked on the real
gateway, whose simulated model answers with as many tokens as the body asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.lab import stacks
from streamwarden.probe.workload import Workload, WorkloadError, load_bodies

runner = CliRunner()


def test_cycled_in_order_or_sampled_with_a_seed() -> None:
    bodies = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    cycled = Workload(bodies)
    assert [cycled.next() for _ in range(4)] == [*bodies, bodies[0]]
    a, b = Workload(bodies, seed=7), Workload(bodies, seed=7)
    drawn = [a.next() for _ in range(30)]
    assert drawn == [b.next() for _ in range(30)] and set(drawn) == set(bodies)


def test_templates_draw_sizes_per_request() -> None:
    w = Workload([b'{"max_tokens": {{int 64-512}}, "prompt": "{{words 3}}"}'], seed=1)
    assert w.varies
    seen = [json.loads(w.next()) for _ in range(20)]
    assert (
        all(64 <= s["max_tokens"] <= 512 for s in seen) and len({s["max_tokens"] for s in seen}) > 1
    )
    assert seen[0]["prompt"] == "the quick brown"
    assert not Workload([b'{"a": 1}']).varies


def test_bad_body_files_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"ok": 1}\n\n[1, 2]\n')
    with pytest.raises(WorkloadError, match=r"b.jsonl:3 must be a JSON object"):
        load_bodies(path)
    path.write_text('{"ok": {{int 9-1}}}\n')
    with pytest.raises(WorkloadError, match="runs backwards"):
        Workload(load_bodies(path))
    path.write_text("\n")
    result = runner.invoke(app, ["probe", "http://127.0.0.1:9/", "--bodies", str(path)])
    assert result.exit_code == 2 and "holds no bodies" in result.stderr


@pytest.mark.timeout(120)
def test_bodies_are_sent_in_turn_to_the_gateway(tmp_path: Path) -> None:
    line = (
        '{"model": "sim-1", "stream": true, "stream_options": {"include_usage": true}, '
        '"messages": [{"role": "user", "content": "{{words 2-9}}"}], '
        '"sim": {"tokens": TOKENS, "tps": 400, "ttft": 0.01}}'
    )
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text(
        line.replace("TOKENS", "{{int 3-3}}") + "\n" + line.replace("TOKENS", "8") + "\n"
    )
    out = tmp_path / "run.json"
    with stacks.Launcher(tmp_path / "lab") as lab:
        port = stacks.gateway(lab, heartbeat=5.0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        args = ["probe", url, "--bodies", str(bodies), "--concurrency", "1", "--max-requests", "6"]
        result = runner.invoke(app, [*args, "--step-duration", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # The server's usage count, read off each stream: the bodies in turn.
    assert [r["output_tokens"] for r in data["requests"]] == [3, 8, 3, 8, 3, 8]
    assert data["steps"][0]["tokens_from_usage"] is True
    assert data["config"]["bodies"] == 2
