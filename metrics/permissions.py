"""Who may do what with follow-up cases: one table for the pages and the API.

Each action names the API scope it needs. API clients hold scopes directly; signed-in users
hold the scopes of their roles (``cxhub.roles.ROLE_SCOPES``), so a new role gets case rights
by listing these scopes there, and the pages and endpoints follow without further change.
"""

CASES_READ = "cases:read"
CASES_WRITE = "cases:write"

CASE_ACTION_SCOPES: dict[str, str] = {
    "list": CASES_READ,  # GET /api/v1/follow-up-cases/, /metrics/cases/, home panel
    "view": CASES_READ,  # /metrics/cases/<id>/
    "assign": CASES_WRITE,  # POST /metrics/cases/<id>/assign/
    "close": CASES_WRITE,  # POST /metrics/cases/<id>/close/, POST /api/v1/follow-up-cases/<id>/close/
}
