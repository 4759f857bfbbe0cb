"""The OpenAPI tags: one per resource family (kept free of imports so settings can read them)."""

# Tags in the order Swagger UI shows them, with the line it prints under each.
TAGS = [
    {"name": "customers", "description": "Profiles, identity resolution, merges, consents, timelines."},
    {"name": "interactions", "description": "Ingest and read interactions on every channel."},
    {"name": "segments", "description": "Segment rules, preview, recompute, members, movements, KPIs."},
    {"name": "journeys", "description": "Journey definitions, instances, exceptions and analytics."},
    {"name": "metrics", "description": "Surveys and responses, NPS/CES/CSAT, follow-up cases, scores."},
    {"name": "tracking", "description": "Track/identify-compatible endpoints (write-key HTTP Basic)."},
    {"name": "outreach", "description": "Messages through the one gateway; campaigns, holdouts, results."},
]

# First path part after /api/v1/ → tag, where the part is not itself a tag name.
PATH_TAGS = {
    "surveys": "metrics",
    "follow-up-cases": "metrics",
    "models": "metrics",
}
API_PREFIX = "/api/v1/"
TRACKING_PREFIX = "/v1/"


def tag_for(path: str, view) -> str:
    """The tag of the operation at ``path``: its resource family, else the app that serves it."""
    if path.startswith(TRACKING_PREFIX):
        return "tracking"
    if path.startswith(API_PREFIX):
        first = path[len(API_PREFIX) :].split("/", 1)[0]
        known = {tag["name"] for tag in TAGS}
        if first in known:
            return first
        if first in PATH_TAGS:
            return PATH_TAGS[first]
    return type(view).__module__.split(".", 1)[0]
