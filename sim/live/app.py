"""The coordinator's HTTP face: FastAPI routes over :class:`~sim.live.coordinator.Coordinator`.

Every refusal is a 4xx JSON body ``{"error": code, "detail": line, "status": n}``; bodies are
read with a running size cap (so a lying or missing ``Content-Length`` cannot make the server
buffer more than the cap); CPU-heavy work (signature checks, decoding, validation, disk writes)
runs in the thread pool so one slow upload cannot stall the event loop.

Uploads (``PUT /v1/gradient/{window}``, the one hot route) are served by a plain ASGI handler
ahead of FastAPI's middleware, routing, dependency and serialisation machinery, with signature check, nonce,
rate limit, payload checks and the durable write in a single worker-thread hop; the other routes
are ordinary FastAPI routes. Both give the same answers and the same error bodies.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.live import LiveError, SignedEnvelope
from sim.live.coordinator import Coordinator

__all__ = ["SMALL_BODY_BYTES", "create_app"]

#: Cap on the body of every request except uploads.
SMALL_BODY_BYTES = 4096


#: The upload route's path; longer window numbers are left to FastAPI (which refuses them).
_UPLOAD_PATH = re.compile(r"/v1/gradient/([0-9]{1,18})")


def _error(err: LiveError) -> JSONResponse:
    headers = {}
    if err.status == 429:
        headers["retry-after"] = "1"
    return JSONResponse(err.to_json(), status_code=err.status, headers=headers)


def _internal_error(exc: Exception) -> dict[str, Any]:
    """The 500 body of a bug: it costs one request, never the server."""
    return {
        "error": "internal_error",
        "detail": f"{type(exc).__name__}: {exc}"[:300],
        "status": 500,
    }


async def _send_json(send: Send, status: int, doc: dict[str, Any]) -> None:
    """Send ``doc`` as a complete JSON response (as :class:`JSONResponse` would encode it)."""
    body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    if status == 429:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _check_declared_length(declared: str | None, cap: int) -> None:
    """Refuse a ``Content-Length`` that is not an integer (400) or exceeds ``cap`` (413)."""
    if declared is None:
        return
    # ASCII digits only (str.isdigit also takes "²" and other scripts' digits), and at most 19 of
    # them: int() of thousands of digits raises ValueError, which must not become a 500.
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 19):
        raise LiveError(
            400, "bad_header", f"header content-length: {declared!r:.40} is not a byte count"
        )
    if int(declared) > cap:
        raise LiveError(
            413, "payload_too_large", f"body: {declared} bytes exceeds the cap of {cap}"
        )


class _NeverCrash:
    """ASGI middleware: an unexpected exception becomes a JSON 500 (if nothing was sent yet).

    A plain ASGI layer rather than ``@app.middleware("http")``, which wraps every request and
    response in extra tasks and memory streams.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # a bug must cost one request, never the server
            if started:
                raise
            await _send_json(send, 500, _internal_error(exc))


class _Uploads:
    """Serves ``PUT /v1/gradient/{window}`` without FastAPI's routing and middleware layers.

    The body is read with the upload cap; signature, rate limit, nonce, payload checks and the
    fsynced log record run in one worker-thread hop; the receipt or the refusal goes back as
    JSON, exactly as the FastAPI route answered.
    """

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @staticmethod
    def window_of(scope: Scope) -> int | None:
        """The window of an upload request this layer serves, else ``None``."""
        if scope["type"] != "http" or scope["method"] != "PUT" or scope.get("root_path"):
            return None
        match = _UPLOAD_PATH.fullmatch(scope["path"])
        return None if match is None else int(match.group(1))

    async def serve(self, scope: Scope, receive: Receive, send: Send, window: int) -> None:
        """Answer one upload request (never raises)."""
        try:
            doc = await self._upload(scope, receive, window)
        except LiveError as err:
            await _send_json(send, err.status, err.to_json())
            return
        except Exception as exc:  # a bug must cost one request, never the server
            await _send_json(send, 500, _internal_error(exc))
            return
        if doc is not None:
            await _send_json(send, 200, doc)

    async def _upload(self, scope: Scope, receive: Receive, window: int) -> dict[str, Any] | None:
        """The receipt, or ``None`` when the client went away before sending its body."""
        coordinator = self.coordinator
        cap = coordinator.limits.max_bytes
        # ASGI header names are lowercase bytes; the last of repeated headers wins, as before.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        _check_declared_length(headers.get("content-length"), cap)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise LiveError(413, "payload_too_large", f"body: more than {cap} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        client = scope["client"][0] if scope.get("client") else "unknown"
        path = scope["path"]

        def authenticate_and_accept() -> dict[str, Any]:
            envelope = coordinator.authenticate("PUT", path, headers, body, client)
            return coordinator.accept_upload(envelope, window, body)

        return await run_in_threadpool(authenticate_and_accept)


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refusing (413) as soon as it would exceed ``cap`` bytes."""
    _check_declared_length(request.headers.get("content-length"), cap)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise LiveError(413, "payload_too_large", f"body: more than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _LiveFastAPI(FastAPI):
    """FastAPI, with uploads handed to :class:`_Uploads` before any middleware or routing."""

    uploads: _Uploads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        window = None if self.uploads is None else self.uploads.window_of(scope)
        if window is None:
            await super().__call__(scope, receive, send)
        else:
            await self.uploads.serve(scope, receive, send, window)


def create_app(
    coordinator: Coordinator, *, run_ticker: bool = True, api_docs: bool = False
) -> FastAPI:
    """Build the FastAPI app for ``coordinator``.

    Parameters
    ----------
    coordinator
        The live subnet.
    run_ticker
        Start the window ticker with the app (tests that drive windows by hand pass False).
    api_docs
        Serve the generated API documentation (``/docs``, ``/redoc``, ``/openapi.json``). Off by
        default: a public coordinator answers only the protocol's endpoints (docs/live.md lists
        them).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_ticker:
            coordinator.start()
        try:
            yield
        finally:
            coordinator.stop()

    app = _LiveFastAPI(
        title="govsim live coordinator",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
        openapi_url="/openapi.json" if api_docs else None,
    )
    app.state.coordinator = coordinator

    @app.exception_handler(LiveError)
    async def _live_error(_: Request, exc: LiveError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(LiveError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(LiveError(422, "bad_request", f"{where}: {first.get('msg', 'invalid')}"))

    app.add_middleware(_NeverCrash)
    app.uploads = _Uploads(coordinator)

    async def signed(request: Request, cap: int = SMALL_BODY_BYTES) -> tuple[SignedEnvelope, bytes]:
        body = await read_capped(request, cap)
        headers = {k.lower(): v for k, v in request.headers.items()}
        client = request.client.host if request.client else "unknown"
        envelope = await run_in_threadpool(
            coordinator.authenticate, request.method, request.url.path, headers, body, client
        )
        return envelope, body

    def _window(window: int) -> int:
        if window < 0:
            raise LiveError(422, "bad_request", f"path window: {window} must be >= 0")
        return window

    def public(request: Request) -> None:
        coordinator.limit_public(request.client.host if request.client else "unknown")

    @app.get("/v1/clock")
    async def clock(request: Request) -> dict[str, Any]:
        public(request)
        now = coordinator.now()
        return {
            "now": now,
            "window": coordinator.clock.window_at(now),
            "genesis": coordinator.clock.genesis,
            "window_seconds": coordinator.clock.window_seconds,
            "put_window_seconds": coordinator.clock.put_window_seconds,
            "model_window": coordinator.model_window,
            "global_step": coordinator.global_step,
            "last_closed_window": coordinator.last_closed,
        }

    @app.get("/v1/info")
    async def info(request: Request) -> dict[str, Any]:
        public(request)
        return coordinator.info()

    @app.get("/v1/status")
    async def status(request: Request) -> dict[str, Any]:
        public(request)
        return await run_in_threadpool(coordinator.status)

    @app.post("/v1/register")
    async def register(request: Request) -> dict[str, Any]:
        envelope, _ = await signed(request)
        client = request.client.host if request.client else "unknown"
        return await run_in_threadpool(coordinator.register, envelope, client)

    @app.get("/v1/model")
    async def model(request: Request) -> Response:
        envelope, _ = await signed(request)
        data, window, step = coordinator.model_payload(envelope)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"x-govsim-model-window": str(window), "x-govsim-global-step": str(step)},
        )

    @app.get("/v1/assignment/{window}")
    async def assignment(window: int, request: Request) -> dict[str, Any]:
        envelope, _ = await signed(request)
        return coordinator.assignment(envelope, _window(window))

    # Served by _UploadRoute; this route only sees windows that are not plain digits (refused).
    @app.put("/v1/gradient/{window}")
    async def upload(window: int, request: Request) -> dict[str, Any]:
        envelope, body = await signed(request, cap=coordinator.limits.max_bytes)
        return await run_in_threadpool(coordinator.accept_upload, envelope, _window(window), body)

    @app.get("/v1/me")
    async def me(request: Request) -> dict[str, Any]:
        envelope, _ = await signed(request)
        return coordinator.miner_report(envelope)

    return app
