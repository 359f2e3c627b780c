from pydantic import BaseModel, Field


class AdapterOut(BaseModel):
    run_id: int
    name: str
    task: str
    active: bool
    adapter_sha256: str
    adapter_url: str
    metrics: dict[str, dict[str, float]] = Field(
        description="base and adapted: tag F1, BLEU-4, share of captions without violation"
    )


class ActiveIn(BaseModel):
    run_id: int | None = Field(description="the adapter to make active; null for none")
    autotag_uploads: bool | None = Field(
        default=None, description="auto-tag every new upload with the active adapter"
    )


class AdaptersOut(BaseModel):
    active_run_id: int | None
    autotag_uploads: bool
    items: list[AdapterOut]
