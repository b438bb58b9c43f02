"""The probe on Locust: a Locust user that records the probe's per-read timelines.

    locust -f $(python -m streamwarden.locust --path) --master --host http://… --sw-path /v1/…
    locust -f $(python -m streamwarden.locust --path) --worker --master-host …
    streamwarden probe URL --engine locust --workers 2   # a local master and 2 workers

Importing this package does not import Locust (which patches the standard library with
gevent on import): the user class lives in `locustfile.py`, loaded by Locust itself.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LOCUSTFILE"]

#: The locustfile to give `locust -f`.
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
