"""Cluster settings of the pipelines' tasks, through kfp-kubernetes: S3 access, resources, retries, timeout.

S3 credentials come from a role's Kubernetes Secret (``mlcycle-s3-pipeline`` for most tasks,
``mlcycle-s3-monitoring`` for monitoring's read-only tasks; hack/deploy.sh creates them) and the
endpoint from the ConfigMap ``mlcycle-s3`` (manifests/), so no credential ever appears in a spec or in a run's
parameters. kfp.local ignores these settings and resource requests; pipelines/local.py supplies
the embedded server's endpoint and credentials as environment variables that every local task
inherits.
"""

from kfp import dsl, kubernetes

from components.common import openmp

S3_SECRET = "mlcycle-s3-pipeline"
# The monitoring role's keys (read only: logs, registry, datasets), for monitoring's own tasks.
S3_MONITORING_SECRET = "mlcycle-s3-monitoring"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_CONFIG_MAP = "mlcycle-s3"
S3_CONFIG_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION")


def uses_s3(
    task: dsl.PipelineTask,
    cpu: str,
    memory: str,
    memory_limit: str,
    timeout_minutes: int = 60,
    secret: str = S3_SECRET,
) -> dsl.PipelineTask:
    """Gives a task the S3 endpoint and the keys of a role's Secret, its resources, retries and a timeout.

    Args:
        task: The pipeline task.
        cpu: Its CPU request (``"1"``, ``"500m"``); whole cores also set OMP_NUM_THREADS (idle threads spin
            briefly, then sleep).
        memory: Its memory request.
        memory_limit: Its memory limit.
        timeout_minutes: How long it may run.
        secret: The Secret with the role's keys (the pipeline role's by default).

    Returns:
        The same task, for chaining.
    """
    kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={key: key for key in S3_SECRET_KEYS})
    kubernetes.use_config_map_as_env(
        task, config_map_name=S3_CONFIG_MAP, config_map_key_to_env={key: key for key in S3_CONFIG_KEYS}
    )
    kubernetes.set_timeout(task, timeout_minutes * 60)
    # As many OpenMP threads as the task requests cores: unpinned, scikit-learn starts one thread per
    # core of the node, and two trials at once on 2 cores ran about 3 times slower (measured).
    task.set_env_variable("OMP_NUM_THREADS", cpu if cpu.isdigit() else "1")  # "500m" and the like: one
    task.set_env_variable(openmp.SPIN_VARIABLE, openmp.SPINS)  # idle threads spin briefly, then sleep
    return task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory_limit).set_retry(2, "10s")
