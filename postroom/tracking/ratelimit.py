"""Loads per minute per IP address on the public endpoints, counted in Django's cache.

A fixed one-minute window per address (cache.add, then cache.incr). With the default
local-memory cache each web process counts on its own, so N processes let an address
through N times the limit: the limit protects the database from a flood, it is not an
exact quota. A shared cache (Redis) in CACHES makes it exact across processes.
"""

import time

from django.conf import settings
from django.core.cache import cache


def allowed(ip: str) -> bool:
    limit = settings.POSTROOM["TRACKING_RATE_PER_MINUTE"]
    if not limit:
        return True
    key = f"postroom:tracking:{ip}:{int(time.time() // 60)}"
    if cache.add(key, 1, timeout=90):
        return True
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=90)
        return True
