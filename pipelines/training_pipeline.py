"""The training pipeline: configure, ingest, validate, then (valid data only) tune, train, analyse, check serving, and (blessed and servable only) register.

Wiring only: every step is a component of components/<stage>/component.py. Gates are outputs the
pipeline branches on (dsl.If), never failures. The same pipeline runs in the KFP UI on a cluster and
on one machine with kfp.local.

Cluster settings live here too, through kfp-kubernetes: S3 credentials come from the Kubernetes
Secret ``mlcycle-s3-pipeline`` (the pipeline role; hack/deploy.sh creates it) and the endpoint from the
ConfigMap ``mlcycle-s3`` (manifests/), so
no credential ever appears in the spec or in a run's parameters. kfp.local ignores these settings and
resource requests; pipelines/local.py supplies the embedded server's endpoint and credentials as
environment variables that every local task inherits.
"""

from kfp import dsl, kubernetes

from components.configure.component import configure_run
from components.evaluate.component import evaluate_model
from components.ingest.component import ingest_data
from components.register.component import register_model
from components.serve.component import check_serving
from components.train.component import plan_trials, select_trial, train_model, tune_model
from components.validate.component import validate_data

S3_SECRET = "mlcycle-s3-pipeline"
# The monitoring role's keys (read only: logs, registry, datasets), for monitoring's own tasks.
S3_MONITORING_SECRET = "mlcycle-s3-monitoring"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_CONFIG_MAP = "mlcycle-s3"
S3_CONFIG_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION")


def _uses_s3(
    task: dsl.PipelineTask,
    cpu: str,
    memory: str,
    memory_limit: str,
    timeout_minutes: int = 60,
    secret: str = S3_SECRET,
) -> dsl.PipelineTask:
    """Gives a task the S3 endpoint and the keys of the Secret named, its resources, bounded retries and a timeout."""
    kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={key: key for key in S3_SECRET_KEYS})
    kubernetes.use_config_map_as_env(
        task, config_map_name=S3_CONFIG_MAP, config_map_key_to_env={key: key for key in S3_CONFIG_KEYS}
    )
    kubernetes.set_timeout(task, timeout_minutes * 60)
    # As many OpenMP threads as the task requests cores: unpinned, scikit-learn starts one thread per
    # core of the node, and two trials at once on 2 cores ran about 3 times slower (measured).
    task.set_env_variable("OMP_NUM_THREADS", cpu if cpu.isdigit() else "1")  # "500m" and the like: one
    return task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory_limit).set_retry(2, "10s")


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
    ingested = _uses_s3(ingest_data(use_case=settings, sources=sources), "1", "2Gi", "4Gi").set_caching_options(False)
    dataset_version = ingested.outputs["Output"]
    validated = _uses_s3(
        validate_data(use_case=settings, schema=schema, dataset_version=dataset_version), "1", "3Gi", "6Gi"
    )
    validated.set_caching_options(False)
    with dsl.If(validated.outputs["Output"] == True, name="data-is-valid"):  # noqa: E712
        planned = plan_trials(use_case=settings)
        planned.set_cpu_request("100m").set_memory_request("256Mi").set_memory_limit("512Mi")
        with dsl.ParallelFor(planned.output, name="trials") as trial:
            tuned = _uses_s3(
                tune_model(use_case=settings, trial=trial, dataset_version=dataset_version), "1", "3Gi", "6Gi", 120
            )
        selected = select_trial(results=dsl.Collected(tuned.output))
        selected.set_cpu_request("100m").set_memory_request("256Mi").set_memory_limit("512Mi")
        # The final fit runs alone (trials run side by side), so it may use two cores.
        trained = _uses_s3(
            train_model(use_case=settings, tuning=selected.output, dataset_version=dataset_version),
            "2",
            "3Gi",
            "6Gi",
            120,
        )
        evaluated = _uses_s3(
            evaluate_model(
                use_case=settings,
                schema=schema,
                record=trained.outputs["record"],
                dataset_version=dataset_version,
                model=trained.outputs["model"],
            ),
            "1",
            "3Gi",
            "6Gi",
        )
        evaluated.set_caching_options(False)
        checked = _uses_s3(
            check_serving(
                use_case=settings, schema=schema, dataset_version=dataset_version, model=trained.outputs["model"]
            ),
            "500m",
            "2Gi",
            "4Gi",
            15,
        )
        checked.set_caching_options(False)  # its verdict is read after every run, like validation's
        with dsl.If(evaluated.outputs["Output"] == True, name="model-is-blessed"):  # noqa: E712
            with dsl.If(checked.outputs["Output"] == True, name="model-is-servable"):  # noqa: E712
                registered = _uses_s3(
                    register_model(
                        use_case=settings,
                        schema=schema,
                        model=trained.outputs["model"],
                        analysis=evaluated.outputs["analysis"],
                    ),
                    "250m",
                    "1Gi",
                    "2Gi",
                )
                registered.set_caching_options(False)
