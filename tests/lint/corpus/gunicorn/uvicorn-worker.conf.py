# gunicorn running FastAPI with the old uvicorn worker path.
bind = "0.0.0.0:8000"
workers = 4
worker_class = "uvicorn.workers.UvicornWorker"  # expect: gunicorn/deprecated-uvicorn-worker
graceful_timeout = 60  # expect: gunicorn/graceful-timeout
keepalive = 5  # expect: gunicorn/keepalive
