import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import SimpleRateThrottle

from .authentication import ApiClientUser

logger = logging.getLogger("cxhub.api")

# While the shared cache (Redis) is unreachable, each process counts requests in its own memory:
# the limit still holds per process instead of every API call failing. Retried after a pause.
LOCAL_FALLBACK = LocMemCache("cxhub-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
RETRY_SHARED_CACHE_AFTER = 30.0
_shared_cache_down_until = 0.0


def _cache_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        import redis

        errors.append(redis.exceptions.RedisError)
    except ImportError:  # the laptop install has no Redis client in use
        pass
    return tuple(errors)


CACHE_ERRORS = _cache_errors()


class ApiClientRateThrottle(SimpleRateThrottle):
    """Per-client rate limit; a client's own ``throttle_rate`` overrides the default.

    Counters live in the shared cache; when it is down the throttle degrades to a per-process
    limit (same rate) and tries the shared cache again after ``RETRY_SHARED_CACHE_AFTER`` seconds.
    """

    scope = "api_client"

    def allow_request(self, request, view):
        global _shared_cache_down_until
        if isinstance(request.user, ApiClientUser) and request.user.client.throttle_rate:
            self.rate = request.user.client.throttle_rate
            self.num_requests, self.duration = self.parse_rate(self.rate)
        if time.monotonic() < _shared_cache_down_until:
            self.cache = LOCAL_FALLBACK
            return super().allow_request(request, view)
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            _shared_cache_down_until = time.monotonic() + RETRY_SHARED_CACHE_AFTER
            logger.warning("Throttle cache unreachable (%s); counting in this process for now.", exc)
            self.cache = LOCAL_FALLBACK
            return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if isinstance(request.user, ApiClientUser):
            ident = f"client-{request.user.client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
