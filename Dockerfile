# One image for both roles: `atelier serve --no-worker` (web) and `atelier worker` (GPU node).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/atelier

RUN useradd --create-home --uid 1000 atelier

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
# PyPI's default torch wheel for Linux is the CUDA build the GPU workers need.
RUN mkdir app worker && touch app/__init__.py worker/__init__.py \
    && pip install '.[postgres,train]' && pip uninstall -y atelier

COPY alembic.ini ./
COPY app ./app
COPY worker ./worker
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY models ./models
# Editable: templates, static files and migrations are read from /srv/atelier at run time.
RUN pip install --no-deps -e . && mkdir -p var /srv/blobs && chown -R atelier var /srv/blobs

USER atelier
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "atelier db upgrade && atelier serve --no-worker --host 0.0.0.0 --port 8000"]
