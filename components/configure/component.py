"""KFP interface of the run configuration step. No logic here."""

from kfp import dsl

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def configure_run(use_case: str, seed: int = -1, overrides: dict = {}) -> str:  # noqa: B006
    """Applies one run's seed and threshold overrides to the use case and checks the result.

    Every later step reads the use case this step returns, so a run's effective settings are visible
    in one place and a bad override stops the run before any data is read.

    Args:
        use_case: The use-case configuration, as YAML text.
        seed: Seed of every random draw in this run; -1 (the default) keeps the use case's own seed.
        overrides: New values of the gates' thresholds by dotted path, such as
            {"analysis.blessing.floors.roc_auc": 0.7}.

    Returns:
        Output: The effective use-case configuration, as YAML text (unchanged when nothing is overridden).
    """
    from components.configure.task import configure_run_task

    return configure_run_task(use_case, seed, overrides)
