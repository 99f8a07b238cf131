"""The coordinator's HTTP face: FastAPI routes over :class:`~sim.live.coordinator.Coordinator`.

Every refusal is a 4xx JSON body ``{"error": code, "detail": line, "status": n}``; bodies are
read with a running size cap (so a lying or missing ``Content-Length`` cannot make the server
buffer more than the cap); CPU-heavy work (signature checks, decoding, validation, disk writes)
runs in the thread pool so one slow upload cannot stall the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol.live import LiveError, SignedEnvelope
from sim.live.coordinator import Coordinator

__all__ = ["SMALL_BODY_BYTES", "create_app"]

#: Cap on the body of every request except uploads.
SMALL_BODY_BYTES = 4096


def _error(err: LiveError) -> JSONResponse:
    headers = {}
    if err.status == 429:
        headers["retry-after"] = "1"
    return JSONResponse(err.to_json(), status_code=err.status, headers=headers)


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refusing (413) as soon as it would exceed ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise LiveError(
                400, "bad_header", f"header content-length: {declared!r:.40} is not an integer"
            )
        if int(declared) > cap:
            raise LiveError(
                413, "payload_too_large", f"body: {declared} bytes exceeds the cap of {cap}"
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise LiveError(413, "payload_too_large", f"body: more than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(coordinator: Coordinator, *, run_ticker: bool = True) -> FastAPI:
    """Build the FastAPI app for ``coordinator``.

    Parameters
    ----------
    coordinator
        The live subnet.
    run_ticker
        Start the window ticker with the app (tests that drive windows by hand pass False).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_ticker:
            coordinator.start()
        try:
            yield
        finally:
            coordinator.stop()

    app = FastAPI(
        title="govsim live coordinator",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
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

    @app.middleware("http")
    async def _never_crash(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await call_next(request)
        except Exception as exc:  # a bug must cost one request, never the server
            body = {
                "error": "internal_error",
                "detail": f"{type(exc).__name__}: {exc}"[:300],
                "status": 500,
            }
            return JSONResponse(body, status_code=500)

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
        return await run_in_threadpool(coordinator.register, envelope)

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

    @app.put("/v1/gradient/{window}")
    async def upload(window: int, request: Request) -> dict[str, Any]:
        envelope, body = await signed(request, cap=coordinator.limits.max_bytes)
        return await run_in_threadpool(coordinator.accept_upload, envelope, _window(window), body)

    @app.get("/v1/me")
    async def me(request: Request) -> dict[str, Any]:
        envelope, _ = await signed(request)
        return coordinator.miner_report(envelope)

    return app
