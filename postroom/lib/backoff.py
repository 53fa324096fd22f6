"""Exponential back-off with jitter, for anything retried against a remote server."""

import random


def backoff_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after `failures` failures in a row (1 -> base, doubling up to cap).

    The jitter (a fraction, e.g. 0.25) spreads the retries of many clients that failed
    together, so that a recovering server is not hit by all of them at once.
    """
    delay = min(cap, base * 2 ** max(failures - 1, 0))
    return delay * random.uniform(1 - jitter, 1 + jitter)
