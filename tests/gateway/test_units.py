"""The gateway's and guard's pure parts, with numbers for a clock and explicit orderings:
deadlines, admission (including the queue hand-off race), drain, bodies, settings."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from collections.abc import MutableMapping
from typing import Any

import pytest

from streamwarden.gateway.admission import Admission, Rejected, SharedStreams
from streamwarden.gateway.body import MAX_DEPTH, BadBody, parse_json
from streamwarden.gateway.drain import Drain
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.gateway.waits import (
    ClientLeft,
    Expired,
    ShuttingDown,
    TimedItems,
    while_connected,
)
from streamwarden.guard import HEARTBEAT, Due, Outcome, StreamPolicy, Timeline
from streamwarden.upstreams.base import TextDelta, UpstreamError
from streamwarden.upstreams.sim import SimCaps, SimParams

POLICY = StreamPolicy(
    heartbeat=15, first_token_timeout=120, idle_timeout=60, max_duration=900, send_timeout=30
)


# -- deadlines: Timeline.next_deadline with plain numbers as the clock ---------------------


def test_before_the_first_token_heartbeats_come_first_then_the_first_token_deadline() -> None:
    timeline = Timeline(POLICY, started=100.0)
    assert timeline.next_deadline(100.0) == Due(115.0, HEARTBEAT)
    timeline.last_write = 115.0  # the heartbeat was written
    assert timeline.next_deadline(115.0) == Due(130.0, HEARTBEAT)
    timeline.last_write = 219.0
    assert timeline.next_deadline(219.0) == Due(220.0, Outcome.FIRST_TOKEN_TIMEOUT)


def test_a_deadline_wins_a_tie_with_a_heartbeat_and_the_total_wins_a_tie_with_first_token() -> None:
    policy = StreamPolicy(heartbeat=10, first_token_timeout=10, max_duration=10)
    assert Timeline(policy, started=0.0).next_deadline(0.0) == Due(10.0, Outcome.MAX_DURATION)
    policy = StreamPolicy(heartbeat=10, first_token_timeout=10, max_duration=None)
    assert Timeline(policy, started=0.0).next_deadline(0.0) == Due(
        10.0, Outcome.FIRST_TOKEN_TIMEOUT
    )


def test_after_the_first_token_silence_counts_from_the_last_item() -> None:
    timeline = Timeline(POLICY, started=0.0, first_item=5.0, last_item=50.0, last_write=100.0)
    assert timeline.deadline(100.0) == Due(110.0, Outcome.IDLE_TIMEOUT)
    assert timeline.next_deadline(100.0) == Due(110.0, Outcome.IDLE_TIMEOUT)
    timeline.last_item = 899.0
    assert timeline.deadline(899.0) == Due(900.0, Outcome.MAX_DURATION)


def test_a_blocked_write_brings_the_send_deadline_and_pauses_idle_and_heartbeats() -> None:
    timeline = Timeline(POLICY, started=0.0, first_item=1.0, last_item=1.0, last_write=1.0)
    timeline.sending_since = 2.0
    # Idle does not count while the pump waits on the client; the send timeout does.
    assert timeline.deadline(3.0) == Due(32.0, Outcome.SEND_TIMEOUT)
    # No heartbeat is queued behind the blocked write: look again a quarter beat later.
    assert timeline.next_deadline(3.0) == Due(3.0 + 15 / 4, None)
    assert timeline.next_deadline(31.0) == Due(32.0, Outcome.SEND_TIMEOUT)


def test_limits_turned_off_never_come_due() -> None:
    policy = StreamPolicy(
        heartbeat=None,
        first_token_timeout=None,
        idle_timeout=None,
        max_duration=None,
        send_timeout=None,
    )
    timeline = Timeline(policy, started=0.0, sending_since=1.0)
    assert timeline.next_deadline(1e9) == Due(math.inf, None)


# -- TimedItems: the same deadlines for answers the guard does not run ------------------------


class _Ticks:
    """A source whose items arrive when the test releases them."""

    def __init__(self) -> None:
        self.release = asyncio.Queue[str | None]()
        self.closed = False

    def __aiter__(self) -> _Ticks:
        return self

    async def __anext__(self) -> TextDelta:
        text = await self.release.get()
        if text is None:
            raise StopAsyncIteration
        return TextDelta(text)

    async def aclose(self) -> None:
        self.closed = True


def test_timed_items_raise_the_deadline_that_passed() -> None:
    async def main() -> None:
        now = [0.0]
        source = _Ticks()
        policy = StreamPolicy(first_token_timeout=0.05, idle_timeout=0.05, max_duration=100)
        items = TimedItems(source, policy, started=0.0, clock=lambda: now[0])
        with pytest.raises(Expired) as first:
            await items.__anext__()
        assert first.value.outcome is Outcome.FIRST_TOKEN_TIMEOUT
        source.release.put_nowait("a")
        now[0] = 0.01
        items = TimedItems(source, policy, started=0.0, clock=lambda: now[0])
        assert await items.__anext__() == TextDelta("a")
        with pytest.raises(Expired) as idle:
            await items.__anext__()
        assert idle.value.outcome is Outcome.IDLE_TIMEOUT

    asyncio.run(main())


# -- admission ---------------------------------------------------------------------------------


def test_admission_counts_slots_queue_and_keys() -> None:
    async def main() -> None:
        admission = Admission(max_streams=1, queue=0, key_max_streams=1)
        slot = await admission.acquire("k")
        with pytest.raises(Rejected) as full:
            await admission.acquire("other")
        assert full.value.status == 503
        with pytest.raises(Rejected) as per_key:
            await admission.acquire("k")
        assert per_key.value.status == 429
        slot.release()
        slot.release()  # idempotent
        assert admission.active == 0 and dict(admission.per_key) == {}

    asyncio.run(main())


def test_workers_share_one_stream_limit() -> None:
    """Two workers' admissions over one shared array (as `--workers 2` builds it): the limit
    is theirs together, a slot one frees reaches the other's queue, and a dead worker's
    count is cleared."""
    context = multiprocessing.get_context("spawn")
    cells, lock = context.RawArray("i", 2), context.Lock()

    async def main() -> None:
        one = Admission(max_streams=3, queue=1, shared=SharedStreams(cells, lock, 0, 3))
        two = Admission(max_streams=3, queue=1, shared=SharedStreams(cells, lock, 1, 3))
        held = [await one.acquire(), await one.acquire(), await two.acquire()]
        assert cells[:] == [2, 1]
        assert two.try_acquire() is None and one.try_acquire() is None
        queued = asyncio.create_task(two.acquire())
        await asyncio.sleep(0.05)
        assert two.queued == 1 and not queued.done()
        held.pop(0).release()  # freed by the other worker: found by the queue's next look
        slot = await asyncio.wait_for(queued, 2)
        assert cells[:] == [1, 2]
        slot.release()
        for other in held:
            other.release()
        assert cells[:] == [0, 0]
        await one.acquire()  # a worker that dies with a stream open...
        SharedStreams.clear(cells, lock, 0)  # ...has its count cleared by the supervisor
        assert cells[:] == [0, 0]
        # One that dies holding the lock: the others answer "full" at once, never hang...
        assert lock.acquire(timeout=1)
        started = time.monotonic()
        assert two.try_acquire() is None
        assert time.monotonic() - started < 1.0
        SharedStreams.clear(cells, lock, 0)  # ...until the supervisor frees it
        (await two.acquire()).release()
        assert cells[:] == [0, 0]

    asyncio.run(main())


def test_a_queued_request_that_is_cancelled_gives_its_place_back_at_once() -> None:
    async def main() -> None:
        admission = Admission(max_streams=1, queue=1)
        held = await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        assert admission.queued == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert admission.queued == 0
        # The place is free: the next request queues instead of hearing "server full".
        second = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        assert admission.queued == 1
        held.release()
        (await second).release()
        assert admission.active == 0

    asyncio.run(main())


def test_a_slot_handed_to_a_waiter_that_is_cancelled_goes_to_the_next_one() -> None:
    """The race: release() reserves the slot for the first waiter, which is cancelled (its
    client left) before it runs. The slot must pass on, not leak."""

    async def main() -> None:
        admission = Admission(max_streams=1, queue=2)
        held = await admission.acquire()
        first = asyncio.create_task(admission.acquire())
        second = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        assert admission.queued == 2
        held.release()  # hands the slot to `first`...
        first.cancel()  # ...which is cancelled before it could take it
        with pytest.raises(asyncio.CancelledError):
            await first
        slot = await asyncio.wait_for(second, 5)
        assert admission.active == 1 and admission.queued == 0
        slot.release()
        assert admission.active == 0

    asyncio.run(main())


def test_queue_timeout_is_a_503_and_leaves_nothing_behind() -> None:
    async def main() -> None:
        admission = Admission(max_streams=1, queue=1, queue_timeout=0.01)
        held = await admission.acquire("k")
        with pytest.raises(Rejected) as late:
            await admission.acquire("k2")
        assert late.value.status == 503 and "stayed full" in str(late.value)
        assert admission.queued == 0 and "k2" not in admission.per_key
        held.release()

    asyncio.run(main())


# -- drain ---------------------------------------------------------------------------------------


def test_drain_refuses_queued_and_new_requests_and_ends_when_streams_do() -> None:
    async def main() -> None:
        admission = Admission(max_streams=1, queue=1)
        drain = Drain(admission, timeout=60, grace=60)
        slot = await admission.acquire()
        queued = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        done = asyncio.Event()
        drain.begin(done.set)
        drain.begin(done.set)  # a second SIGTERM's begin is a no-op
        with pytest.raises(Rejected):
            await queued
        with pytest.raises(Rejected):
            await admission.acquire()
        assert drain.draining and not done.is_set()
        slot.release()  # the last stream ends: the drain is over, well before its timeout
        await asyncio.wait_for(done.wait(), 5)
        assert drain.shutdown.is_set()

    asyncio.run(main())


def test_drain_past_its_timeout_tells_streams_to_stop_then_ends_after_the_grace() -> None:
    async def main() -> None:
        admission = Admission(max_streams=1)
        drain = Drain(admission, timeout=0.01, grace=0.01)
        slot = await admission.acquire()
        done = asyncio.Event()
        drain.begin(done.set)
        await asyncio.wait_for(drain.shutdown.wait(), 5)
        await asyncio.wait_for(done.wait(), 5)  # ends although the stream never did
        slot.release()

    asyncio.run(main())


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested too deeply"),
        (b'{"sim": {"tokens": NaN}}', "finite"),
        (b'{"sim": {"tokens": -Infinity}}', "finite"),
        (b'{"temperature": 1e400}', "too large"),
        (b'{"content": "\\ud800"}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_bad_bodies_are_400s(raw: bytes, needle: str) -> None:
    with pytest.raises(BadBody) as bad:
        parse_json(raw)
    assert bad.value.status == 400 and needle in str(bad.value)


def test_good_bodies_pass_at_the_depth_limit() -> None:
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(nested) is not None
    assert parse_json('{"content": "héllo ✓ 😀"}'.encode()) == {"content": "héllo ✓ 😀"}


# -- sim caps and settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sim", "needle"),
    [
        ({"tokens": 10**9}, "--sim-max-tokens"),
        ({"tps": 0.02}, "--sim-min-tps"),
        ({"pause": 3600}, "--sim-max-pause"),
        ({"ttft": 3600}, "--sim-max-pause"),
    ],
)
def test_sim_controls_past_the_caps_are_refused(sim: dict[str, float], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        SimCaps().check(SimParams().override(sim))


def test_sim_controls_within_the_caps_and_full_speed_are_fine() -> None:
    SimCaps().check(SimParams().override({"tokens": 10_000, "tps": 0, "pause": 300}))
    with pytest.raises(ValueError, match="finite"):
        SimParams().override({"tps": math.inf})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"api_keys": ("",)}, "--api-key is empty"),
        ({"canary_token": " "}, "--canary-token is empty"),
        ({"sim_controls": "maybe"}, "--sim-controls"),
        ({"upstream": "openai"}, "--upstream-url"),
        ({"queue_timeout": 0}, "--queue-timeout"),
        ({"max_body": 0}, "--max-body"),
        ({"queue": -1}, "--queue"),
    ],
)
def test_settings_check_themselves(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        GatewaySettings(**kwargs)  # type: ignore[arg-type]


def test_sim_controls_default_to_the_sim_only() -> None:
    assert GatewaySettings().sim_controls_allowed
    real = GatewaySettings(upstream="anthropic")
    assert not real.sim_controls_allowed
    assert GatewaySettings(upstream="anthropic", sim_controls="on").sim_controls_allowed
    assert not GatewaySettings(sim_controls="off").sim_controls_allowed


# -- server exit -----------------------------------------------------------------------------


def test_exit_does_not_wait_forever_on_a_task_that_ignores_cancellation() -> None:
    """asyncio.run would wait for it forever; the gateway's server gives it a bounded wait."""
    from streamwarden.gateway.server import _cancel_leftovers

    loop = asyncio.new_event_loop()
    stop = False

    async def stubborn() -> None:
        while not stop:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                pass

    task = loop.create_task(stubborn())
    loop.run_until_complete(asyncio.sleep(0))
    _cancel_leftovers(loop, timeout=0.05)  # returns although the task is still running
    assert not task.done()
    stop = True
    loop.run_until_complete(task)
    loop.close()


# -- while_connected: a wait that watches the client ---------------------------------------


def _receive_until(left: asyncio.Event) -> Any:
    async def receive() -> dict[str, str]:
        await left.wait()
        return {"type": "http.disconnect"}

    return receive


def test_while_connected_cancels_the_wait_when_the_client_leaves() -> None:
    async def main() -> None:
        left, cancelled = asyncio.Event(), asyncio.Event()

        async def wait_forever() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()

        asyncio.get_running_loop().call_soon(left.set)
        with pytest.raises(ClientLeft):
            await while_connected(_receive_until(left), wait_forever)
        assert cancelled.is_set()

    asyncio.run(main())


def test_while_connected_stops_at_shutdown_and_passes_errors_unwrapped() -> None:
    async def main() -> None:
        never, shutdown = asyncio.Event(), asyncio.Event()
        asyncio.get_running_loop().call_soon(shutdown.set)
        with pytest.raises(ShuttingDown):
            await while_connected(_receive_until(never), asyncio.Event().wait, shutdown)

        async def fail() -> None:
            raise UpstreamError("no")

        with pytest.raises(UpstreamError):  # not an ExceptionGroup
            await while_connected(_receive_until(never), fail)

        async def answer() -> int:
            return 7

        assert await while_connected(_receive_until(never), answer) == 7

    asyncio.run(main())


def test_while_connected_lets_a_cancellation_from_outside_through() -> None:
    """Only its own cancellation becomes `ClientLeft`; one from outside stays a cancellation
    and leaves no watcher behind."""

    async def main() -> None:
        never = asyncio.Event()
        started = asyncio.Event()

        async def wait_forever() -> None:
            started.set()
            await asyncio.Event().wait()

        before = len(asyncio.all_tasks())
        task = asyncio.create_task(while_connected(_receive_until(never), wait_forever))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before

    asyncio.run(main())


def test_while_connected_reports_the_client_leaving_even_if_the_wait_swallows_it() -> None:
    async def main() -> None:
        left = asyncio.Event()

        async def stubborn() -> str:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise UpstreamError("converted") from None
            return "unreachable"

        asyncio.get_running_loop().call_soon(left.set)
        with pytest.raises(ClientLeft):
            await while_connected(_receive_until(left), stubborn)
        # The cancellation was withdrawn: later waits in this task are not cancelled.
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        await asyncio.sleep(0)

    asyncio.run(main())


def test_the_drain_signal_calls_subscribers_once_and_not_after_unsubscribing() -> None:
    async def main() -> None:
        never = asyncio.Event()
        drain = Drain(Admission(), timeout=0.01, grace=0.01)
        calls: list[str] = []
        drain.shutdown.subscribe(lambda: calls.append("a"))
        unsubscribe = drain.shutdown.subscribe(lambda: calls.append("b"))
        unsubscribe()
        # A wait watching the drain signal by subscription ends with ShuttingDown.
        asyncio.get_running_loop().call_soon(drain.shutdown.set)
        with pytest.raises(ShuttingDown):
            await while_connected(_receive_until(never), asyncio.Event().wait, drain.shutdown)
        drain.shutdown.set()
        assert calls == ["a"]
        # Set already: a new subscriber is called at once.
        drain.shutdown.subscribe(lambda: calls.append("c"))
        assert calls == ["a", "c"]

    asyncio.run(main())


def test_middleware_added_to_the_gateway_app_sees_the_streaming_endpoints() -> None:
    """The streaming endpoints skip Starlette's own layers, but never middleware a user
    added to the app."""
    from starlette.types import Receive, Scope, Send

    from streamwarden.gateway.app import create_app

    seen: list[str] = []

    class Record:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    async def main() -> int:
        app = create_app(GatewaySettings())
        app.add_middleware(Record)
        body = b'{"model":"sim-1","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if not messages:
                await asyncio.Event().wait()  # the client stays
            return messages.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
        }
        await app(scope, receive, send)
        return int(sent[0]["status"])

    assert asyncio.run(main()) == 200
    assert seen == ["/v1/chat/completions"]
