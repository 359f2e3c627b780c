"""Settings: every default is the embedded one (SQLite, SQLite broker, local blobs)."""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEVELOPMENT_SECRET = "development-only-secret-change-me"
DEMO_DEFAULT_PASSWORD = "atelier-demo"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    ENVIRONMENT: str = "development"
    SECRET_KEY: str = DEVELOPMENT_SECRET

    DATABASE_URL: str = f"sqlite:///{VAR / 'atelier.db'}"
    BROKER_URL: str = f"sqla+sqlite:///{VAR / 'broker.db'}"
    # file:///folder, or s3://BUCKET[/PREFIX]?endpoint_url=http://HOST:PORT (AWS_* credentials).
    STORAGE_URL: str = f"file://{VAR / 'blobs'}"
    # How long a presigned URL to an original or an adapter in S3 stays valid.
    STORAGE_PRESIGN_SECONDS: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # Upload limits. Each guards memory, disk or decode time against a hostile or careless file.
    # A request body: MAX_REQUEST_BYTES on upload routes (for a signed-in person), else this.
    MAX_BODY_BYTES: int = 1024**2
    MAX_REQUEST_BYTES: int = 2 * 1024**3
    MAX_FILE_BYTES: int = 50 * 1024**2
    MAX_IMAGE_PIXELS: int = 40_000_000
    MAX_ARCHIVE_MEMBERS: int = 10_000
    MAX_ARCHIVE_UNCOMPRESSED_BYTES: int = 4 * 1024**3
    # All the archives of one upload request together.
    MAX_REQUEST_UNPACKED_BYTES: int = 4 * 1024**3
    MAX_STYLEGUIDE_BYTES: int = 20 * 1024**2
    # A PDF guide's text is read within this many pages and seconds, or refused.
    MAX_STYLEGUIDE_PAGES: int = 500
    STYLEGUIDE_EXTRACT_SECONDS: float = 20.0
    THUMBNAIL_SIZE: int = 320
    # An archive of more members than this is imported in the background, on a `cpu` worker
    # (the upload answers with the job and its progress); smaller ones are answered inline.
    IMPORT_INLINE_MAX_FILES: int = Field(default=50, ge=0)
    # `GET /api/v1/brands/{slug}/export` builds a zip of up to this many images in the request;
    # a larger one is refused (409) for `POST .../exports`, built on a `cpu` worker.
    EXPORT_INLINE_MAX_IMAGES: int = Field(default=200, ge=0)
    # A background export's zip is kept this long after it is built, then deleted (the job
    # says expired, its download answers 410).
    EXPORT_KEEP_HOURS: float = Field(default=72, gt=0)

    PAGE_SIZE: int = 48

    # Sign-in. Sessions end after this much idleness, and in any case this long after login.
    SESSION_IDLE_SECONDS: int = 2 * 3600
    SESSION_MAX_SECONDS: int = 12 * 3600
    API_TOKEN_DAYS: int = 90
    INVITATION_DAYS: int = 7
    # Failures allowed before sign-in slows down (doubling waits), per account and per address.
    LOGIN_FREE_FAILURES: int = 5
    LOGIN_FREE_FAILURES_PER_ADDRESS: int = 20
    LOGIN_MAX_WAIT_SECONDS: int = 15 * 60

    # A worker renews its lease on a run every third of this; a run whose lease ran out is
    # resumed by another worker from its last checkpoint.
    RUN_LEASE_SECONDS: int = 30
    # A run whose worker died or stopped this many times is failed rather than tried again.
    RUN_MAX_ATTEMPTS: int = Field(default=3, ge=1)
    # A queued run or auto-tag job that no worker has claimed for this long is sent again: its
    # message may never have reached the broker (lost with a broker that restarted). A
    # duplicate is harmless: the claim is atomic and the second message finds nothing to do.
    QUEUED_RESEND_SECONDS: int = Field(default=120, ge=1)
    RUN_VALIDATION_FRACTION: float = 0.2
    # What a worker keeps loaded between tasks: base models (4-bit) and adapters on each.
    WORKER_MAX_BASES: int = Field(default=1, ge=1)
    WORKER_MAX_ADAPTERS: int = Field(default=4, ge=1)
    # CPU threads of a worker's model work; 0: one per core the worker may use (its CPU
    # affinity, capped by a container's CPU quota).
    WORKER_THREADS: int = Field(default=0, ge=0)
    # A worker's scratch folder (a run's checkpoints as they are written, unzipped adapters):
    # its own, never shared; whatever another process needs goes through the blob store.
    WORK_DIR: Path = VAR / "work"
    # Memory a worker has for a run (a GPU's, or RAM on a CPU worker): the run form warns when
    # a preset's estimated peak (app/runs/memory.py) exceeds it. 24 GB: an L4 or a 4090.
    WORKER_MEMORY_BYTES: int = Field(default=24 * 1000**3, ge=1)
    # Images an auto-tag job captions in one forward pass.
    AUTOTAG_BATCH_SIZE: int = Field(default=16, ge=1, le=256)

    # Host names this installation answers to (others get 400); "*" allows any. Comma-separated.
    TRUSTED_HOSTS: Annotated[list[str], NoDecode] = ["127.0.0.1", "localhost", "testserver"]
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed: the
    # client's address, for sign-in throttling and the audit log, is then the rightmost one
    # that is not such a proxy. Empty: the connection's own address, always.
    TRUSTED_PROXIES: Annotated[list[str], NoDecode] = []

    # Base models. A local source must lie inside one of these folders (after symlinks and
    # `..` are resolved): the worker reads whatever path it is given. Hub ids may be limited to
    # these ids or `owner/` prefixes; empty allows any. Comma-separated in the environment.
    MODELS_ROOTS: Annotated[list[Path], NoDecode] = [ROOT / "models"]
    HUB_MODELS_ALLOWED: Annotated[list[str], NoDecode] = []

    DEMO_ADMIN_EMAIL: str = "admin@demo.atelier"
    DEMO_ADMIN_PASSWORD: str = DEMO_DEFAULT_PASSWORD

    # Workers run on other hosts than the web process: they then reach blobs only through a
    # shared store, so a local-folder STORAGE_URL is refused outside development.
    WORKERS_REMOTE: bool = False
    # The bearer token a Prometheus scraper sends to GET /metrics. Unset: the metrics are
    # served in development to loopback callers only, and to nobody elsewhere.
    METRICS_TOKEN: str = ""
    # "text" (the servers' own formats) or "json": one object a line, with the request id in
    # the web process and the run or job id in a worker's lines.
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator(
        "TRUSTED_HOSTS", "TRUSTED_PROXIES", "MODELS_ROOTS", "HUB_MODELS_ALLOWED", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def development(self) -> bool:
        return self.ENVIRONMENT == "development"

    def problems(self) -> list[str]:
        """Why these settings are unsafe outside development, one sentence each (none in
        development, which keeps every embedded default). The web process and the workers
        refuse to start while there is any (`app.startup`)."""
        if self.development:
            return []
        found = []
        if self.SECRET_KEY == DEVELOPMENT_SECRET:
            found.append("SECRET_KEY is the development value: set a long random secret.")
        if "sqlite" in self.DATABASE_URL.split(":", 1)[0]:
            found.append("DATABASE_URL is SQLite: use PostgreSQL (postgresql+psycopg://...).")
        if "sqlite" in self.BROKER_URL.split(":", 1)[0]:
            found.append("BROKER_URL is the SQLite broker: use Redis (redis://host:6379/0).")
        if self.WORKERS_REMOTE and self.STORAGE_URL.startswith("file://"):
            found.append(
                "STORAGE_URL is a local folder but WORKERS_REMOTE is set: workers on other "
                "hosts cannot read it; use a store they all reach."
            )
        return found

    @property
    def secure_cookies(self) -> bool:
        return not self.development


settings = Settings()
