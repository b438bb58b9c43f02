#!/usr/bin/env bash
# Clean: uvicorn with keep-alive above the ALB's 60 s and a bounded drain.
exec python -m uvicorn app.main:app --host 0.0.0.0 --timeout-keep-alive 75 --timeout-graceful-shutdown 920
