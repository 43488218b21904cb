# The pipeline image: every task of the mlcycle pipelines runs in it (PIPELINE_IMAGE in components/images.py).
# Build it from the repository root with `make images` (docker build -f images/pipeline.Dockerfile .).
#
# Its Python packages are exactly uv.lock without the dev group: kfp is among them, so the tasks
# (lightweight components with install_kfp_package=False) never pip-install anything when they start.
# KFP starts each task as `sh -ec '... python3 -m kfp.dsl.executor_main ...'`: `python3` on PATH is the
# environment's interpreter, and the function body's `from components... import ...` finds the
# project's code through PYTHONPATH.

# uv, pinned like hack/bootstrap-uv.sh pins it for `make env`.
FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

# Builder: resolves nothing (the lock is frozen), installs the locked wheels into /opt/venv.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder
COPY --from=uv /uv /usr/local/bin/uv
# Byte-compiled at build time: the tasks run as a user who cannot write into site-packages, and
# TensorFlow's import alone compiles thousands of modules.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /build
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

# Final stage: the interpreter, the environment and the code; no uv, no compiler, no root.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
LABEL org.opencontainers.image.title="mlcycle-pipeline" \
      org.opencontainers.image.description="Runs the tasks of the mlcycle pipelines (KFP v2 lightweight components)." \
      org.opencontainers.image.licenses="Apache-2.0"
# A numeric user, so Kubernetes can verify runAsNonRoot; 8888 is also Seldon's default pod user.
RUN groupadd --system --gid 8888 mlcycle \
    && useradd --system --uid 8888 --gid mlcycle --create-home --home-dir /home/mlcycle --shell /usr/sbin/nologin mlcycle
# The dependencies change with uv.lock only, so this large layer stays cached while the code changes.
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/opt/mlcycle \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/mlcycle
WORKDIR /opt/mlcycle
COPY components/ components/
COPY pipelines/ pipelines/
COPY cli/ cli/
# Recorded in every dataset manifest and model card (components/common/provenance.py); last, so a
# new commit rebuilds no layer above.
ARG MLCYCLE_CODE_VERSION=unknown
ENV MLCYCLE_CODE_VERSION=$MLCYCLE_CODE_VERSION
USER 8888:8888
CMD ["python3", "-m", "cli", "--help"]
