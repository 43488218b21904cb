"""The training pipeline: ingest, validate, then (valid data only) tune, train, analyse, and (blessed only) register.

Wiring only: every step is a component of components/<stage>/component.py. Gates are outputs the
pipeline branches on (dsl.If), never failures. The same pipeline runs in the KFP UI on a cluster and
on one machine with kfp.local.
"""

from kfp import dsl

from components.evaluate.component import evaluate_model
from components.ingest.component import ingest_data
from components.register.component import register_model
from components.train.component import plan_trials, select_trial, train_model, tune_model
from components.validate.component import validate_data


@dsl.pipeline(name="mlcycle-training", description="Ingest, validate, tune, train, analyse and register a model of a use case.")
def training_pipeline(use_case: str, schema: str, sources: dict = {}):  # noqa: B006
    """Trains a model of a use case from its sources.

    Args:
        use_case: The use-case configuration, as YAML text (sources, target, features, thresholds).
        schema: The curated TFDV schema of the use case, as text protobuf.
        sources: Source URIs to read instead of the configured ones, by source name.
    """
    # Caching is on where a task is deterministic and its inputs are content-addressed (tuning and
    # training). Ingestion reads sources that may change behind the same URI; evaluation and
    # registration read the registry's current production model; validation's verdict and report are
    # what a person reads after every run (and the local summary reads them from this run's folder):
    # those always run. Tasks that talk to S3 retry transient failures.
    ingested = ingest_data(use_case=use_case, sources=sources).set_caching_options(False).set_retry(2, "10s")
    validated = validate_data(use_case=use_case, schema=schema, dataset_version=ingested.outputs["Output"])
    validated.set_caching_options(False).set_retry(2, "10s")
    with dsl.If(validated.outputs["Output"] == True, name="data-is-valid"):  # noqa: E712
        planned = plan_trials(use_case=use_case)
        with dsl.ParallelFor(planned.output, name="trials") as trial:
            tuned = tune_model(use_case=use_case, trial=trial, dataset_version=ingested.outputs["Output"]).set_retry(2, "10s")
        selected = select_trial(results=dsl.Collected(tuned.output))
        trained = train_model(use_case=use_case, tuning=selected.output, dataset_version=ingested.outputs["Output"]).set_retry(2, "10s")
        evaluated = evaluate_model(
            use_case=use_case,
            schema=schema,
            record=trained.outputs["record"],
            dataset_version=ingested.outputs["Output"],
            model=trained.outputs["model"],
        )
        evaluated.set_caching_options(False).set_retry(2, "10s")
        with dsl.If(evaluated.outputs["Output"] == True, name="model-is-blessed"):  # noqa: E712
            registered = register_model(use_case=use_case, model=trained.outputs["model"], analysis=evaluated.outputs["analysis"])
            registered.set_caching_options(False).set_retry(2, "10s")
