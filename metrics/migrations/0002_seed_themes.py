from django.db import migrations

THEMES = (
    ("price", "Price", "price, expensive, cheap, cost, costly, overpriced, value for money, discount, fee"),
    (
        "delivery",
        "Delivery",
        "delivery, delivered, late, shipping, courier, parcel, arrived, dispatch, tracking",
    ),
    (
        "staff",
        "Staff",
        "staff, agent, rude, friendly, helpful, polite, employee, advisor, service rep, manager",
    ),
    (
        "product_quality",
        "Product quality",
        "quality, broken, faulty, defect, damaged, works well, durable, poor quality",
    ),
    (
        "app_website",
        "App / website",
        "app, website, site, online, login, checkout, crash, page, password, portal",
    ),
    (
        "billing",
        "Billing",
        "bill, billing, invoice, charge, charged, refund, payment, direct debit, overcharged",
    ),
)


def seed(apps, schema_editor):
    Theme = apps.get_model("metrics", "Theme")
    for code, name, keywords in THEMES:
        Theme.objects.get_or_create(code=code, defaults={"name": name, "keywords": keywords})


def unseed(apps, schema_editor):
    apps.get_model("metrics", "Theme").objects.filter(code__in=[t[0] for t in THEMES]).delete()


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_surveys_responses_rollups_cases")]

    operations = [migrations.RunPython(seed, unseed)]
