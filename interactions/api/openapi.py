"""OpenAPI security schemes for the API's authenticators (imported in InteractionsConfig.ready).

Without them drf-spectacular warns on every view, which fails ``check --deploy --fail-level WARNING``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "cxhub.api.authentication.BearerTokenAuthentication"
    name = "bearerToken"
    priority = -1  # a platform-provided extension, if any, wins

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "API client token (create_api_client)."}


class WriteKeyScheme(OpenApiAuthenticationExtension):
    target_class = "cxhub.api.authentication.WriteKeyAuthentication"
    name = "writeKey"
    priority = -1

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "Write key as user name, empty password."}
