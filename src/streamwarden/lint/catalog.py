"""Every rule id with one line on what it catches (SARIF rule metadata, docs)."""

from __future__ import annotations

RULES: dict[str, str] = {
    "nginx/proxy-buffering": "nginx buffers the proxied response, so events arrive in bursts",
    "nginx/ignores-accel-buffering": "nginx ignores the app's X-Accel-Buffering: no",
    "nginx/read-timeout": "nginx proxy_read_timeout cuts a stream during a pause",
    "nginx/http-version": "nginx proxies with HTTP/1.0",
    "nginx/gzip-event-stream": "nginx gzips text/event-stream",
    "nginx/proxy-headers-hidden": "a block's own proxy_set_header drops the inherited ones",
    "nginx/missing-include": "an include names a file that was not found",
    "gunicorn/sync-worker": "a sync or threaded worker holds one stream per process or thread",
    "gunicorn/deprecated-uvicorn-worker": "uvicorn.workers.UvicornWorker is deprecated",
    "gunicorn/timeout": "the sync worker is killed after timeout, mid-stream",
    "gunicorn/graceful-timeout": "deploys cut streams after graceful_timeout",
    "gunicorn/keepalive": "keep-alive shorter than the load balancer's idle timeout (502s)",
    "uvicorn/keepalive": "keep-alive shorter than the load balancer's idle timeout (502s)",
    "uvicorn/graceful-shutdown": "no bound on draining streams at shutdown",
    "haproxy/timeout-server": "HAProxy timeout server cuts a stream during a pause",
    "haproxy/timeout-client": "HAProxy timeout client cuts a stream during a pause",
    "ingress/proxy-buffering": "ingress-nginx buffers the response",
    "ingress/read-timeout": "ingress-nginx proxy-read-timeout cuts a stream during a pause",
    "envoy/route-timeout": "Envoy's route timeout (15 s default) ends the whole stream",
    "envoy/idle-timeout": "Envoy's route idle_timeout cuts a stream during a pause",
    "aws-alb/idle-timeout": "the ALB idle timeout cuts a stream during a pause",
    "gcp-lb/backend-timeout": "the GCP backend timeout (30 s default) ends the whole stream",
}
