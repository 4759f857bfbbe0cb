"""Customer value and risk models: their fitted runs, each customer's latest scores and monthly snapshots."""

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TimeUnit(models.TextChoices):
    WEEK = "week", "Week"
    DAY = "day", "Day"


class ModelRun(models.Model):
    """One fit of BG/NBD + Gamma-Gamma (and the detractor-risk model) and the scoring pass after it.

    ``params`` holds everything scoring needs between fits: ``bgnbd``, ``gamma_gamma``, the
    RFM quintile breaks and the detractor model's coefficients, so a dirty customer is
    re-scored in closed form with the current run's parameters (no refit).
    """

    model = models.CharField(max_length=30, default="bgnbd_gg")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=20, default="api", help_text="api, command, schedule or demo.")
    calibration_end = models.DateField(help_text="Scores are computed as of the end of this UTC day.")
    holdout_end = models.DateField(
        null=True, blank=True, help_text="Compare predicted and actual repeat purchases up to this day."
    )
    time_unit = models.CharField(max_length=4, choices=TimeUnit.choices, default=TimeUnit.WEEK)
    transaction_types = models.JSONField(default=list)
    value_field = models.CharField(max_length=100, default="value")
    business_unit = models.ForeignKey(
        "customers.BusinessUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(
        default=dict, blank=True, help_text="CLV horizon, discount and margin; cost and detractor windows."
    )
    n_customers = models.PositiveIntegerField(null=True, blank=True)
    n_repeat_customers = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    log_likelihood = models.JSONField(default=dict, blank=True)
    holdout = models.JSONField(null=True, blank=True)
    detractor = models.JSONField(
        default=dict, blank=True, help_text="Detractor-risk model: AUC, calibration."
    )
    checks = models.JSONField(default=dict, blank=True)
    fit_seconds = models.FloatField(null=True, blank=True)
    score_seconds = models.FloatField(null=True, blank=True)
    scored_customers = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="scoring_run_status_idx")]

    def __str__(self) -> str:
        return f"{self.model} #{self.pk} ({self.status}, as of {self.calibration_end})"


class CustomerScore(models.Model):
    """A customer's latest scores: one row per live customer, rewritten by every scoring pass."""

    customer = models.OneToOneField(
        "customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    model_run = models.ForeignKey(
        ModelRun, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    as_of = models.DateTimeField()
    purchases = models.PositiveIntegerField(default=0, help_text="Purchase days up to as_of.")
    frequency = models.PositiveIntegerField(null=True, help_text="Repeat purchase days (x).")
    recency = models.FloatField(null=True, help_text="t_x: last purchase, from the first, in time units.")
    age = models.FloatField(null=True, help_text="T: as_of, from the first purchase, in time units.")
    monetary = models.FloatField(null=True, help_text="Mean value of the repeat purchase days (m̄).")
    p_alive = models.FloatField(null=True)
    churn_risk = models.FloatField(null=True)
    expected_purchases_90d = models.FloatField(null=True)
    expected_order_value = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    clv = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    rfm_r = models.PositiveSmallIntegerField(null=True)
    rfm_f = models.PositiveSmallIntegerField(null=True)
    rfm_m = models.PositiveSmallIntegerField(null=True)
    rfm_code = models.CharField(max_length=3, blank=True)
    rfm_label = models.CharField(max_length=30, blank=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="In the cost window.")
    cost_to_serve = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    profitability = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    detractor_risk = models.FloatField(null=True)
    detractor_drivers = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["clv"], name="scoring_score_clv_idx"),
            models.Index(fields=["churn_risk"], name="scoring_score_churn_idx"),
        ]

    def __str__(self) -> str:
        return f"scores of customer {self.customer_id}"


class ScoreSnapshot(models.Model):
    """A customer's scores at the end of a month (the last scoring pass of that month wins)."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    model_run = models.ForeignKey(
        ModelRun, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    p_alive = models.FloatField(null=True)
    churn_risk = models.FloatField(null=True)
    expected_purchases_90d = models.FloatField(null=True)
    clv = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    cost_to_serve = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    profitability = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    rfm_code = models.CharField(max_length=3, blank=True)
    rfm_label = models.CharField(max_length=30, blank=True)
    detractor_risk = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "month"], name="scoring_snapshot_month_uniq")
        ]
        indexes = [models.Index(fields=["month"], name="scoring_snapshot_month_idx")]

    def __str__(self) -> str:
        return f"scores of customer {self.customer_id} in {self.month:%Y-%m}"
