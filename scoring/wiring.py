"""How scoring plugs into the lower apps: one ``connect()``, called from ``ScoringConfig.ready``."""

from customers.panels import Panel, register_panel
from customers.pipeline import register_dirty_handler
from segments.registry import KpiProvider, register_condition, register_kpi_provider

from . import conditions, panels, segment_kpis, services


def connect() -> None:
    # Between fits, changed customers are re-scored with the current parameters.
    register_dirty_handler("scoring", services.on_dirty_customers)
    register_condition(
        "score",
        schema=conditions.SCHEMA,
        compile=conditions.compile_score,
        evaluate=conditions.evaluate_score,
    )
    register_kpi_provider(
        KpiProvider(
            key="value",
            title="Predicted value and risk",
            compute=segment_kpis.segment_value,
            serializer=segment_kpis.SegmentValueSerializer,
            figures=segment_kpis.value_figures,
        )
    )
    register_panel(
        Panel(
            name="value",
            title="Value and risk",
            template="scoring/panels/customer_scores.html",
            context=panels.customer_scores_context,
            placement="customer",
            order=15,
        )
    )
    # Scores are not moved on a merge: merging marks both profiles dirty, so the survivor is
    # re-scored from its combined history and the merged profile's row is deleted.
