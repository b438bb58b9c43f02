# expect: gunicorn/sync-worker, gunicorn/graceful-timeout
# A Flask app's gunicorn config from a deployment guide.
import multiprocessing

bind = "0.0.0.0:8000"
workers = multiprocessing.cpu_count() * 2 + 1
timeout = 120  # expect: gunicorn/timeout
accesslog = "-"
