"""The images' Dockerfiles, checked without a Docker engine (none exists on the build machines).

What `docker build` would find out late, found here: a copied path that is missing or that
.dockerignore keeps out of the build context; a base image that is not pinned; a final stage that
runs as root or carries a compiler; code copied before the dependency layers; and, most of all, a
module that a task or the model server imports but that the image's lock file does not install.
"""

from __future__ import annotations

import io
import pickle
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import ORDERS_CONFIG, learnable_orders
from unit.images.dockerfile import (
    Dockerfile,
    DockerIgnore,
    base_problems,
    base_python_version,
    command_words,
    console_scripts,
    dependency_problems,
    exception_problems,
    final_stage_problems,
    image_files,
    importable,
    layer_order_problems,
    locked_distributions,
    module_providers,
    parse_dockerfile,
    python_path,
    references,
    source_problems,
    walk_imports,
)

from components.images import PIPELINE_IMAGE, SERVING_IMAGE
from pipelines.compile import PIPELINES

ROOT = Path(__file__).resolve().parents[3]
IMAGES = {"pipeline": ROOT / "images" / "pipeline.Dockerfile", "serving": ROOT / "images" / "serving.Dockerfile"}
LOCKS = {"pipeline": ROOT, "serving": ROOT / "serving"}
UV = ROOT / ".tools" / "bin" / "uv"
SERVING_PYTHON = ROOT / ".venv-serving" / "bin" / "python"
PIPELINE_PYTHON = ROOT / ".venv" / "bin" / "python"
# Functions that run in one image only, in modules both images import: their lazy imports need not be
# in the other image. exception_problems checks that nothing the other image runs calls them.
# None today: the tasks' shells (components/<stage>/task.py) are modules of their own, which the
# serving image neither copies nor imports, and the serving check that parses schema text (TFDV's
# protos) lives in components.serve.check, which the model server never imports.
PIPELINE_ONLY: dict[str, set[str]] = {}
# Seldon's hooks (its wrapper calls them in the model server) and their helper: flask, seldon_core.
# The local server's own side (components.serve.local.serve and the command line that runs it) runs in
# .venv-serving only; the pipeline environment uses that module's client side to start and stop it.
SERVING_ONLY = {
    "components.serve.model": {"Model.send_feedback_raw", "Model.model_error_handler", "json_check_blueprint"},
    "components.serve.local": {"serve", "run_server"},
}


@pytest.fixture(scope="module")
def ignore():
    return DockerIgnore.read(ROOT / ".dockerignore")


@pytest.fixture(scope="module")
def serving_python():
    """The serving environment: the serving image's dependency set, created by make when missing."""
    if not SERVING_PYTHON.exists():
        subprocess.run(["make", "serving-env"], cwd=ROOT, check=True, capture_output=True)
    return SERVING_PYTHON


def parsed(image: str) -> Dockerfile:
    return parse_dockerfile(IMAGES[image])


def locate_in(dockerfile: Dockerfile, ignore: DockerIgnore):
    files = image_files(dockerfile, ROOT, ignore)
    search_path = python_path(dockerfile.final)
    return lambda module: importable(module, files, search_path)


# --- the real Dockerfiles --------------------------------------------------------------------------


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_copied_path_exists_and_reaches_the_build_context(image, ignore):
    assert source_problems(parsed(image), ROOT, ignore) == []


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_base_images_are_pinned_to_exact_versions(image):
    assert base_problems(parsed(image)) == []


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_final_stage_is_slim_runs_as_a_numeric_non_root_user_and_has_no_compiler(image):
    assert final_stage_problems(parsed(image)) == []


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_code_is_copied_after_the_dependency_layers(image):
    assert layer_order_problems(parsed(image)) == []


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_python_on_path_is_the_environment_built_from_the_lock(image):
    dockerfile = parsed(image)
    first = dockerfile.final.env()["PATH"].split(":")[0]
    copied = [i.words()[-1] for i in dockerfile.final.all("COPY") if dockerfile.stage(i.flags.get("from", ""))]
    assert any(first.startswith(folder.rstrip("/") + "/") for folder in copied), (
        f"{first} is not the copied environment"
    )
    builder = dockerfile.stage(
        next(i.flags["from"] for i in dockerfile.final.all("COPY") if i.words()[-1] == first.rsplit("/", 1)[0])
    )
    syncs = [run.args for run in builder.all("RUN") if "uv sync" in run.args]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), (
        "the environment must come from the lock as it is"
    )


def test_the_dockerignore_keeps_environments_state_and_tests_out(ignore):
    for path in (
        ".venv/bin/python",
        ".venv-serving/pyvenv.cfg",
        ".local/s3/credentials.env",
        ".git/config",
        "tests/helpers.py",
        ".tools/bin/uv",
    ):
        assert ignore.excludes(path), path
    for path in (
        "uv.lock",
        "serving/uv.lock",
        "components/common/storage.py",
        "pipelines/training_pipeline.yaml",
        "cli/main.py",
    ):
        assert not ignore.excludes(path), path
    assert ignore.excludes("components/common/__pycache__/storage.cpython-311.pyc")


# --- what each image runs: every module it imports is in it ----------------------------------------


def executors_by_image() -> dict[str, dict[str, str]]:
    """The Python programs of every task of every compiled pipeline, by the image they run in."""
    found: dict[str, dict[str, str]] = {}
    for spec_path in sorted(PIPELINES):
        spec = next(yaml.safe_load_all(spec_path.read_text()))
        for label, executor in spec["deploymentSpec"]["executors"].items():
            container = executor["container"]
            function = container["args"][container["args"].index("--function_to_execute") + 1]
            program = next(part for part in container["command"] if f"def {function}(" in part)
            launcher = " ".join(container["command"])
            assert "python3 -m kfp.dsl.executor_main" in launcher, f"{label}: unexpected launcher"
            found.setdefault(container["image"], {})[f"{spec_path.stem}:{label}"] = (
                program + "\nimport kfp.dsl.executor_main\n"
            )
    return found


def test_every_task_runs_in_an_image_we_build():
    assert set(executors_by_image()) <= {PIPELINE_IMAGE, SERVING_IMAGE}


def test_pipeline_image_holds_every_module_the_tasks_import(ignore):
    dockerfile = parsed("pipeline")
    entries = dict(executors_by_image()[PIPELINE_IMAGE])
    command = command_words(dockerfile.final)
    assert command[:2] == ["python3", "-m"], command
    locate = locate_in(dockerfile, ignore)
    module = command[2]
    # `python3 -m package` runs the package's __main__ module.
    is_package = (found := locate(module)) is not None and found.name == "__init__.py"
    entries["CMD"] = f"import {module}.__main__\n" if is_package else f"import {module}\n"
    graph = walk_imports(entries, locate, skip=SERVING_ONLY)

    assert graph.missing == {}, "project modules the tasks import but the image lacks"
    assert exception_problems(graph, SERVING_ONLY) == []
    assert {
        "components.ingest.logic",
        "components.validate.logic",
        "components.register.task",
        "components.serve.task",
    } <= set(graph.project)
    assert {"cli.__main__", "cli.main", "pipelines.submit"} <= set(graph.project), "the command line is in the image"
    locked = locked_distributions(UV, LOCKS["pipeline"], base_python_version(dockerfile))
    assert {"kfp", "tensorflow-data-validation", "scikit-learn"} <= locked
    assert not {"pytest", "playwright"} & locked, "the dev group must stay out of the image"
    assert dependency_problems(graph, locked, module_providers(PIPELINE_PYTHON), "uv.lock") == []


def pickled_model_modules() -> set[str]:
    """The modules a pickled model pipeline refers to (loading the model imports each of them)."""
    from sklearn.linear_model import LogisticRegression

    from components.common.config import parse_use_case
    from components.preprocess.logic import model_pipeline
    from components.train.logic import split_xy

    config = parse_use_case(ORDERS_CONFIG)
    model = model_pipeline(config, LogisticRegression(max_iter=200))
    model.fit(*split_xy(learnable_orders(300), config))
    modules: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            modules.add(module)
            return super().find_class(module, name)

    Recorder(io.BytesIO(pickle.dumps(model))).load()
    return modules


@pytest.fixture(scope="module")
def serving_graph(ignore):
    dockerfile = parsed("serving")
    env = dockerfile.final.env()
    module, _, cls = env["MODEL_NAME"].rpartition(".")
    entries = {"MODEL_NAME": f"from {module} import {cls}\n"}
    entries.update({f"pickled model: {m}": f"import {m}\n" for m in sorted(pickled_model_modules())})
    return dockerfile, walk_imports(entries, locate_in(dockerfile, ignore), skip=PIPELINE_ONLY), module, cls


def test_pipeline_only_functions_are_never_called_in_serving(serving_graph):
    _, graph, _, _ = serving_graph
    assert exception_problems(graph, PIPELINE_ONLY) == []
    for functions in PIPELINE_ONLY.values():
        for function in functions:
            callers = [p for p in (ROOT / "components").glob("*/component.py") if references(p.read_text(), function)]
            assert callers, f"no pipeline component calls {function}"


def test_serving_only_hooks_are_what_seldons_wrapper_calls(serving_python):
    script = "import pathlib, seldon_core; print(pathlib.Path(seldon_core.__file__).parent)"
    package = Path(
        subprocess.run([str(serving_python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    )
    wrapper = "\n".join(path.read_text() for path in package.glob("*.py"))
    for names in SERVING_ONLY.values():
        for name in (n.split(".", 1)[1] for n in names if n.startswith("Model.")):
            assert f".{name}" in wrapper or f'"{name}"' in wrapper, f"seldon_core never calls {name}"


def test_serving_image_holds_the_model_class_seldon_loads(serving_graph, ignore, serving_python):
    dockerfile, graph, module, cls = serving_graph
    command = command_words(dockerfile.final)
    assert command[0] == "seldon-core-microservice" and command[1] == f"{module}.{cls}", command
    assert command[2:] == ["--service-type", "MODEL"]
    distribution, target = console_scripts(serving_python)["seldon-core-microservice"]
    assert distribution in locked_distributions(UV, LOCKS["serving"], base_python_version(dockerfile))
    assert target.startswith("seldon_core.microservice:")
    source = locate_in(dockerfile, ignore)(module)
    assert source is not None, f"{module} is not in the serving image"
    assert f"class {cls}" in source.read_text(), f"{module} defines no class {cls}"


def test_serving_image_holds_every_module_the_model_server_and_a_pickled_model_import(serving_graph, serving_python):
    dockerfile, graph, module, _ = serving_graph
    assert graph.missing == {}, "project modules serving imports but the image lacks"
    assert module in graph.project and "components.preprocess.logic" in graph.project
    assert not any(name.startswith(("components.validate", "components.ingest")) for name in graph.project)
    locked = locked_distributions(UV, LOCKS["serving"], base_python_version(dockerfile))
    assert dependency_problems(graph, locked, module_providers(serving_python), "serving/uv.lock") == []


def test_serving_image_copies_only_packages_serving_imports(serving_graph):
    dockerfile, graph, _, _ = serving_graph
    copied = {
        source.rstrip("/")
        for instruction in dockerfile.final.all("COPY")
        if "from" not in instruction.flags
        for source in instruction.words()[:-1]
    }
    reached = {path.relative_to(ROOT).parent.as_posix() for path in graph.project.values()}
    unused = {source for source in copied if not source.endswith(".py") and source not in reached}
    assert unused == set(), "copied into the serving image but never imported there"


def test_serving_lock_has_neither_kfp_nor_tfdv_and_keeps_the_setuptools_seldon_declares():
    locked = locked_distributions(UV, LOCKS["serving"], base_python_version(parsed("serving")))
    assert {"seldon-core", "scikit-learn", "numpy", "setuptools"} <= locked
    assert not {"kfp", "tensorflow-data-validation", "tensorflow"} & locked


def test_serving_image_exposes_seldons_ports_and_names_its_class():
    final = parsed("serving").final
    exposed = {port for instruction in final.all("EXPOSE") for port in instruction.words()}
    assert {"9000", "5000", "6000"} <= exposed
    assert final.env()["SERVICE_TYPE"] == "MODEL"
    # No gRPC server: protobuf 3.20 (pinned by Seldon's generated protos) never parses a client's message.
    assert final.env()["GRPC_WORKERS"] == "0"


# --- the checks themselves catch what they are for ---------------------------------------------------


def write(folder: Path, text: str, name: str = "Dockerfile") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_parser_reads_stages_flags_continuations_env_and_commands(tmp_path):
    path = write(
        tmp_path,
        "ARG BASE=python:3.11.14-slim\n"
        "FROM ${BASE} AS builder\n"
        "# a comment\n"
        "RUN --mount=type=cache,target=/root/.cache \\\n"
        "    # a comment inside\n"
        "    pip install x\n"
        "FROM python:3.11.14-slim\n"
        'ENV A=/opt/a \\\n    B="$A/b c" PATH=/opt/a/bin:$PATH\n'
        "WORKDIR /app\nWORKDIR sub\n"
        "COPY --from=builder --chown=1:1 /opt/a /opt/a\n"
        'CMD ["sh", "-c", "exec run \\"$B\\" --flag"]\n',
    )
    dockerfile = parse_dockerfile(path)
    builder, final = dockerfile.stages
    assert (builder.base, builder.name, final.name) == ("python:3.11.14-slim", "builder", None)
    (run,) = builder.all("RUN")
    assert run.flags == {"mount": "type=cache,target=/root/.cache"} and run.args == "pip install x" and run.line == 4
    assert final.env()["B"] == "/opt/a/b c" and final.env()["PATH"].startswith("/opt/a/bin:")
    (copy,) = final.all("COPY")
    assert copy.flags == {"from": "builder", "chown": "1:1"} and copy.words() == ["/opt/a", "/opt/a"]
    assert str(final.workdir_at(len(final.instructions))) == "/app/sub"
    assert command_words(final) == ["run", "/opt/a/b c", "--flag"]
    assert dockerfile.stage("builder") is builder


def test_parser_refuses_instructions_it_does_not_understand(tmp_path):
    with pytest.raises(ValueError, match="ONBUILD"):
        parse_dockerfile(write(tmp_path, "FROM python:3.11.14-slim\nONBUILD RUN x\n"))


def test_dockerignore_matches_like_docker(tmp_path):
    ignore = DockerIgnore.read(
        write(tmp_path, "*\n!keep/\n!src/**/*.py\nkeep/secret.env\n**/__pycache__\n", ".dockerignore")
    )
    assert ignore.excludes("anything") and ignore.excludes("deep/er/file")
    assert not ignore.excludes("keep/a.txt") and ignore.excludes("keep/secret.env")
    assert (
        not ignore.excludes("src/a/b/c.py") and not ignore.excludes("src/top.py") and ignore.excludes("src/a/data.csv")
    )
    assert ignore.excludes("keep/__pycache__/x.pyc")
    assert not DockerIgnore.read(tmp_path / "absent").excludes("anything")


def test_checks_report_what_they_are_for(tmp_path):
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "main.py").write_text("import yaml\n")
    (tmp_path / "secret.env").write_text("x")
    write(tmp_path, "secret.env\ncomponents/main.py\n", ".dockerignore")
    ignore = DockerIgnore.read(tmp_path / ".dockerignore")
    dockerfile = parse_dockerfile(
        write(
            tmp_path,
            "FROM python:latest AS builder\n"
            "FROM python:3.11\n"
            "COPY components/ components/\n"
            "COPY missing.txt secret.env ./\n"
            "RUN pip install -r requirements.txt\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev\n"
            "USER mlcycle\n",
        )
    )
    bases = base_problems(dockerfile)
    assert any("python:latest has no exact tag" in p for p in bases) and any(
        "python:3.11 is not pinned" in p for p in bases
    )
    sources = source_problems(dockerfile, tmp_path, ignore)
    assert any("missing.txt does not exist" in p for p in sources)
    assert any("secret.env is excluded" in p for p in sources)
    assert any("components/main.py is excluded" in p for p in sources)
    final = final_stage_problems(dockerfile)
    assert any("not a slim image" in p for p in final)
    assert any("installs build-essential" in p for p in final) and any("installs libpq-dev" in p for p in final)
    assert any("USER mlcycle is not numeric" in p for p in final)
    assert layer_order_problems(dockerfile) and "Dockerfile:3" in layer_order_problems(dockerfile)[0]
    root = parse_dockerfile(write(tmp_path, "FROM python:3.11.14-slim\nUSER 0:0\n", "Root.Dockerfile"))
    assert any("USER 0 is root" in p for p in final_stage_problems(root))
    none = parse_dockerfile(write(tmp_path, "FROM python:3.11.14-slim\n", "NoUser.Dockerfile"))
    assert any("runs as root" in p for p in final_stage_problems(none))


def test_import_walk_follows_project_modules_and_treats_guarded_imports_as_optional(tmp_path):
    package = tmp_path / "components"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nimport json\nimport yaml\nfrom . import b\n"
        "if TYPE_CHECKING:\n    import pandas\n    from components.typing_only import T\n"
        "try:\n    import tensorflow_metadata\n    from components.inner import fast\n"
        "    from components.never import x\n"
        "except ImportError:\n    pass\n"
        "def later():\n    from components.absent import thing\n"
        "def task_only():\n    import tensorflow\n    from components.pipeline_side import y\n"
    )
    (package / "inner" / "b.py").write_text("from components.inner.a import later\nimport numpy as np\n")
    (package / "inner" / "fast.py").write_text("import scipy\n")

    def locate(module):
        base = tmp_path.joinpath(*module.split("."))
        return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)

    graph = walk_imports(
        {"entry": "from components.inner.a import later\n"}, locate, skip={"components.inner.a": {"task_only"}}
    )
    assert set(graph.project) == {
        "components",
        "components.inner",
        "components.inner.a",
        "components.inner.b",
        "components.inner.fast",
    }
    assert graph.missing == {"components.absent": "components.inner.a"}
    assert set(graph.third_party) == {"yaml", "numpy", "scipy"}  # a shipped optional module runs: its imports count
    problems = dependency_problems(
        graph, {"pyyaml", "scipy"}, {"yaml": {"pyyaml"}, "numpy": {"numpy"}, "scipy": {"scipy"}}, "the lock"
    )
    assert problems == ["numpy (imported by components.inner.b) is installed by no distribution of the lock"]

    skip = {"components.inner.a": {"task_only"}}
    assert exception_problems(graph, skip) == []
    (package / "inner" / "b.py").write_text("from components.inner import a\nimport numpy as np\na.task_only()\n")
    graph = walk_imports({"entry": "from components.inner.a import later\n"}, locate, skip=skip)
    assert exception_problems(graph, skip) == ["components.inner.b uses task_only, so its imports must be in the image"]
    assert exception_problems(graph, {"components.inner.a": {"gone"}}) == ["components.inner.a defines no gone"]


def test_a_main_block_is_not_a_use_of_what_it_calls():
    assert references("def serve():\n    pass\nserve()\n", "serve")
    assert not references('def serve():\n    pass\nif __name__ == "__main__":\n    serve()\n', "serve")
    assert references('def serve():\n    pass\nif __name__ != "__main__":\n    serve()\n', "serve")
