"""The monitoring pipeline: monitor the served model over a window and, when due and switched on, retrain it.

Wiring only. ``monitor_serving`` reads the serving logs of the window and decides; with ``retrain``
on and retraining due, the training pipeline runs nested (the same tasks and gates as any training
run) on the use case with the window as its feedback window, so ingestion adds the window's labelled
feedback to the base data as a new dataset version. A blessed result is then proposed for
promotion. Scheduled with one cron expression (``monitoring.schedule``, `make continuous-training`),
this is continuous training on a cluster; with ``retrain`` off it only monitors.
"""

from kfp import dsl

from components.monitor.component import monitor_serving, propose_promotion
from pipelines.cluster import S3_MONITORING_SECRET, uses_s3
from pipelines.training_pipeline import training_pipeline


@dsl.pipeline(
    name="mlcycle-monitoring",
    description=(
        "Monitor the served model over a window of its logs (drift, live quality) "
        "and retrain it from feedback when due."
    ),
)
def monitoring_pipeline(
    use_case: str,
    schema: str,
    window_start: str = "",
    window_end: str = "",
    last_hours: int = 0,
    model: str = "production",
    retrain: bool = False,
):
    """Monitors a served model and, when asked, retrains it when monitoring finds it due.

    Args:
        use_case: The use-case configuration, as YAML text (its monitoring section holds the thresholds).
        schema: The curated TFDV schema of the use case, as text protobuf.
        window_start: First instant of the window (ISO 8601, UTC); empty: last_hours before the end.
        window_end: End of the window (exclusive, ISO 8601); empty: now.
        last_hours: Length of the window when a bound is empty; 0 takes monitoring.window_hours.
        model: The monitored model: production (default), staging, latest or a version id.
        retrain: Retrain when monitoring finds it due (continuous training); off only monitors.
    """
    # Monitoring reads a window that grows until it closes, and the registry: never cached.
    monitored = uses_s3(
        monitor_serving(
            use_case=use_case,
            schema=schema,
            window_start=window_start,
            window_end=window_end,
            last_hours=last_hours,
            model=model,
        ),
        "1",
        "3Gi",
        "6Gi",
        secret=S3_MONITORING_SECRET,
    ).set_caching_options(False)
    with dsl.If(monitored.outputs["Output"] == True, name="retraining-is-due"):  # noqa: E712
        with dsl.If(retrain == True, name="retraining-is-on"):  # noqa: E712
            retrained = training_pipeline(
                use_case=monitored.outputs["retraining_use_case"], schema=monitored.outputs["retraining_schema"]
            )
            proposed = uses_s3(
                propose_promotion(use_case=monitored.outputs["retraining_use_case"]),
                "250m",
                "512Mi",
                "1Gi",
                secret=S3_MONITORING_SECRET,
            )
            proposed.set_caching_options(False).after(retrained)
