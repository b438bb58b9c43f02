"""LLM metrics over synthetic timelines (pure), and the usage count read off a real stream."""

from __future__ import annotations

import json

import pytest

from streamwarden.probe.formats import StreamReader
from streamwarden.probe.metrics import step_metrics, stream_metrics, token_times
from streamwarden.probe.timeline import RequestRecord, Run, Step


def _stream(reads: list[tuple[float, int]], ttft: float, usage: int | None = None) -> RequestRecord:
    """A completed stream: `reads` are (t_ms, events); the last read carries the terminator."""
    rows = [(t, 100, e, 0) for t, e in reads]
    content = sum(e for t, e in reads if t >= ttft) - 1  # the terminator is not content
    return RequestRecord(
        step=0,
        start_ms=0.0,
        status=200,
        ttfb_ms=reads[0][0],
        ttft_ms=ttft,
        end_ms=reads[-1][0],
        outcome="ok",
        terminated=True,
        content_events=content,
        output_tokens=usage,
        reads=rows,
    )


def test_paced_stream_itl_tpot_and_tokens() -> None:
    # Headers + role chunk at 10 ms, tokens every 20 ms from 100 ms, [DONE] with the last.
    reads = [(10.0, 1)] + [(100.0 + 20 * i, 1) for i in range(9)] + [(280.0, 2)]
    r = _stream(reads, ttft=100.0)
    assert r.content_events == 10
    assert token_times(r) == [100.0 + 20 * i for i in range(10)]
    m = stream_metrics(r)
    assert m.itl_ms == (20.0,) * 9
    assert m.tpot_ms == pytest.approx(20.0)
    assert m.output_tokens == 10 and not m.tokens_from_usage
    assert m.tokens_per_s == pytest.approx(1000 * 10 / 280)


def test_usage_count_wins_over_counted_deltas() -> None:
    # Ten deltas that carried 20 tokens between them (two per delta).
    reads = [(100.0 + 20 * i, 1) for i in range(10)] + [(300.0, 1)]
    m = stream_metrics(_stream(reads, ttft=100.0, usage=20))
    assert m.output_tokens == 20 and m.tokens_from_usage
    assert m.tpot_ms == pytest.approx(180.0 / 19)


def test_a_buffered_stream_shows_zero_itl_inside_bursts() -> None:
    # 12 tokens in three bursts of 4, 500 ms apart: p50 ITL 0, the gaps at the top.
    reads = [(500.0, 4), (1000.0, 4), (1500.0, 5)]
    m = stream_metrics(_stream(reads, ttft=500.0))
    assert sorted(m.itl_ms) == [0.0] * 9 + [500.0, 500.0]
    assert m.tpot_ms == pytest.approx(1000.0 / 11)


def test_step_throughput_and_goodput() -> None:
    fast = _stream([(50.0, 1), (60.0, 1), (70.0, 2)], ttft=50.0)
    slow = _stream([(900.0, 1), (910.0, 1), (920.0, 2)], ttft=900.0)
    failed = RequestRecord(
        step=0, start_ms=0.0, status=503, ttfb_ms=5.0, end_ms=6.0, outcome="http_error"
    )
    out = step_metrics(
        [fast, slow, failed], wall_s=2.0, checks=[lambda r, m: (r.ttft_ms or 0) < 500]
    )
    assert out["output_tokens"] == 6
    assert out["output_tokens_per_s"] == 3.0
    assert out["requests_per_s"] == 1.0  # two succeeded in 2 s
    assert out["goodput_rps"] == 0.5  # one of them met the TTFT check
    assert out["itl_ms"]["p50"] == 10.0 and out["tpot_ms"]["p50"] == 10.0


def test_step_summary_and_json_carry_the_llm_metrics() -> None:
    r = _stream([(50.0, 1), (60.0, 1), (70.0, 2)], ttft=50.0)
    run = Run(
        target="t", steps=[Step(index=0, concurrency=1, started_ms=0, ended_ms=1000)], requests=[r]
    )
    step = run.to_json()["steps"][0]
    for key in (
        "itl_ms",
        "tpot_ms",
        "output_tokens",
        "output_tokens_per_s",
        "requests_per_s",
        "goodput_rps",
    ):
        assert key in step
    again = Run.from_json(json.loads(json.dumps(run.to_json())))
    assert again.requests[0].output_tokens is None
    assert again.to_json()["steps"][0]["output_tokens_per_s"] == step["output_tokens_per_s"]


def _feed(reader: StreamReader, *events: bytes) -> None:
    reader.start("text/event-stream")
    for event in events:
        reader.feed(event)


def test_openai_usage_chunk_is_counted_as_tokens_not_content() -> None:
    reader = StreamReader("openai")
    chunk = b'data: {"id":"c","choices":[{"delta":{"content":"hi"}}]}\n\n'
    usage = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7}}\n\n'
    _feed(reader, chunk, chunk, usage, b"data: [DONE]\n\n")
    assert reader.content_events == 2 and reader.output_tokens == 7 and reader.terminated


def test_openai_null_usage_on_every_chunk_is_not_a_count() -> None:
    reader = StreamReader("openai")
    chunk = b'data: {"id":"c","choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n'
    usage = b'data: {"id":"c","choices":[],"usage": {"completion_tokens": 3}}\n\n'
    _feed(reader, chunk, chunk, chunk, usage, b"data: [DONE]\n\n")
    assert reader.content_events == 3 and reader.output_tokens == 3


def test_anthropic_message_delta_usage_is_read() -> None:
    reader = StreamReader("anthropic")
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"x"}}\n\n'
    )
    usage = b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":5}}\n\n'
    _feed(reader, delta, usage, b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert reader.content_events == 1 and reader.output_tokens == 5
