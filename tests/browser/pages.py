"""Every page of the app, for tests that must visit them all (the phone-width walk).

Pages are found by walking the URL configuration, so a page added later is visited without
touching the test; a page whose URL takes parameters needs a sample here (the fast test
``test_every_page_with_parameters_has_a_sample`` fails until it has one). Admin pages are listed
from the admin site's registry.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Prefixes that are not pages: the API, tracking, files, probes, and sign-out (a POST).
NOT_PAGES = ("admin/", "api/", "v1/", "static/", "media/", "healthz", "readyz", "accounts/logout/")

# Views that only take POST (a GET answers 405): nothing to look at.
POST_ONLY = {
    "customers:log_interaction",
    "journeys:assign_to_me",
    "journeys:bulk",
    "journeys:resolve",
    "journeys:task_done",
    "metrics:case-assign",
    "metrics:case-close",
    "outreach:provider-callback",
    "segments:add_to_list",
    "segments:remove_from_list",
}


@dataclass(frozen=True)
class Page:
    name: str
    route: str
    converters: tuple[str, ...]


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[Page]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            if route.lstrip("^").startswith(NOT_PAGES) or entry.name is None:
                continue
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield Page(name=name, route=route, converters=tuple(entry.pattern.converters))


def app_pages() -> list[Page]:
    """The app's own pages (not the admin, the API or tracking), each once."""
    seen: dict[str, Page] = {}
    for page in _walk(get_resolver().url_patterns):
        seen.setdefault(page.name, page)
    return list(seen.values())


def pages_needing_samples(samples: dict[str, Callable]) -> list[str]:
    return sorted(
        page.name
        for page in app_pages()
        if (page.converters or "<" in page.route) and page.name not in samples and page.name not in POST_ONLY
    )


def page_paths(samples: dict[str, Callable]) -> list[str]:
    """Paths to open: every GET page, parameters filled from ``samples`` (name → kwargs factory)."""
    paths = []
    for page in app_pages():
        if page.name in POST_ONLY:
            continue
        kwargs = samples[page.name]() if page.name in samples else {}
        if kwargs is None:
            continue  # a sample may say there is nothing to show (e.g. no object of that kind)
        paths.append(reverse(page.name, kwargs=kwargs))
    return paths


def admin_paths() -> list[str]:
    """The admin index, every model's list and add page, and one change page when a row exists."""
    paths = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        paths.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        paths.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            paths.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    return paths
