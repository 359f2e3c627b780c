"""Headers every response carries: what the browser may load, frame or send on.

The pages have no inline script, style attribute or event handler (scripts live in static/),
so the content security policy allows scripts and styles from this site only: an injected
`<script>` or `onerror=` does nothing.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(image_origin: str | None = None) -> str:
    """The policy; `image_origin` is where originals are redirected to (an S3 endpoint)."""
    images = f"'self' data: blob: {image_origin}" if image_origin else "'self' data: blob:"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(image_origin: str | None = None) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(image_origin).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


class SecurityHeaders:
    """Add the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, image_origin: str | None = None) -> None:
        self.app = app
        self.headers = security_headers(image_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
