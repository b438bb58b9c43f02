"""LLM metrics over synthetic timelines (pure), the definitions beside GuideLLM's, which chunks
are tokens, and the usage and token counts read off a real stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.lab import stacks
from streamwarden.probe.formats import StreamReader
from streamwarden.probe.metrics import step_metrics, stream_metrics, token_times
from streamwarden.probe.timeline import RequestRecord, Run, Step

runner = CliRunner()


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


# -- what counts as a token: the chunks around the tokens ------------------------------
ROLE = b'data: {"id":"c","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
TOKEN = b'data: {"id":"c","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
CLOSE = b'data: {"id":"c","choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = b'data: {"id":"c","choices":[],"usage":{"completion_tokens":3}}\n\n'


def test_a_role_chunk_in_the_first_tokens_read_is_a_lead_event_not_a_token() -> None:
    reader = StreamReader("openai")
    # The role chunk and the first token in one read, as a gateway writes them.
    _feed(reader, ROLE + TOKEN, TOKEN, TOKEN, CLOSE, USAGE, b"data: [DONE]\n\n")
    assert reader.lead_events == 1
    assert reader.content_events == 3 == reader.output_tokens


@pytest.mark.parametrize(
    "tail",
    [
        [CLOSE, b"data: [DONE]\n\n"],  # a read of its own: the fast path's shape
        [CLOSE + USAGE + b"data: [DONE]\n\n"],  # with the usage: the decoder's
        [CLOSE.replace(b'"finish_reason":', b'"finish_reason": '), b"data: [DONE]\n\n"],
        [CLOSE, b": keepalive\n\n", b"data: [DONE]\n\n"],  # a heartbeat in between
        [TOKEN[:30], TOKEN[30:] + CLOSE, b"data: [DONE]\n\n"],  # a token split in two reads
    ],
)
def test_a_closing_chunk_with_an_empty_delta_is_not_a_token(tail: list[bytes]) -> None:
    reader = StreamReader("openai")
    _feed(reader, ROLE, TOKEN, TOKEN, *tail)
    tokens = 3 if tail[0] == TOKEN[:30] else 2
    assert reader.content_events == tokens and reader.lead_events == 0 and reader.terminated


def test_a_closing_chunk_that_carries_text_is_a_token() -> None:
    last = b'data: {"id":"c","choices":[{"delta":{"content":"!"},"finish_reason":"length"}]}\n\n'
    for tail in ([last], [last + USAGE]):
        reader = StreamReader("openai")
        _feed(reader, TOKEN, TOKEN, *tail, b"data: [DONE]\n\n")
        assert reader.content_events == 3


def test_anthropic_opening_events_in_the_first_tokens_read_are_lead_events() -> None:
    reader = StreamReader("anthropic")
    start = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    block = b'event: content_block_start\ndata: {"type":"content_block_start"}\n\n'
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
    _feed(reader, start + block + delta, delta)
    assert reader.lead_events == 2 and reader.content_events == 2


def test_token_times_skip_the_lead_events_of_the_first_tokens_read() -> None:
    # Role chunk + first token at 100 ms (one read), tokens at 125 and 150 ms, then the
    # closing, usage and [DONE] chunks with the last token.
    reads = [(100.0, 2), (125.0, 1), (150.0, 4)]
    r = _stream(reads, ttft=100.0, usage=3)
    r.content_events, r.lead_events = 3, 1
    assert token_times(r) == [100.0, 125.0, 150.0]
    assert stream_metrics(r).itl_ms == (25.0, 25.0)
    again = RequestRecord.from_json(json.loads(json.dumps(r.to_json())))
    assert again.lead_events == 1 and token_times(again) == token_times(r)


def test_itl_and_tpot_definitions_and_guidellms_names_for_them() -> None:
    # Two streams that started at 0 ms: tokens at fixed times (one a read), usage counted.
    a = _stream([(100.0, 1), (120.0, 1), (150.0, 1), (160.0, 1), (200.0, 2)], 100.0, usage=5)
    b = _stream([(300.0, 1), (310.0, 1), (330.0, 2)], 300.0, usage=3)
    ma, mb = stream_metrics(a), stream_metrics(b)
    # ITL: every gap between consecutive tokens, one sample each.
    assert ma.itl_ms == (20.0, 30.0, 10.0, 40.0) and mb.itl_ms == (10.0, 20.0)
    # TPOT: (last − first token) / (n − 1), the first token left out. GuideLLM calls this
    # per-request figure "ITL"; vLLM's benchmark calls it TPOT, as the probe does.
    assert ma.tpot_ms == pytest.approx(100.0 / 4) and mb.tpot_ms == pytest.approx(30.0 / 2)
    # Pooled over all gaps, the mean ITL is GuideLLM's ITL mean (weighted by n − 1).
    pooled = [*ma.itl_ms, *mb.itl_ms]
    assert sum(pooled) / len(pooled) == pytest.approx((100.0 + 30.0) / (4 + 2))
    # GuideLLM's "TPOT", (last token − request start) / n, counts the TTFT in: not the
    # probe's TPOT, and derived from its records as the last token time over n.
    assert token_times(a)[-1] / ma.output_tokens == pytest.approx(40.0) != ma.tpot_ms


@pytest.mark.timeout(120)
def test_tokens_read_off_the_gateway_match_its_usage_count(tmp_path: Path) -> None:
    # The gateway writes the role chunk with the first token and a closing chunk with an
    # empty delta after the last: neither may count as a token or as an ITL sample.
    body = (
        '{"model": "sim-1", "stream": true, "stream_options": {"include_usage": true}, '
        '"messages": [{"role": "user", "content": "hi"}], '
        '"sim": {"tokens": 8, "tps": 200, "ttft": 0.01}}'
    )
    out = tmp_path / "run.json"
    with stacks.Launcher(tmp_path / "lab") as lab:
        port = stacks.gateway(lab, heartbeat=5.0)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        args = ["probe", url, "--body", body, "--concurrency", "2", "--max-requests", "4"]
        result = runner.invoke(app, [*args, "--step-duration", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    run = Run.from_json(json.loads(out.read_text()))
    assert len(run.requests) == 4
    for r in run.requests:
        # The role chunk comes in the first token's read or just before it: either way
        # the token times start at the TTFT and hold one time per token.
        assert r.output_tokens == 8 == r.content_events and r.lead_events in (0, 1)
        times = token_times(r)
        assert len(times) == 8 and times[0] == r.ttft_ms
        assert len(stream_metrics(r).itl_ms) == 7
