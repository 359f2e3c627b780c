"""A live server (uvicorn with a worker-less web app) on a free port, and headless Chromium."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.seed import Seeded, demo_runs
from tests.worker.e2e import worker_process

ADMIN = "admin@maison.test"
PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


ATELIER = [sys.executable, "-m", "app.cli"]


def _embedded(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of an embedded Atelier under tmp_path, its database migrated."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'blobs'}",
        **settings,
    }
    subprocess.run([*ATELIER, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def live_settings() -> dict[str, str]:
    """The live server's settings beyond the embedded ones (a module may override this)."""
    return {}


@pytest.fixture
def live_env(tmp_path: Path, live_settings: dict[str, str]) -> dict[str, str]:
    """The live server's environment, its database migrated. Small pages, so that "Show more"
    is reached with a few images."""
    return _embedded(tmp_path, PAGE_SIZE="6", **live_settings)


@pytest.fixture
def live_server(live_env: dict[str, str]) -> Iterator[str]:
    """A migrated SQLite database with the brand `maison`, served by `atelier serve`."""
    port, env = _free_port(), live_env
    created = subprocess.run(
        [*ATELIER, "user", "create", ADMIN, "--password", PASSWORD, "--superuser"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = created.stdout.split("token: ")[1].strip()
    server = subprocess.Popen([*ATELIER, "serve", "--no-worker", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", server)
        request = urllib.request.Request(
            f"{base}/api/v1/brands",
            data=b'{"slug": "maison", "name": "Maison Test"}',
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def light_worker(live_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """A light worker (`atelier worker --queues cpu`) beside the live server, for what it
    does in the background (exports, large imports); stopped, whatever happens."""
    with worker_process(live_env, tmp_path / "light-worker.log", queues="cpu"):
        yield


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """`make demo` in miniature: the demo brand seeded, web and worker served together."""
    port = _free_port()
    env = _embedded(tmp_path)
    subprocess.run([*ATELIER, "demo"], env=env, check=True, capture_output=True)
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [*ATELIER, "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", server)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab, signed in to nothing."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, base: str, email: str, password: str, then: str = "/") -> None:
    """Sign in through the login page, as a person does."""
    page.goto(f"{base}/login?next={then}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def admin_page(page: Page, live_server: str) -> Page:
    """A tab signed in as the admin of `maison`."""
    sign_in(page, live_server, ADMIN, PASSWORD)
    return page


@dataclass(frozen=True)
class DemoSite:
    base: str
    database_url: str
    runs: Seeded


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[DemoSite]:
    """The demo brand seeded with a trained, evaluated run and a running one (written to the
    database, not trained), served without a worker: every page has something to show."""
    port = _free_port()
    env = _embedded(tmp_path)
    subprocess.run([*ATELIER, "demo"], env=env, check=True, capture_output=True)
    runs = demo_runs(env["DATABASE_URL"])
    server = subprocess.Popen([*ATELIER, "serve", "--no-worker", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", server)
        yield DemoSite(base=base, database_url=env["DATABASE_URL"], runs=runs)
    finally:
        server.terminate()
        server.wait(timeout=10)


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each.

    `page.evaluate` runs the script through the DevTools protocol, which the page's content
    security policy does not govern (a <script> tag, inline, would be refused)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']} {v['id']}: {v['help']} {[n['target'] for n in v['nodes'][:3]]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Page) -> list[str]:
    """What reaches beyond the viewport's right edge, other than inside an element that
    scrolls sideways itself (a wide table in its box)."""
    return page.evaluate(
        """() => {
        const root = document.documentElement, width = root.clientWidth, out = [];
        if (root.scrollWidth > width) out.push(`page ${root.scrollWidth}px wide`);
        const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
        const inScroller = (e) => {
          for (let p = e.parentElement; p; p = p.parentElement) if (scrolls(p)) return true;
          return false;
        };
        for (const e of document.querySelectorAll('body *')) {
          const r = e.getBoundingClientRect();
          const name = `${e.tagName.toLowerCase()}#${e.id}.${e.className}`;
          const beyond = r.width && r.right > width + 1 && !inScroller(e);
          if (beyond) out.push(`${name} right ${Math.round(r.right)}`);
        }
        return out.slice(0, 10);
    }"""
    )
