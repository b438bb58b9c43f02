"""The doctor through the lab's real stacks, at the lab's time scale (60 s -> 2 s).

Each test puts the canary (uvicorn, a real socket) behind one real hop and checks that the
doctor measures what that hop is configured to do.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from doctor_helpers import TOKEN, canary, haproxy, measure, nginx, url

from streamwarden.cli import main
from streamwarden.doctor.card import build_card
from streamwarden.doctor.results import Measurements
from streamwarden.lab import stacks
from streamwarden.lab.stacks import Launcher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _within(measured: float | None, expected: float, tolerance: float = 0.10) -> bool:
    return measured is not None and abs(measured - expected) <= tolerance * expected


def test_direct_to_the_canary_gives_a_clean_card(
    app_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = url(app_port)
    out_json, out_html = tmp_path / "card.json", tmp_path / "card.html"
    with pytest.raises(SystemExit) as exited:
        main(
            [
                *("doctor", target, "--token", TOKEN, "--max-idle", "1", "--max-total", "1.5"),
                *("--expect-gap", "0.8", "--expect-duration", "1.2", "--max-concurrency", "4"),
                *("--json", str(out_json), "--html", str(out_html)),
            ]
        )
    card = json.loads(out_json.read_text())
    bad = [line for line in card["card"] if line["verdict"] not in ("ok", "info")]
    assert exited.value.code == 0, (bad, card["measurements"])
    verdicts = {line["id"]: line["verdict"] for line in card["card"]}
    assert {"protocol", "headers", "buffering", "comments", "compression"} <= set(verdicts)
    assert {"idle_timeout", "total_limit", "disconnect", "concurrency"} <= set(verdicts)
    assert all(v in ("ok", "info") for v in verdicts.values()), card["card"]
    assert verdicts["buffering"] == verdicts["idle_timeout"] == verdicts["total_limit"] == "ok"
    assert card["measurements"]["concurrency"]["admitted"] == 4
    # The saved measurements re-render the same card, without running anything again.
    again = build_card(Measurements.from_json(card["measurements"]), 1.2, 0.8)
    assert [line.as_json() for line in again] == card["card"]
    html = out_html.read_text()
    assert "streamwarden doctor" in html and "idle timeout" in html and "Clean" in html
    err = capsys.readouterr().err
    assert "at most" in err and "concurrency: 4 at once" in err  # the plan, then progress


def test_nginx_read_timeout_is_measured_within_ten_percent(lab: Launcher, app_port: int) -> None:
    front = nginx(lab, app_port, "proxy_read_timeout 2s;")
    m = measure(url(front), "idle", "heartbeat", max_idle=4.0)
    assert m.idle is not None, m.errors
    assert _within(m.idle.cut_s, 2.0), m.idle
    assert m.idle.hi is not None and (m.idle.hi - m.idle.lo) / 2 <= 0.05 * m.idle.cut_s
    # nginx resets its read timer on any byte: comments every cut/3 bridge a longer pause.
    assert m.heartbeat is not None and m.heartbeat.kept_alive is True, m.heartbeat


def test_haproxy_timeout_server_is_measured_within_ten_percent(
    lab: Launcher, app_port: int
) -> None:
    front = haproxy(lab, app_port, timeout_server=2.0)
    m = measure(url(front), "idle", max_idle=4.0)
    assert m.idle is not None, m.errors
    assert _within(m.idle.cut_s, 2.0), m.idle


def test_quick_stops_at_the_first_cut(lab: Launcher, app_port: int) -> None:
    front = haproxy(lab, app_port, timeout_server=2.0)
    m = measure(url(front), "idle", max_idle=4.0, quick=True)
    assert m.idle is not None and m.idle.quick, m.errors
    assert len(m.idle.trials) == 5  # the growth round only: 0.25 .. 4 s
    assert _within(m.idle.cut_s, 2.0, 0.25), m.idle


def test_total_time_limiter_is_measured_within_ten_percent(lab: Launcher, app_port: int) -> None:
    front = stacks.total_time_limiter(lab, app_port, cut_after=3.0)
    m = measure(url(front), "total", "idle", max_idle=4.0, max_total=5.0)
    assert m.total is not None, m.errors
    assert _within(m.total.cut_s, 3.0), m.total
    # The 4 s pause was cut at 3 s too, by the same limit: not an idle timeout.
    assert m.idle is not None and m.idle.cut_s is None, m.idle
    assert m.idle.total_limit_s is not None


def test_default_nginx_buffers_a_close_delimited_app_in_bursts(lab: Launcher) -> None:
    # h11 answers nginx's HTTP/1.0 request close-delimited: that is what nginx buffers.
    front = nginx(lab, canary(lab, http="h11"))
    m = measure(url(front), "buffering")
    assert m.buffering is not None, m.errors
    plain = m.buffering.plain
    assert plain.held is True and plain.burst_bytes is not None, plain
    assert 2000 <= plain.burst_bytes <= 8192, plain
    # X-Accel-Buffering: no (what the guard sends) turns nginx's buffering off.
    assert m.buffering.guarded.held is False, m.buffering.guarded


def test_nginx_gzip_on_event_streams_is_reported(lab: Launcher, app_port: int) -> None:
    front = nginx(lab, app_port, "gzip on;\ngzip_types text/event-stream;")
    m = measure(url(front), "compression")
    assert m.compression is not None, m.errors
    assert m.compression.encoding == "gzip"


def test_nginx_connection_limit_is_the_concurrency(lab: Launcher, app_port: int) -> None:

    try:
        front = stacks.nginx_with(
            lab,
            lambda port: (
                f"""
    limit_conn_zone $binary_remote_addr zone=perip:1m;
    server {{
        listen {stacks.HOST}:{port};
        location / {{
            proxy_pass http://{stacks.HOST}:{app_port};
            limit_conn perip 4;
        }}
    }}
"""
            ),
        )
    except stacks.MissingBinary:
        pytest.skip("nginx is not installed")
    m = measure(
        url(front),
        *("concurrency", "headers", "buffering", "compression", "disconnect"),
        max_idle=2.0,
        max_concurrency=8,
    )
    assert m.concurrency is not None, m.errors
    assert (m.concurrency.admitted, m.concurrency.limited_at) == (4, 8), m.concurrency
    assert m.concurrency.how == "refused"  # nginx answers 503 past limit_conn
    # Six streams would run at once next; the doctor keeps to the four the path admits.
    assert m.errors == {}
    assert m.buffering is not None and m.buffering.guarded.held is False


# -- disconnect propagation -----------------------------------------------------------------


@contextmanager
def stubborn_relay(upstream: int) -> Iterator[int]:
    """A TCP relay that never tells the upstream when the client leaves.

    It keeps reading the upstream's answer (and dropping it) until the upstream ends it, as
    a proxy with `proxy_ignore_client_abort on` or a careless sidecar does.
    """
    listener = socket.create_server((stacks.HOST, 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    threads: list[threading.Thread] = []
    held: list[socket.socket] = []

    def pipe(src: socket.socket, dst: socket.socket, keep_reading: bool) -> None:
        while not stop.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                if not keep_reading:
                    return

    def serve(client: socket.socket) -> None:
        with client, socket.create_connection((stacks.HOST, upstream)) as up:
            held.append(up)
            up.settimeout(30)
            to_up = threading.Thread(target=pipe, args=(client, up, False), daemon=True)
            to_up.start()
            pipe(up, client, keep_reading=True)  # the client leaving does not stop this

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=serve, args=(client,), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield port
    finally:
        stop.set()
        for sock in [listener, *held]:  # the upstream keeps idle connections open
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)


def test_disconnect_reaches_the_canary_directly_and_through_nginx(
    lab: Launcher, app_port: int
) -> None:

    for target in (url(app_port), url(nginx(lab, app_port))):
        m = measure(target, "disconnect", max_idle=2.0)
        assert m.disconnect is not None, m.errors
        assert not m.disconnect.never and m.disconnect.delay_s is not None
        assert m.disconnect.delay_s < 0.5, (target, m.disconnect)


def test_disconnect_through_a_relay_that_keeps_the_upstream_is_never(app_port: int) -> None:
    with stubborn_relay(app_port) as port:
        m = measure(url(port), "disconnect", max_idle=2.0)
    assert m.disconnect is not None, m.errors
    assert m.disconnect.never and m.disconnect.delay_s is None, m.disconnect
