"""The official OpenAI and Anthropic SDKs, streaming from a real gateway process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gwutil import Gateway, run_gateway

KEYS = ("--api-key", "k-good", "--api-key", "k-limited", "--key-max-streams", "1")
SIM = ("--sim-ttft", "0.05", "--sim-tps", "200", "--heartbeat", "0.1")


@pytest.fixture(scope="module", params=["sim", "chain"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """`sim`: the embedded model, every protocol framed by the gateway. `chain`: a gateway with
    `--upstream openai` in front of a sim gateway, so the OpenAI SDK reads the pass-through
    relay (the upstream's event bytes as they came) and the Anthropic SDK the translation."""
    tmp = tmp_path_factory.mktemp("gw")
    if request.param == "sim":
        with run_gateway(tmp, *SIM, *KEYS) as gw:
            yield gw
        return
    with run_gateway(tmp, *SIM) as upstream:
        # The tests steer the sim behind the front gateway, so it must pass `sim` on.
        front = (
            *("--upstream", "openai", "--upstream-url", upstream.url, "--heartbeat", "0.1"),
            *("--sim-controls", "on"),
        )
        with run_gateway(tmp, *front, *KEYS) as gw:
            yield gw


def sim_text(gateway: Gateway, tokens: int, seed: int) -> str:
    """The sim's full answer, read without an SDK: the reference text."""
    body = {
        "model": "sim-1",
        "messages": [{"role": "user", "content": "x"}],
        "sim": {"tokens": tokens, "seed": seed},
    }
    r = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers={"x-api-key": "k-good"}, timeout=10
    )
    return str(r.json()["choices"][0]["message"]["content"])


def test_openai_sdk_streams_the_full_text_through_heartbeats(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k-good", max_retries=0)
    # A pause 4x the heartbeat puts comments between tokens: the SDK must not care.
    stream = client.chat.completions.create(
        model="sim-1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"sim": {"tokens": 12, "seed": 5, "pause_after": 4, "pause": 0.4}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == sim_text(gateway, 12, 5)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_anthropic_sdk_streams_the_full_text_through_heartbeats(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k-good", max_retries=0)
    with client.messages.stream(
        model="sim-1",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"sim": {"tokens": 12, "seed": 5, "pause_after": 4, "pause": 0.4}},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == sim_text(gateway, 12, 5)
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 12


def test_non_streaming_answers_match_streaming(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k-good", max_retries=0)
    done = client.chat.completions.create(
        model="sim-1",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"sim": {"tokens": 7, "seed": 1}},
    )
    assert done.choices[0].message.content == sim_text(gateway, 7, 1)
    aclient = anthropic.Anthropic(base_url=gateway.url, api_key="k-good", max_retries=0)
    message = aclient.messages.create(
        model="sim-1",
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"sim": {"tokens": 7, "seed": 1}},
    )
    assert message.content[0].text == sim_text(gateway, 7, 1)  # type: ignore[union-attr]


def test_sdks_raise_auth_errors(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="sim-1", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    aclient = anthropic.Anthropic(base_url=gateway.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        aclient.messages.create(
            model="sim-1", max_tokens=5, messages=[{"role": "user", "content": "hi"}], stream=True
        )


def test_sdks_raise_rate_limit_on_the_per_key_limit(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k-limited", max_retries=0)
    held = client.chat.completions.create(
        model="sim-1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"sim": {"tokens": 3, "pause_after": 1, "pause": 3}},
    )
    next(iter(held))  # the first stream is open and holds the key's only slot
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="sim-1", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert caught.value.response.headers["retry-after"] == "1"
        aclient = anthropic.Anthropic(base_url=gateway.url, api_key="k-limited", max_retries=0)
        with pytest.raises(anthropic.RateLimitError):
            aclient.messages.create(
                model="sim-1",
                max_tokens=5,
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
    finally:
        held.close()


def test_sdks_raise_on_a_mid_stream_upstream_error(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k-good", max_retries=0)
    stream = client.chat.completions.create(
        model="sim-1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"sim": {"tokens": 10, "fail_after": 3}},
    )
    with pytest.raises(openai.APIError, match="simulated upstream failure"):
        list(stream)
    aclient = anthropic.Anthropic(base_url=gateway.url, api_key="k-good", max_retries=0)
    with pytest.raises(anthropic.APIStatusError, match="simulated upstream failure"):
        with aclient.messages.stream(
            model="sim-1",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"sim": {"tokens": 10, "fail_after": 3}},
        ) as s:
            list(s.text_stream)


def test_sdks_raise_overloaded_when_the_server_is_full(tmp_path: Path) -> None:
    with run_gateway(tmp_path, "--max-streams", "1", "--queue", "0", "--sim-ttft", "0") as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
        held = client.chat.completions.create(
            model="sim-1",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_body={"sim": {"tokens": 3, "pause_after": 1, "pause": 3}},
        )
        next(iter(held))
        try:
            with pytest.raises(openai.InternalServerError) as caught:
                client.chat.completions.create(
                    model="sim-1", messages=[{"role": "user", "content": "hi"}], stream=True
                )
            assert caught.value.status_code == 503
            aclient = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0)
            with pytest.raises(anthropic.InternalServerError) as acaught:
                aclient.messages.create(
                    model="sim-1",
                    max_tokens=5,
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                )
            assert acaught.value.status_code == 503
            assert acaught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        finally:
            held.close()
