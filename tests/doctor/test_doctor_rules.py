"""The doctor's decisions on synthetic observations: no network, near misses included."""

from __future__ import annotations

import pytest

from streamwarden.doctor import analysis
from streamwarden.doctor.analysis import Buffering, HeaderChanges
from streamwarden.doctor.canary import Plan
from streamwarden.doctor.card import breaks_streams, build_card, findings, render_html
from streamwarden.doctor.command import is_loopback
from streamwarden.doctor.experiments import DoctorConfig, plan_budget
from streamwarden.doctor.results import (
    BufferingResult,
    CompressionResult,
    DisconnectResult,
    HeartbeatResult,
    IdleResult,
    Measurements,
    TotalResult,
)
from streamwarden.doctor.wire import Observation
from streamwarden.findings import Severity

PLAN = Plan(events=16, size=256, every=0.025)


def _seen(pieces: list[tuple[float, int, int, int]], completed: bool = True) -> Observation:
    return Observation("x", PLAN, status=200, ttfb=0.01, pieces=pieces, completed=completed)


def test_events_one_per_read_are_not_held() -> None:
    pieces = [(0.01 + 0.025 * i, 256, 1, 0) for i in range(16)]
    assert analysis.buffering(_seen(pieces)).held is False


def test_two_events_sharing_a_read_by_chance_is_a_near_miss() -> None:
    pieces = [(0.01 + 0.05 * i, 512, 2, 0) for i in range(8)]
    assert analysis.buffering(_seen(pieces)).held is False


def test_one_stall_that_joins_a_few_events_is_a_near_miss() -> None:
    pieces = [(0.01 + 0.025 * i, 256, 1, 0) for i in range(12)] + [(0.4, 1024, 4, 0)]
    assert analysis.buffering(_seen(pieces)).held is False


def test_four_kilobyte_bursts_are_held_with_their_size() -> None:
    pieces = [(0.4 * (i + 1), 4096, 16, 0) for i in range(4)]
    result = analysis.buffering(_seen(pieces))
    assert result.held is True and not result.whole
    assert result.burst_bytes == 4096 and result.burst_units == 16


def test_everything_in_one_read_is_the_whole_response() -> None:
    result = analysis.buffering(_seen([(0.41, 4096, 16, 0)]))
    assert result.held is True and result.whole


def test_pieces_of_one_socket_read_are_grouped() -> None:
    pieces = [(0.1, 100, 1, 0), (0.1001, 100, 1, 0), (0.1002, 100, 1, 0), (0.2, 100, 1, 0)]
    assert analysis.group_reads(pieces, window=0.005) == [(0.1, 300, 3, 0), (0.2, 100, 1, 0)]


def test_an_incomplete_stream_says_nothing_about_buffering() -> None:
    assert analysis.buffering(_seen([(0.4, 4096, 16, 0)], completed=False)).held is None


def test_header_changes_against_what_the_canary_sent() -> None:
    got = {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-streamwarden-canary-id": "r1",
        "via": "1.1 proxy",
        "date": "today",
    }
    changes = analysis.header_changes(got, accel=True, request_id="r1")
    assert changes.added == {"via": "1.1 proxy"}
    assert changes.stripped == ["x-accel-buffering"]
    assert changes.changed == {"cache-control": "no-cache"}


def test_growth_pauses_double_up_to_the_most() -> None:
    assert analysis.growth_pauses(4.0) == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert analysis.growth_pauses(330.0)[-1] == 330.0
    assert len(analysis.growth_pauses(330.0)) == 9  # down to 330 / 256 = 1.3 s


def test_narrow_keeps_the_bracket_consistent_under_noise() -> None:
    trials = [(1.0, "survived"), (2.0, "cut"), (2.1, "survived"), (4.0, "cut")]
    assert analysis.narrow(0.0, None, trials) == (1.0, 2.0)  # type: ignore[arg-type]
    assert analysis.narrow(1.0, 2.0, [(1.9, "failed")]) == (1.0, 2.0)


def test_bisection_reaches_five_percent_in_two_rounds() -> None:
    lo, hi, cut = 1.0, 2.0, 1.37
    for _ in range(2):
        trials = [(p, "cut" if p >= cut else "survived") for p in analysis.bisect_pauses(lo, hi)]
        lo, hi = analysis.narrow(lo, hi, trials)  # type: ignore[arg-type,assignment]
    assert hi is not None and analysis.precise_enough(lo, hi)
    assert abs((lo + hi) / 2 - cut) <= 0.05 * cut
    assert not analysis.precise_enough(1.0, 2.0)


def test_hinted_pauses_stay_inside_the_bracket() -> None:
    assert analysis.hinted_pauses(1.0, 2.0, 1.99) == [1.871, 1.95]
    assert analysis.hinted_pauses(1.0, 2.0, 5.0) == analysis.bisect_pauses(1.0, 2.0)


def test_trial_outcomes() -> None:
    plan = analysis.idle_plan(2.0)
    cut = Observation("x", plan, status=200, ttfb=0.01, pieces=[(0.01, 40, 1, 0)], end=2.0)
    assert analysis.trial_outcome(cut) == "cut"
    assert analysis.cut_silence(cut) == pytest.approx(1.99)
    refused = Observation("x", plan, status=502, end=0.1)
    assert analysis.trial_outcome(refused) == "failed"
    mine = Observation("x", plan, status=200, end=32.0, error="client deadline (32 s)")
    assert analysis.trial_outcome(mine) == "failed"


def test_disconnect_delay_and_never() -> None:
    seen = Observation("x", PLAN, status=200, ttfb=0.02, left=0.5)
    delay, never = analysis.disconnect_delay(seen, {"disconnected_s": 0.52, "finished_s": None})
    assert delay == pytest.approx(0.03) and never is False
    assert analysis.disconnect_delay(seen, {"disconnected_s": None, "finished_s": 4.0}) == (
        None,
        True,
    )
    assert analysis.disconnect_delay(seen, None) == (None, False)


def test_admission() -> None:
    served = Observation("x", PLAN, status=200, ttfb=0.01, completed=True)
    queued = Observation("x", PLAN, status=200, ttfb=1.2, completed=True)
    refused = Observation("x", PLAN, status=503)
    assert analysis.admission(served, 0.01, 1.0) == "admitted"
    assert analysis.admission(queued, 0.01, 1.0) == "queued"
    assert analysis.admission(refused, 0.01, 1.0) == "refused"


# -- the card ---------------------------------------------------------------------------------


def _m(**fields: object) -> Measurements:
    m = Measurements(target="http://127.0.0.1/_streamwarden", started_at="now", settings={})
    for name, value in fields.items():
        setattr(m, name, value)
    return m


def _verdict(m: Measurements, line_id: str, duration: float = 120, gap: float = 30) -> str:
    card = build_card(m, expect_duration=duration, expect_gap=gap)
    return next(line.verdict for line in card if line.id == line_id)


def test_idle_timeout_under_the_gap_is_an_error_unless_heartbeats_bridge_it() -> None:
    idle = IdleResult(cut_s=20.0, lo=19.5, hi=20.5, up_to=330)
    assert _verdict(_m(idle=idle), "idle_timeout") == "error"
    beats = HeartbeatResult(interval_s=6.7, pause_s=30.0, kept_alive=True)
    assert _verdict(_m(idle=idle, heartbeat=beats), "idle_timeout") == "warning"
    no_beats = HeartbeatResult(interval_s=6.7, pause_s=30.0, kept_alive=False)
    m = _m(idle=idle, heartbeat=no_beats)
    assert _verdict(m, "idle_timeout") == "error" and _verdict(m, "heartbeat") == "error"
    # Near miss: a timeout longer than the longest silence is fine.
    assert _verdict(_m(idle=idle), "idle_timeout", gap=19.0) == "ok"


def test_total_limit_under_the_expected_duration_breaks_streams() -> None:
    total = TotalResult(cut_s=30.0, up_to=900, heartbeat_s=1.0)
    card = build_card(_m(total=total), expect_duration=120, expect_gap=30)
    assert breaks_streams(card)
    assert _verdict(_m(total=total), "total_limit", duration=25) == "warning"
    none = TotalResult(cut_s=None, up_to=60, heartbeat_s=1.0)
    assert _verdict(_m(total=none), "total_limit") == "info"  # not measured that far


def test_buffering_verdicts_with_and_without_the_header() -> None:
    held = Buffering(held=True, burst_bytes=4096, burst_units=16, sent=64, arrived=64, reads=4)
    clean = Buffering(held=False, sent=64, arrived=64, reads=64)
    plain_only = BufferingResult(plain=held, guarded=clean, comments=clean)
    card = build_card(_m(buffering=plain_only), expect_duration=120, expect_gap=30)
    line = next(line for line in card if line.id == "buffering")
    assert line.verdict == "warning" and "4.0 KB" in line.value and line.measured == 4096
    assert _verdict(_m(buffering=BufferingResult(held, held, held)), "buffering") == "error"


def test_compression_and_disconnect_lines() -> None:
    assert _verdict(_m(compression=CompressionResult("gzip", False)), "compression") == "warning"
    assert _verdict(_m(compression=CompressionResult("gzip", True, 8192)), "compression") == (
        "error"
    )
    never = DisconnectResult(delay_s=None, never=True, remaining_s=3.0)
    assert _verdict(_m(disconnect=never), "disconnect") == "warning"
    fast = DisconnectResult(delay_s=0.004, never=False)
    assert _verdict(_m(disconnect=fast), "disconnect") == "ok"


def test_lines_that_are_not_ok_are_findings() -> None:
    total = TotalResult(cut_s=30.0, up_to=900, heartbeat_s=1.0)
    fast = DisconnectResult(delay_s=0.004, never=False)
    card = build_card(_m(total=total, disconnect=fast), expect_duration=120, expect_gap=30)
    (finding,) = findings(card)
    assert finding.id == "total_limit" and finding.severity is Severity.ERROR
    assert finding.evidence == {"measured": 30.0} and "Envoy" in finding.fix


def test_a_failed_experiment_is_on_the_card() -> None:
    m = _m(errors={"total": "HTTP 502 from the path"})
    card = build_card(m, expect_duration=120, expect_gap=30)
    assert card[-1].id == "total" and "502" in card[-1].value and breaks_streams(card)


def test_html_escapes_what_the_path_sent() -> None:
    changes = HeaderChanges(added={"x-evil": "<script>"}, stripped=[], changed={})
    from streamwarden.doctor.results import ProtocolResult

    m = _m(protocol=ProtocolResult("HTTP/1.1", None, changes))
    html = render_html(m, build_card(m, 120, 30))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_plan_budget_lists_only_what_runs() -> None:
    config = DoctorConfig(url="http://127.0.0.1", token="t", only=("idle",), max_idle=4)
    assert [row[0] for row in plan_budget(config)] == ["idle"]
    assert plan_budget(config)[0][2] == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("api.example.com", False),
    ],
)
def test_loopback_hosts(host: str, local: bool) -> None:
    assert is_loopback(host) is local
