from rest_framework.throttling import SimpleRateThrottle

from .authentication import ApiClientUser


class ApiClientRateThrottle(SimpleRateThrottle):
    """Per-client rate limit; a client's own ``throttle_rate`` overrides the default."""

    scope = "api_client"

    def allow_request(self, request, view):
        if isinstance(request.user, ApiClientUser) and request.user.client.throttle_rate:
            self.rate = request.user.client.throttle_rate
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if isinstance(request.user, ApiClientUser):
            ident = f"client-{request.user.client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
