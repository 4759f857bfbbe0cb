"""OpenAPI schema: every operation under one tag per resource family, so Swagger UI groups them."""

from drf_spectacular.openapi import AutoSchema

from .tags import tag_for


class CxHubAutoSchema(AutoSchema):
    def get_tags(self) -> list[str]:
        return [tag_for(self.path, self.view)]
