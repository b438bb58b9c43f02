#!/bin/sh
set -e
python manage.py collectstatic --noinput
exec gunicorn -w 2 -t 30 --bind 0.0.0.0:8000 myproject.wsgi:application  # expect: gunicorn/sync-worker, gunicorn/timeout, gunicorn/graceful-timeout
