from django.db import migrations, models

import cxhub.models


class Migration(migrations.Migration):
    initial = True

    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="ApiClient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("scopes", models.JSONField(default=list, validators=[cxhub.models.validate_scopes])),
                ("token_prefix", models.CharField(max_length=8, unique=True)),
                ("token_hash", models.CharField(max_length=64)),
                ("write_key_prefix", models.CharField(max_length=8, unique=True)),
                ("write_key_hash", models.CharField(max_length=64)),
                ("tracking_namespace", models.CharField(blank=True, max_length=50)),
                (
                    "throttle_rate",
                    models.CharField(
                        blank=True, help_text="e.g. 1000/min; empty uses the default rate.", max_length=20
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"ordering": ["name"]},
        ),
    ]
