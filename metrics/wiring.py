"""How metrics plugs into the lower apps: one ``connect()``, called from ``MetricsConfig.ready``."""

from celery.signals import worker_process_init

from customers.merging import register_customer_relation
from customers.panels import Panel, register_panel
from customers.pipeline import register_dirty_handler
from cxhub.roles import roles_with_scope
from segments.registry import KpiProvider, register_condition, register_kpi_provider

from . import conditions, panels, segment_kpis, sentiment_model, services
from .models import FollowUpCase, SurveyInvitation, SurveyResponse
from .permissions import CASE_ACTION_SCOPES


def warm_sentiment_in_worker_process(**_signal) -> None:
    """Celery's ``worker_process_init``: each pool process trains the sentiment model before it
    takes tasks (when ``SENTIMENT_WARM_AT_START`` is on)."""
    sentiment_model.warm_at_start()


def connect() -> None:
    worker_process_init.connect(warm_sentiment_in_worker_process, dispatch_uid="metrics.warm_sentiment")
    register_dirty_handler("metrics", services.on_dirty_customers)
    register_condition(
        "survey",
        schema=conditions.SCHEMA,
        compile=conditions.compile_survey,
        evaluate=conditions.evaluate_survey,
    )
    register_kpi_provider(
        KpiProvider(
            key="nps",
            title="NPS",
            compute=segment_kpis.segment_nps,
            serializer=segment_kpis.NpsFigureSerializer,
            figures=segment_kpis.nps_figures,
        )
    )
    register_panel(
        Panel(
            name="voice",
            title="Voice of the customer",
            template="metrics/panels/customer_voice.html",
            context=panels.customer_voice_context,
            placement="customer",
            order=30,
        )
    )
    register_panel(
        Panel(
            name="next_best_channel",
            title="Next best channel",
            template="metrics/panels/next_best_channel.html",
            context=panels.next_best_channel_context,
            placement="customer",
            order=15,
        )
    )
    register_panel(
        Panel(
            name="follow_up_cases",
            title="Follow-up cases",
            template="metrics/panels/home_cases.html",
            context=panels.home_cases_context,
            placement="home",
            order=30,
            roles=roles_with_scope(CASE_ACTION_SCOPES["list"]),  # the people who work follow-up cases
        )
    )
    # Responses, invitations and follow-up cases move to the survivor when customers merge.
    register_customer_relation(SurveyResponse, "customer")
    register_customer_relation(SurveyInvitation, "customer")
    register_customer_relation(FollowUpCase, "customer")
    # What the app holds on a person: export, erasure (and retention) declarations.
    from . import privacy

    privacy.register()
