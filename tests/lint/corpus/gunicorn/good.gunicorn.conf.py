bind = "0.0.0.0:8000"
workers = 4
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 930
keepalive = 75
