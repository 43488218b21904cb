"""The training pipeline: configure, ingest, validate, tune, train, analyse, check serving, register.

On valid data only it tunes, trains, analyses and checks serving; only a blessed and servable model is
registered. Wiring only: every step is a component of components/<stage>/component.py. Gates are outputs the
pipeline branches on (dsl.If), never failures. The same pipeline runs in the KFP UI on a cluster and
on one machine with kfp.local.

Each task's cluster settings (S3 from a Secret and a ConfigMap, resources, retries, timeout) come
from pipelines/cluster.py. pipelines/inprocess.py runs the same tasks in one process, in this order
and with these gates, for the command line.
"""

from kfp import dsl

from components.common.config.training import TrainingSpec
from components.configure.component import configure_run
from components.evaluate.component import evaluate_model
from components.ingest.component import ingest_data
from components.register.component import register_model
from components.serve.component import check_serving
from components.train.component import plan_trials, select_trial, train_model, tune_model
from components.validate.component import validate_data
from pipelines.cluster import uses_s3

# Every task that writes a part of the run record (components/common/runs.py) gets the run's job id; only
# uncached tasks take it, since a new value every run would defeat the cache.
RUN_ID = dsl.PIPELINE_JOB_ID_PLACEHOLDER


@dsl.pipeline(
    name="mlcycle-training",
    description="Ingest, validate, tune, train, analyse, check serving and register a model of a use case.",
)
def training_pipeline(
    use_case: str,
    schema: str,
    sources: dict = {},  # noqa: B006
    seed: int = -1,
    overrides: dict = {},  # noqa: B006
):
    """Trains a model of a use case from its sources.

    Args:
        use_case: The use-case configuration, as YAML text (sources, target, features, thresholds).
        schema: The curated TFDV schema of the use case, as text protobuf.
        sources: Source URIs to read instead of the configured ones, by source name.
        seed: Seed of every random draw; -1 (the default) keeps the use case's own seed.
        overrides: Thresholds of the gates to change for this run, by dotted path, such as
            {"analysis.blessing.floors.roc_auc": 0.7} (validation.*, analysis.blessing.*,
            analysis.min_slice_rows, training.max_trials).
    """
    # Caching is on where a task is deterministic and its inputs are content-addressed (configuration,
    # tuning, training). Ingestion reads sources that may change behind the same URI; evaluation and
    # registration read the registry's current production model; the verdicts and reports of
    # validation and of the serving check are what a person reads after every run (and the local
    # summary reads them from this run's folder): those always run.
    configured = configure_run(use_case=use_case, seed=seed, overrides=overrides)
    configured.set_cpu_request("100m").set_memory_request("256Mi").set_memory_limit("512Mi")
    settings = configured.output
    ingested = uses_s3(ingest_data(use_case=settings, sources=sources), "1", "2Gi", "4Gi").set_caching_options(False)
    dataset_version = ingested.outputs["Output"]
    validated = uses_s3(
        validate_data(use_case=settings, schema=schema, dataset_version=dataset_version, run_id=RUN_ID),
        "1",
        "3Gi",
        "6Gi",
    )
    validated.set_caching_options(False)
    with dsl.If(validated.outputs["Output"] == True, name="data-is-valid"):  # noqa: E712
        planned = plan_trials(use_case=settings)
        planned.set_cpu_request("100m").set_memory_request("256Mi").set_memory_limit("512Mi")
        # Trials queue beyond the use case's parallel_trials (default 2), fixed at compile time by KFP.
        with dsl.ParallelFor(planned.output, name="trials", parallelism=TrainingSpec().parallel_trials) as trial:
            tuned = uses_s3(
                tune_model(use_case=settings, trial=trial, dataset_version=dataset_version), "1", "3Gi", "6Gi", 120
            )
        selected = select_trial(results=dsl.Collected(tuned.output))
        selected.set_cpu_request("100m").set_memory_request("256Mi").set_memory_limit("512Mi")
        # The final fit runs alone (trials run side by side), so it may use two cores.
        trained = uses_s3(
            train_model(use_case=settings, tuning=selected.output, dataset_version=dataset_version),
            "2",
            "3Gi",
            "6Gi",
            120,
        )
        evaluated = uses_s3(
            evaluate_model(
                use_case=settings,
                schema=schema,
                record=trained.outputs["record"],
                dataset_version=dataset_version,
                model=trained.outputs["model"],
                run_id=RUN_ID,
            ),
            "2",  # alone, as the final fit: scoring the candidate and solving the baselines use both cores
            "3Gi",
            "6Gi",
        )
        evaluated.set_caching_options(False)
        checked = uses_s3(
            check_serving(
                use_case=settings,
                schema=schema,
                dataset_version=dataset_version,
                model=trained.outputs["model"],
                run_id=RUN_ID,
            ),
            "500m",
            "2Gi",
            "4Gi",
            15,
        )
        checked.set_caching_options(False)  # its verdict is read after every run, like validation's
        with dsl.If(evaluated.outputs["Output"] == True, name="model-is-blessed"):  # noqa: E712
            with dsl.If(checked.outputs["Output"] == True, name="model-is-servable"):  # noqa: E712
                registered = uses_s3(
                    register_model(
                        use_case=settings,
                        model=trained.outputs["model"],
                        analysis=evaluated.outputs["analysis"],
                        serving_schema=checked.outputs["serving_schema"],
                        run_id=RUN_ID,
                    ),
                    "250m",
                    "1Gi",
                    "2Gi",
                )
                registered.set_caching_options(False)
