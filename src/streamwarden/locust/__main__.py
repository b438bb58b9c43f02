"""`python -m streamwarden.locust --path`: print the locustfile's path, for `locust -f`."""

from __future__ import annotations

import sys

from streamwarden.locust import LOCUSTFILE


def main(argv: list[str]) -> int:
    if argv != ["--path"]:
        print(
            "usage: python -m streamwarden.locust --path  (then: locust -f <that path> …)",
            file=sys.stderr,
        )
        return 2
    print(LOCUSTFILE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
