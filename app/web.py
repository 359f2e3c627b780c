"""Server-rendered pages: one Jinja2 environment, and rendering of a page or one of its blocks;
and blobs answered to the browser.

A page and its htmx fragments come from one template: a fragment is a named block of it.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from app.config import ROOT, Settings
from app.storage import BlobStore, blob_chunks

templates = Jinja2Templates(directory=ROOT / "templates")


@pass_context
def path_for(context: dict[str, Any], name: str, /, **params: Any) -> str:
    """A route's path without scheme and host: an absolute URL would take the host from the
    request's Host header, which the client chooses, and point scripts and links there."""
    request: Request = context["request"]
    return str(request.app.url_path_for(name, **params))


templates.env.globals["url_for"] = path_for


def page(
    request: Request,
    name: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a whole page."""
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )


def fragment(
    request: Request, name: str, block: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render one block of a page template, for an htmx swap."""
    template = templates.env.get_template(name)
    ctx = template.new_context({"request": request, **context})
    html = "".join(template.blocks[block](ctx))
    return HTMLResponse(html, status_code=status_code)


def page_or_fragment(request: Request, name: str, block: str, **context: Any) -> HTMLResponse:
    """The whole page, or only its `block` when htmx polls for it."""
    if is_htmx(request):
        return fragment(request, name, block, **context)
    return page(request, name, **context)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def blob_response(
    store: BlobStore,
    key: str,
    *,
    settings: Settings,
    media_type: str,
    disposition: str = "inline",
    headers: dict[str, str] | None = None,
) -> Response:
    """A blob for the browser, once its access check has passed: a redirect to a presigned URL
    valid for STORAGE_PRESIGN_SECONDS where the store gives one (S3), else its bytes streamed
    from the store a chunk at a time."""
    url = store.presigned_url(
        key,
        seconds=settings.STORAGE_PRESIGN_SECONDS,
        media_type=media_type,
        disposition=disposition,
    )
    if url is not None:  # never cached: the next request is checked again and signed anew
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {**(headers or {}), "Content-Disposition": disposition}
    return StreamingResponse(blob_chunks(store.open(key)), media_type=media_type, headers=headers)
