"""A signed HTTP client for the live coordinator (used by the miner, the tests and the bench)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.live import hotkey_of, seal

__all__ = ["CoordinatorError", "LiveClient"]


class CoordinatorError(RuntimeError):
    """A refusal from the coordinator: its status, error code and detail line."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class LiveClient:
    """Talks to one coordinator with one hotkey; nonces are wall-clock nanoseconds, strictly
    increasing within the process (so they also increase across restarts of the miner).

    Parameters
    ----------
    base_url
        ``http://127.0.0.1:PORT``.
    key
        The miner's private key.
    timeout
        Per-request timeout in seconds.
    http
        An HTTP client to use (shared between clients, or a test client); by default a new
        ``httpx.Client`` (building one loads the TLS certificates, about 0.1 s).
    """

    def __init__(
        self,
        base_url: str,
        key: Ed25519PrivateKey,
        timeout: float = 60.0,
        *,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.hotkey = hotkey_of(key)
        self.http = (
            http if http is not None else httpx.Client(base_url=self.base_url, timeout=timeout)
        )
        self._nonce = 0
        self._nonce_lock = threading.Lock()
        self.clock_offset = 0.0  # server time − local time, from /v1/clock
        self.window_hint = 0

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def next_nonce(self) -> int:
        """A nonce greater than every nonce this client used before."""
        with self._nonce_lock:
            self._nonce = max(self._nonce + 1, time.time_ns())
            return self._nonce

    def signed(
        self,
        method: str,
        path: str,
        *,
        window: int | None = None,
        body: bytes = b"",
        nonce: int | None = None,
    ) -> httpx.Request:
        """Build a signed request (not sent): for callers that want to tamper with it in tests."""
        win = self.window_hint if window is None else window
        headers = seal(
            self.key,
            method=method,
            path=path,
            nonce=nonce or self.next_nonce(),
            window=win,
            body=body,
        )
        if body:
            headers["content-type"] = "application/octet-stream"
        return self.http.build_request(method, path, headers=headers, content=body)

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send a request; raise :class:`CoordinatorError` on a refusal."""
        response = self.http.send(request)
        if response.status_code >= 400:
            try:
                doc = response.json()
                raise CoordinatorError(
                    response.status_code, doc.get("error", "?"), doc.get("detail", "")
                )
            except ValueError:
                raise CoordinatorError(
                    response.status_code, "http_error", response.text[:200]
                ) from None
        return response

    def server_clock(self) -> dict[str, Any]:
        """``GET /v1/clock`` (unsigned); also updates the clock offset and window hint."""
        t0 = time.time()
        doc = self.http.get("/v1/clock").raise_for_status().json()
        t1 = time.time()
        self.clock_offset = doc["now"] - (t0 + t1) / 2
        self.window_hint = int(doc["window"])
        return doc

    def server_now(self) -> float:
        """Local estimate of the coordinator's clock."""
        return time.time() + self.clock_offset

    def info(self) -> dict[str, Any]:
        """``GET /v1/info`` (unsigned)."""
        return self.http.get("/v1/info").raise_for_status().json()

    def status(self) -> dict[str, Any]:
        """``GET /v1/status`` (unsigned)."""
        return self.http.get("/v1/status").raise_for_status().json()

    def register(self) -> dict[str, Any]:
        """``POST /v1/register``."""
        return self.send(self.signed("POST", "/v1/register")).json()

    def model(self) -> tuple[bytes, int, int]:
        """``GET /v1/model``: safetensors bytes, the window it is for, its global step."""
        r = self.send(self.signed("GET", "/v1/model"))
        return (
            r.content,
            int(r.headers["x-govsim-model-window"]),
            int(r.headers["x-govsim-global-step"]),
        )

    def assignment(self, window: int) -> dict[str, Any]:
        """``GET /v1/assignment/{window}``."""
        return self.send(self.signed("GET", f"/v1/assignment/{window}")).json()

    def upload(self, window: int, body: bytes) -> dict[str, Any]:
        """``PUT /v1/gradient/{window}`` with a safetensors body, signed for ``window``."""
        return self.send(
            self.signed("PUT", f"/v1/gradient/{window}", window=window, body=body)
        ).json()

    def me(self) -> dict[str, Any]:
        """``GET /v1/me``: uid, credited emission and per-window scores."""
        return self.send(self.signed("GET", "/v1/me")).json()
