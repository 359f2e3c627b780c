from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests import services


def test_healthz_reports_database_and_broker(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_with_redis_broker(settings: Settings) -> None:
    settings = settings.model_copy(update={"BROKER_URL": services.redis_url(15)})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["broker"] == "ok"


def test_healthz_degraded_when_broker_is_down(settings: Settings) -> None:
    settings = settings.model_copy(update={"BROKER_URL": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert body == {"status": "degraded", "database": "ok", "broker": "unreachable"}, (
        "the state only: an error's text can show hosts, ports and user names"
    )
