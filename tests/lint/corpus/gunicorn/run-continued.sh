#!/bin/bash
# A command split over lines is reported at its first line.
# expect-next: gunicorn/sync-worker, gunicorn/graceful-timeout, container/shell-in-front
gunicorn --workers 3 \
    --timeout 0 \
    app:app
