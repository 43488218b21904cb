# The serving image: Seldon Core's Python wrapper around a registered model (SERVING_IMAGE in
# components/images.py). Build it from the repository root with `make images`.
#
# Its Python packages are exactly serving/uv.lock (seldon-core 1.17.1, and the numpy and scikit-learn
# the models were trained with); neither kfp nor TFDV is in it. Only the project code that serving
# imports is copied (tests/unit/images checks that set against the import graph of the model class).
# Seldon's conventions: REST on 9000, gRPC on 5000, metrics on 6000; the operator may set every
# port through PREDICTIVE_UNIT_*_PORT variables, which the wrapper honours; pods run as user 8888.

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /build
COPY serving/pyproject.toml serving/uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
LABEL org.opencontainers.image.title="mlcycle-serving" \
      org.opencontainers.image.description="Serves registered mlcycle models with the Seldon Core v1 Python wrapper." \
      org.opencontainers.image.licenses="Apache-2.0"
# Seldon's operator runs model containers as user 8888 (its defaultUserID): the same numeric user here.
RUN groupadd --system --gid 8888 mlcycle \
    && useradd --system --uid 8888 --gid mlcycle --create-home --home-dir /home/mlcycle --shell /usr/sbin/nologin mlcycle
COPY --from=builder /opt/venv /opt/venv
# OMP_NUM_THREADS=1: one OpenMP thread per gunicorn worker; unpinned, CPU per request doubled when
# measured (see the design notes). A SeldonDeployment may raise it with its CPU share.
# Two workers of one thread: the best single-row latency measured (serving/README.md). No gRPC server:
# the model class speaks REST only, and Seldon's default would fork one more process loading the model.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/opt/mlcycle \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/mlcycle \
    OMP_NUM_THREADS=1 \
    GUNICORN_WORKERS=2 \
    GUNICORN_THREADS=1 \
    GRPC_WORKERS=0 \
    MODEL_NAME=components.serve.model.Model \
    SERVICE_TYPE=MODEL
WORKDIR /opt/mlcycle
# Only what the model class imports, and the preprocessing functions a pickled model refers to.
COPY components/__init__.py components/
COPY components/common/ components/common/
COPY components/preprocess/ components/preprocess/
COPY components/serve/ components/serve/
ARG MLCYCLE_CODE_VERSION=unknown
ENV MLCYCLE_CODE_VERSION=$MLCYCLE_CODE_VERSION
EXPOSE 9000 5000 6000
USER 8888:8888
CMD ["sh", "-c", "exec seldon-core-microservice \"$MODEL_NAME\" --service-type \"$SERVICE_TYPE\""]
