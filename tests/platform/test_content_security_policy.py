"""Content-Security-Policy on every page, and no inline script, style or handler anywhere.

The crawl starts from the home page and the admin index with the demo data loaded, follows
every same-site link (GET pages only) and checks each HTML answer.
"""

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from cxhub.roles import ADMIN, AGENT, MARKETER

pytestmark = pytest.mark.django_db

SKIP_PATHS = ("/accounts/logout/", "/static/", "/api/v1/", "/v1/", "/hooks/")
SKIP_SUFFIXES = (".csv", "/delete/", "/history/")
# Enough to reach every kind of page (list, detail, change form, fragments) without walking
# every demo row; several links of one pattern are visited up to PER_PATTERN times.
MAX_PAGES = 260
PER_PATTERN = 1


class _InlineFinder(HTMLParser):
    def __init__(self, nonce: str | None):
        super().__init__()
        self.nonce = nonce
        self.problems: list[str] = []
        self.links: list[str] = []
        self._in_inline: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline event handler")
            if name == "style":
                self.problems.append(f"<{tag} style=…> inline style attribute")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        data_block = tag == "script" and attrs.get("type") == "application/json"  # never executed
        inline = tag in ("script", "style") and not attrs.get("src") and not data_block
        if inline and not (self.nonce and attrs.get("nonce") == self.nonce):
            self._in_inline = tag
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_data(self, data):
        if self._in_inline and data.strip():
            self.problems.append(f"inline <{self._in_inline}>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == self._in_inline:
            self._in_inline = None


def _policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


def _check_page(path: str, response) -> tuple[list[str], list[str]]:
    policy = _policy(response)
    problems = []
    if not policy:
        return [f"{path}: no Content-Security-Policy header"], []
    for directive in ("script-src", "style-src"):
        sources = policy.get(directive, policy.get("default-src", []))
        if "'unsafe-inline'" in sources or "'unsafe-eval'" in sources:
            problems.append(f"{path}: {directive} allows {sources}")
    if policy.get("default-src") != ["'self'"] or policy.get("object-src") != ["'none'"]:
        problems.append(f"{path}: weak policy {policy}")
    nonce = None
    for source in policy.get("script-src", []):
        match = re.fullmatch(r"'nonce-([^']+)'", source)
        if match:
            nonce = match.group(1)
    finder = _InlineFinder(nonce)
    finder.feed(response.content.decode())
    problems += [f"{path}: {problem}" for problem in finder.problems]
    return problems, finder.links


def _pattern(path: str) -> str:
    return re.sub(r"\d+", "N", urlsplit(path).path)


def _crawl(client: Client, starts: list[str]) -> tuple[list[str], set[str]]:
    queue = list(starts)
    seen: set[str] = set()
    per_pattern: dict[str, int] = {}
    problems: list[str] = []
    checked: set[str] = set()
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code in (301, 302):
            continue
        assert response.status_code < 500, f"{path}: {response.status_code}"
        if "text/html" not in response.get("Content-Type", ""):
            continue
        page_problems, links = _check_page(path, response)
        problems += page_problems
        checked.add(path)
        for link in links:
            url = urljoin(path, link)
            parts = urlsplit(url)
            if parts.netloc and parts.netloc != "testserver":
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target.startswith(SKIP_PATHS) or parts.path.endswith(SKIP_SUFFIXES) or target in seen:
                continue
            pattern = _pattern(target)
            if per_pattern.get(pattern, 0) >= PER_PATTERN:
                continue
            per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
            queue.append(target)
    return problems, checked


@pytest.fixture
def demo_data():
    from django.core.management import call_command

    from metrics.models import SurveyInvitation

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return SurveyInvitation.objects.filter(status="sent").order_by("pk").first()


def test_every_page_sends_a_strict_policy_and_has_no_inline_code(client, make_user, demo_data):
    client.force_login(make_user(ADMIN))
    problems, checked = _crawl(client, ["/", "/admin/", "/customers/?q=ann", "/api/docs/"])
    # The pages that have no link to them from a logged-in page.
    anonymous = Client()
    for path in ["/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/"] + (
        [f"/s/{_token(demo_data)}/"] if demo_data is not None else []
    ):
        response = anonymous.get(path)
        assert response.status_code == 200, path
        page_problems, _ = _check_page(path, response)
        problems += page_problems
        checked.add(path)
    for role in (AGENT, MARKETER):
        other = Client()
        other.force_login(make_user(role))
        more, seen = _crawl(other, ["/"])
        problems += more
        checked |= seen
    assert not problems, "\n".join(problems)
    patterns = {_pattern(path) for path in checked}
    # The crawl really reached the product's pages, not just the home page.
    for expected in (
        "/",
        "/customers/N/",
        "/segments/",
        "/segments/N/",
        "/journeys/exceptions/",
        "/metrics/",
        "/metrics/cases/",
        "/admin/",
        "/admin/segments/segment/N/change/",
        "/admin/customers/customer/",
        "/api/docs/",
        "/accounts/login/",
    ):
        assert expected in patterns, f"{expected} not reached; reached {sorted(patterns)}"


def _token(invitation) -> str:
    from metrics.services.invitations import make_token

    return make_token(invitation)


def test_swagger_ui_start_up_script_is_a_separate_response(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    match = re.search(r'<script src="([^"]*\?[^"]*script=[^"]*)"', page.content.decode())
    assert match, page.content.decode()
    script = client.get(match.group(1).replace("&amp;", "&"))
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_docs_with_a_bearer_token_render(db):
    from cxhub.services import create_api_client

    token = create_api_client(name="docs-reader", scopes=["customers:read"]).token
    response = Client().get("/api/docs/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content


def test_production_settings_put_the_schema_and_docs_behind_a_login():
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "s = c.get('/api/schema/', secure=True)\n"
        "d = c.get('/api/docs/', secure=True)\n"
        "print(s.status_code, d.status_code, d.get('Location', ''))\n"
    )
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="cxhub.settings_production", SECRET_KEY=secrets.token_urlsafe(60)
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    schema_status, docs_status, location = (result.stdout.strip().splitlines()[-1].split(" ") + [""])[:3]
    assert schema_status in ("401", "403")
    assert docs_status == "302" and location.startswith("/accounts/login/?next=/api/docs/")
