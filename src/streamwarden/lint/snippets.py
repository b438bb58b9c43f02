"""Config snippets for a streaming upstream that pass `streamwarden lint` with the defaults.

Each is a pure function of its options, so tests can lint and run exactly what users get.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamwarden.defaults import IDLE_TIMEOUT, MAX_DURATION


@dataclass(frozen=True, slots=True)
class SnippetOptions:
    upstream: str = "127.0.0.1:8000"
    listen: str = "8080"
    server_name: str = "_"
    read_timeout: int = IDLE_TIMEOUT  # idle: heartbeats keep streams under it
    max_duration: int = int(MAX_DURATION)  # total: the longest stream
    workers: int = 4


def nginx(o: SnippetOptions) -> str:
    return f"""\
# StreamWarden: nginx in front of a streaming (SSE) app. Goes inside http {{ }}.
upstream streamwarden_app {{
    server {o.upstream};
    keepalive 32;
}}

server {{
    listen {o.listen};
    server_name {o.server_name};

    location / {{
        proxy_pass http://streamwarden_app;
        proxy_http_version 1.1;            # nginx < 1.29.7 defaults to HTTP/1.0
        proxy_set_header Connection "";    # keep-alive to the app
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;

        proxy_buffering off;               # send each event as it arrives
        proxy_cache off;
        gzip off;                          # no deflate buffers in the way
        {f"proxy_read_timeout {o.read_timeout}s;":<35}# silence allowed; heartbeats stay under it
        proxy_send_timeout {o.read_timeout}s;
        send_timeout {o.read_timeout}s;
    }}
}}
"""


def haproxy(o: SnippetOptions) -> str:
    host, _, port = o.upstream.rpartition(":")
    bind = o.listen if ":" in o.listen else f"*:{o.listen}"
    return f"""\
# StreamWarden: HAProxy in front of a streaming (SSE) app.
defaults
    mode http
    option http-server-close
    timeout connect 5s
    timeout client {o.read_timeout}s     # silence allowed on either side of a stream;
    timeout server {o.read_timeout}s     # heartbeats keep streams under it
    timeout http-request 10s

frontend streamwarden_in
    bind {bind}
    default_backend streamwarden_app

backend streamwarden_app
    server app1 {host or "127.0.0.1"}:{port or "8000"}
"""


def gunicorn(o: SnippetOptions) -> str:
    return f"""\
# StreamWarden: gunicorn.conf.py for a streaming ASGI app (pip install uvicorn-worker).
bind = "{o.upstream}"
workers = {o.workers}
worker_class = "uvicorn_worker.UvicornWorker"  # one event loop holds many streams
timeout = 30                  # worker heartbeat only; async workers keep notifying
graceful_timeout = {o.max_duration + 30}        # let running streams finish on deploy
keepalive = 75                # longer than a load balancer's idle timeout (ALB: 60 s)
"""


def ingress(o: SnippetOptions) -> str:
    service, _, port = o.upstream.rpartition(":")
    return f"""\
# StreamWarden: ingress-nginx Ingress for a streaming (SSE) app.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: streamwarden
  annotations:
    nginx.ingress.kubernetes.io/proxy-buffering: "off"
    nginx.ingress.kubernetes.io/proxy-http-version: "1.1"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "{o.read_timeout}"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "{o.read_timeout}"
spec:
  ingressClassName: nginx
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {service if service and not service[0].isdigit() else "streamwarden"}
                port:
                  number: {port or "8000"}
"""


SNIPPETS = {"nginx": nginx, "haproxy": haproxy, "gunicorn": gunicorn, "ingress": ingress}
