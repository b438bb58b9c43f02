"""The official SDKs read a gateway with resume on (and heartbeats between ids) unmodified."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from gwutil import Gateway, run_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    flags = ("--resume", "--sim-ttft", "0.05", "--sim-tps", "200", "--heartbeat", "0.05")
    with run_gateway(tmp_path_factory.mktemp("sdk"), *flags) as gw:
        yield gw


# A pause of 0.3 s after token 3 puts several keepalives between events that carry ids.
SIM = {"tokens": 12, "seed": 4, "pause_after": 3, "pause": 0.3}


def test_openai_sdk(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="sim-1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_body={"sim": SIM},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    whole = client.chat.completions.create(
        model="sim-1", messages=[{"role": "user", "content": "hi"}], extra_body={"sim": SIM}
    )
    assert text and text == whole.choices[0].message.content


def test_anthropic_sdk(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with client.messages.stream(
        model="sim-1",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"sim": SIM},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.stop_reason == "end_turn"
