# syntax=docker/dockerfile:1
# Two images from one file, `docker build --target web|worker .`:
#   web     `atelier serve --no-worker`, `atelier db upgrade`, and the light worker
#           `atelier worker --queues cpu`: no torch, no model stack
#   worker  `atelier worker --queues gpu`: the `train` extra on PyPI's CUDA build of torch
# Dependencies are installed in the build stages into /opt/venv; the final images copy that
# environment and the code and nothing else (no compiler, no pip cache, no build files).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /srv/atelier
RUN useradd --create-home --uid 1000 --user-group atelier

# --- build stages: dependencies into /opt/venv ---------------------------------------------

FROM base AS build-web
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
# Empty packages stand in for the code, so that a change to the code reinstalls nothing. The
# project is installed editable: /opt/venv points at /srv/atelier/app and worker, where the
# final images put the code (templates, static files and migrations are read from there).
RUN mkdir app worker && touch app/__init__.py worker/__init__.py \
    && pip install -e '.[postgres]'

FROM build-web AS build-worker
# PyPI's torch wheel for Linux x86_64 is the CUDA build (its CUDA libraries come as wheels);
# bitsandbytes' wheel carries its CUDA kernels. `--build-arg TORCH=torch==X.Y.Z` pins it.
ARG TORCH=torch
RUN pip install "$TORCH" && pip install -e '.[postgres,train]'

# --- the code both images run ------------------------------------------------------------

FROM scratch AS code
WORKDIR /srv/atelier
COPY alembic.ini ./
COPY app ./app
COPY worker ./worker
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY models ./models

# --- final images ----------------------------------------------------------------------------

FROM base AS web
COPY --from=build-web /opt/venv /opt/venv
COPY --from=code /srv/atelier /srv/atelier
RUN mkdir var && chown atelier:atelier var
USER atelier
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["atelier", "serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
COPY --from=build-worker /opt/venv /opt/venv
COPY --from=code /srv/atelier /srv/atelier
# Hub base models are downloaded here (a volume in docker-compose.yml keeps them).
ENV HF_HOME=/srv/hf-cache
RUN mkdir var /srv/hf-cache && chown atelier:atelier var /srv/hf-cache
USER atelier
CMD ["atelier", "worker", "--queues", "gpu"]
