"""The vocabulary of generated data: people, channels, journeys, verbatims.

Everything here is fixed data or derived deterministically from a seed, so the
generator can be re-run anywhere and produce the same rows.
"""

import unicodedata
from dataclasses import dataclass

from faker import Faker

# (code, name, country, currency, share of customers whose home unit it is)
BUSINESS_UNITS = (
    ("retail", "Retail stores", "GB", "GBP", 0.50),
    ("telecom", "Telecom", "FR", "EUR", 0.30),
    ("energy", "Energy", "DE", "EUR", 0.20),
)
UNIT_CODES = tuple(u[0] for u in BUSINESS_UNITS)
UNIT_WEIGHTS = tuple(u[4] for u in BUSINESS_UNITS)
EXTERNAL_ID_PREFIX = {"retail": "R", "telecom": "T", "energy": "E"}

LOCALES = {"GB": ("en_GB", "en"), "FR": ("fr_FR", "fr"), "DE": ("de_DE", "de")}
EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "post.example.org",
    "inbox.example.net",
)
CITIES = {
    "GB": ("London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff", "Norwich", "York"),
    "FR": ("Paris", "Lyon", "Lille", "Marseille", "Nantes", "Toulouse", "Bordeaux", "Rennes"),
    "DE": ("Berlin", "Munich", "Hamburg", "Cologne", "Leipzig", "Dresden", "Bremen", "Stuttgart"),
}
# Valid mobile ranges per country (checked with `phonenumbers`), with the number of free digits.
PHONE_RANGES = {"GB": ("+4478", 8), "FR": ("+3366", 7), "DE": ("+49151", 8)}


def ascii_fold(text: str) -> str:
    """'Zoë O'Brien' -> 'zoeobrien': what people type into email addresses."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def name_pools(seed: int, size: int = 400) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per country: (first names, last names) drawn from Faker's locale data, deterministic for a seed."""
    pools = {}
    for country, (locale, _language) in LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(seed)
        first = tuple(dict.fromkeys(fake.first_name() for _ in range(size)))
        last = tuple(dict.fromkeys(fake.last_name() for _ in range(size)))
        pools[country] = (first, last)
    return pools


@dataclass(frozen=True)
class Persona:
    """A behavioural segment: how a customer prefers to deal with the business."""

    code: str
    share: float
    preferred_channels: tuple[str, ...]
    # Weights of the episode kinds below, in EPISODES order.
    episode_weights: tuple[int, ...]
    # Channel choices for inbound service contacts (query, complaint).
    service_channels: tuple[tuple[str, int], ...]
    order_channels: tuple[tuple[str, int], ...]
    base_nps: float


# Episode kinds: each is a journey shape producing one or more interactions.
EPISODES = ("browse", "order", "marketing", "query", "complaint", "store_visit", "call", "app_session")

PERSONAS = (
    Persona(
        "digital_native",
        0.35,
        ("chat", "email", "mobile_app"),
        (34, 14, 22, 8, 2, 1, 1, 18),
        (("chat", 5), ("email", 3), ("whatsapp", 3), ("social", 2), ("phone", 1)),
        (("web", 5), ("mobile_app", 6)),
        8.2,
    ),
    Persona(
        "omnichannel",
        0.30,
        ("email", "phone", "sms"),
        (26, 14, 20, 9, 3, 10, 6, 12),
        (("phone", 3), ("chat", 3), ("email", 3), ("whatsapp", 1)),
        (("web", 4), ("mobile_app", 2), ("store", 3), ("phone", 1)),
        7.6,
    ),
    Persona(
        "traditional",
        0.20,
        ("phone", "letter", "email"),
        (8, 10, 24, 12, 5, 16, 22, 3),
        (("phone", 7), ("letter", 2), ("email", 2)),
        (("phone", 3), ("store", 5), ("web", 2)),
        7.0,
    ),
    Persona(
        "store_loyal",
        0.15,
        ("sms", "phone"),
        (10, 16, 20, 6, 3, 35, 6, 4),
        (("phone", 4), ("store", 4), ("email", 1)),
        (("store", 8), ("web", 2)),
        7.8,
    ),
)
PERSONA_WEIGHTS = tuple(p.share for p in PERSONAS)

TIERS = (("bronze", 55), ("silver", 30), ("gold", 12), ("platinum", 3))
PLANS = {
    "retail": ("basic", "plus", "premium"),
    "telecom": ("sim_only", "family", "fibre"),
    "energy": ("fixed", "variable", "green"),
}

PAGES = ("/", "/offers", "/products", "/products/detail", "/basket", "/account", "/help", "/stores")
TOUCHPOINTS = {
    "page_view": ("homepage", "product_page", "checkout", "help_centre"),
    "app_session": ("app_home", "app_account"),
    "order_placed": ("checkout", "store_till", "call_centre"),
    "order_shipped": ("fulfilment",),
    "order_delivered": ("delivery",),
    "order_returned": ("returns_desk",),
    "email_sent": ("newsletter", "promotion", "renewal"),
    "sms_sent": ("promotion", "appointment"),
    "email_opened": ("newsletter", "promotion", "renewal"),
    "email_clicked": ("newsletter", "promotion", "renewal"),
    "query": ("help_centre", "contact_centre"),
    "reply": ("contact_centre",),
    "query_resolved": ("contact_centre",),
    "complaint": ("contact_centre", "store_desk", "social_care"),
    "complaint_acknowledged": ("contact_centre",),
    "complaint_resolved": ("contact_centre",),
    "call": ("contact_centre", "ivr"),
    "store_visit": ("store_front",),
}
SOURCES = {
    "page_view": "web_tracker",
    "app_session": "app_tracker",
    "order_placed": "ecommerce",
    "order_shipped": "ecommerce",
    "order_delivered": "logistics",
    "order_returned": "ecommerce",
    "email_sent": "marketing_platform",
    "sms_sent": "marketing_platform",
    "email_opened": "marketing_platform",
    "email_clicked": "marketing_platform",
    "store_visit": "store_pos",
}
DEFAULT_SOURCE = "contact_centre"

QUERY_TOPICS = ("billing", "delivery", "account", "product", "contract", "app/website")
COMPLAINT_THEMES = ("price", "delivery", "staff", "product quality", "app/website", "billing")
SUBJECTS = {
    "query": "Question about {topic}",
    "complaint": "Complaint about {topic}",
    "call": "Call about {topic}",
    "email_sent": "{touchpoint} email",
    "sms_sent": "{touchpoint} text",
}

# Weekly and seasonal shape of activity.
WEEKDAY_WEIGHTS = (1.05, 1.0, 1.0, 1.0, 1.1, 1.25, 0.75)  # Monday..Sunday
MONTH_WEIGHTS = (0.85, 0.8, 0.9, 0.95, 0.95, 0.9, 0.85, 0.85, 0.95, 1.05, 1.35, 1.5)  # Jan..Dec
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 12, 13, 12, 11, 11, 11, 12, 13, 14, 13, 10, 6, 3)

VERBATIMS = {
    "promoter": (
        "Great service, the staff were really helpful.",
        "Delivery was quick and the product quality is excellent.",
        "The app makes everything easy, I recommend you to friends.",
        "Fair price and friendly staff. Very happy.",
        "Problem sorted on the first call, great help, thank you!",
        "Love the new website, ordering took two minutes.",
    ),
    "passive": (
        "Fine overall, delivery could be faster.",
        "Decent product, a bit expensive for what it is.",
        "OK experience, the website is sometimes slow.",
        "Staff were polite but I had to wait a while.",
        "Billing is clear enough, nothing special.",
    ),
    "detractor": (
        "My complaint took weeks to resolve, terrible service.",
        "The delivery was late and nobody told me why. Very disappointing.",
        "I was charged twice and billing never called back.",
        "Rude staff in store and the product broke after a week.",
        "The app keeps crashing and the website logs me out, so frustrating.",
        "Far too expensive and poor value, I am looking at other providers.",
        "Waited 40 minutes on the phone, awful, and nothing was fixed.",
    ),
}
