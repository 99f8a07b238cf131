"""The live coordinator's core (no HTTP): chain side and validators of one live subnet.

It owns the clock, the registry (hotkey → uid), replay and rate state, the model, accepted
uploads, the validators (through a :class:`~sim.live.engine.LiveEngine`) and the credited
emission. :mod:`sim.live.app` puts it behind FastAPI; tests can drive it directly with a fake
clock. Thread safety: HTTP handlers and the window ticker share one lock; the expensive window
scoring runs outside it.

Registration follows :mod:`protocol.live.registration`: a burn in the simulated ledger that rises
with each registration and decays with time, a per-address share of the miner slots, and, when
the subnet is full, the replacement of the weakest non-immune uid.

The coordinator logs (logger ``sim.live.coordinator``) one line per closed window, one per
registration and one per pruned uid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from protocol.live import (
    LiveClock,
    LiveError,
    PayloadLimits,
    SignedEnvelope,
    TokenBucket,
    UidStanding,
    address_cap,
    address_group,
    advance_nonce,
    burn_after_registration,
    check_request_window,
    check_tensors,
    check_upload_window,
    decayed_burn,
    decode_payload,
    encode_payload,
    open_envelope,
    spec_from_reference,
    take_token,
    uid_to_prune,
)
from protocol.live.upload_check import compile_upload_layout, quick_accept
from protocol.units import RAO_PER_TAO
from sim.live.config import LiveConfig
from sim.live.engine import LiveEngine, WindowOutcome
from sim.live.store import StateDir

if TYPE_CHECKING:
    from sim.live.network import SimulatedNetwork

__all__ = ["Coordinator", "MinerRecord"]

logger = logging.getLogger(__name__)

#: 2: registration burn, addresses, pruning (state written by version 1 cannot be resumed).
STATE_VERSION = 2
#: Failed-verification budget per client address (pre-auth, so forgers cannot drain a hotkey).
AUTH_FAILURE_RATE = 50.0
AUTH_FAILURE_BURST = 200
#: Closed windows whose details stay in state.json and /v1/status.
HISTORY_KEEP = 200
#: Unsigned requests (clock, info, status) per client address.
PUBLIC_RATE = 200.0
PUBLIC_BURST = 400
#: Failed attempts at scoring a window before it is scored without its uploads.
TICKER_RETRIES = 2
#: Upload logs kept behind the last closed window (for inspection after a restart).
UPLOADS_KEEP = 3
#: Pruned registrations remembered (for /v1/status and the refusal of a pruned hotkey).
PRUNED_KEEP = 200
#: Final scores named in a window's log line (the best ones).
LOG_SCORES = 5
#: Upload refusals that are counted per window (timing, content); others are not window-bound.
_COUNTED_REFUSALS = frozenset(
    {
        "too_early",
        "too_late",
        "malformed_payload",
        "not_safetensors",
        "payload_too_large",
        "wrong_layout",
        "non_finite",
        "out_of_range",
        "invalid_gradient",
        "already_uploaded",
        "upload_in_progress",
    }
)


@dataclass(frozen=True)
class MinerRecord:
    """A registered miner.

    Attributes
    ----------
    uid, hotkey
        The slot and the hotkey holding it.
    registered_window
        The window of the registration (immunity counts from it).
    address
        The client address group it registered from (the per-address share counts these).
    burn_rao
        Simulated TAO (rao) its registration burned.
    """

    uid: int
    hotkey: str
    registered_window: int
    address: str = ""
    burn_rao: int = 0


class Coordinator:
    """One live subnet on a real clock.

    Parameters
    ----------
    config
        The ``[live]`` table.
    state_dir
        Where the coordinator checkpoints; an existing state is resumed (same genesis, registry,
        emission, model and accepted uploads).
    engine
        The training protocol (model, payload checks, validators). Built from ``config`` if None.
    now
        Wall clock (unix seconds); tests inject a fake one.
    network
        The simulated network around the live subnet (:mod:`sim.live.network`): each window
        advances it and it sets the TAO the window pays. None: ``config.emission_per_window``.
    """

    def __init__(
        self,
        config: LiveConfig,
        state_dir: StateDir,
        *,
        engine: LiveEngine | None = None,
        now: Callable[[], float] = time.time,
        network: SimulatedNetwork | None = None,
    ) -> None:
        self.config = config
        self.network = network
        self.store = state_dir
        self.now = now
        self.engine = engine or LiveEngine.from_live_config(config)
        self.limits = PayloadLimits(max_bytes=config.max_upload_bytes)
        self.payload_spec = spec_from_reference(self.engine.reference_payload())
        training = self.engine.config
        # The one-pass check of well-formed uploads (the full checks judge everything else).
        self.upload_layout = compile_upload_layout(
            self.payload_spec,
            self.engine.shapes,
            chunk=training.chunk,
            topk=training.topk,
            bins=training.quant_bins,
            limits=self.limits,
        )
        self.lock = threading.RLock()
        self._buckets: dict[str, TokenBucket] = {}
        self._failures: dict[str, TokenBucket] = {}
        self._public: dict[str, TokenBucket] = {}
        self._attempts: dict[int, dict[int, str]] = {}  # window -> uid -> refusal kind
        self._sealed: set[int] = set()
        self._bodies: dict[int, dict[int, bytes]] = {}  # window -> uid -> accepted body
        self._inflight: set[tuple[int, int]] = set()  # (window, uid) uploads being checked
        self._refused: dict[int, Counter[str]] = {}  # window -> refusal code -> count
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.ticker_error: str | None = None
        self._engine_doc: dict[str, Any] = {}
        saved = state_dir.load_state()
        #: Whether this coordinator continued an existing state directory.
        self.resumed = saved is not None
        if saved is None:
            self._fresh()
        else:
            self._resume(saved)

    # ------------------------------------------------------------------ state and checkpoints
    def _fresh(self) -> None:
        genesis = float(self.now())
        self.clock = LiveClock(genesis, self.config.window_seconds, self.config.put_window_seconds)
        self.miners: dict[str, MinerRecord] = {}
        self.nonces: dict[str, int] = {}
        self.emission_rao: dict[str, int] = {}
        self.last_closed = -1
        self.model_window = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.accepted: dict[int, dict[int, dict[str, Any]]] = {}
        self.burn_tao = self.config.registration.burn  # the burn at `burn_updated_at`
        self.burn_updated_at = genesis
        self.burned_rao = 0
        self.pending_resets: set[int] = set()  # replaced uids the validators must forget
        self.pruned: list[dict[str, Any]] = []
        self._set_model(self.engine.initial_model())
        self._commit()

    def _resume(self, saved: dict[str, Any]) -> None:
        if saved.get("version") != STATE_VERSION:
            raise ValueError(
                f"{self.store.state_path}: state version {saved.get('version')!r}, expected "
                f"{STATE_VERSION} (written by another govsim version); use a new --state-dir"
            )
        if saved.get("config") != self.config.to_dict():
            raise ValueError(
                f"{self.store.state_path}: was written for a different [live] config; use a new --state-dir"
            )
        c = saved["clock"]
        self.clock = LiveClock(c["genesis"], c["window_seconds"], c["put_window_seconds"])
        self.miners = {m["hotkey"]: MinerRecord(**m) for m in saved["miners"]}
        self.nonces = {k: int(v) for k, v in saved["nonces"].items()}
        self.emission_rao = {k: int(v) for k, v in saved["emission_rao"].items()}
        self.last_closed = int(saved["last_closed"])
        self.model_window = int(saved["model_window"])
        self.global_step = int(saved["global_step"])
        self.history = list(saved["history"])
        registration = saved["registration"]
        self.burn_tao = float(registration["burn_tao"])
        self.burn_updated_at = float(registration["updated_at"])
        self.burned_rao = int(registration["burned_rao"])
        self.pending_resets = {int(u) for u in registration["pending_resets"]}
        self.pruned = list(registration["pruned"])
        raw = self.store.load_model(self.model_window)
        tensors, _ = decode_payload(raw, PayloadLimits(max_bytes=2**40))
        self._set_model(tensors, raw)
        self.engine.import_state(saved["engine"], tensors)
        self._engine_doc = saved["engine"]
        if self.network is not None:  # deterministic in its seed: replay the closed windows
            self.network.replay(self.last_closed + 1)
        if self.engine.window != self.model_window:
            raise ValueError(
                f"{self.store.state_path}: engine window {self.engine.window} != model window {self.model_window}"
            )
        # Accepted uploads of windows not yet closed come back from their receipts.
        self.accepted = {}
        owners = {m.uid: m.hotkey for m in self.miners.values()}
        for window in self.store.upload_windows():
            if window > self.last_closed:
                uploads = self.store.read_uploads(window)
                for receipt, _ in uploads.values():
                    hotkey, nonce = receipt["hotkey"], int(receipt["nonce"])
                    self.nonces[hotkey] = max(self.nonces.get(hotkey, 0), nonce)
                # An upload of a uid replaced since belonged to its previous hotkey: dropped.
                kept = {u: rb for u, rb in uploads.items() if owners.get(u) == rb[0]["hotkey"]}
                self.accepted[window] = {uid: receipt for uid, (receipt, _) in kept.items()}
                self._bodies[window] = {uid: body for uid, (_, body) in kept.items()}

    def _set_model(self, tensors: Mapping[str, Any], raw: bytes | None = None) -> None:
        """Install θ; ``raw`` is its exact file bytes when resuming (safetensors does not keep
        metadata order, so re-encoding would not reproduce them)."""
        self.model = dict(tensors)
        self.model_bytes = (
            raw
            if raw is not None
            else encode_payload(
                self.model, {"window": str(self.model_window), "global_step": str(self.global_step)}
            )
        )

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "clock": {
                "genesis": self.clock.genesis,
                "window_seconds": self.clock.window_seconds,
                "put_window_seconds": self.clock.put_window_seconds,
            },
            "miners": [vars(m) for m in sorted(self.miners.values(), key=lambda m: m.uid)],
            "nonces": dict(self.nonces),
            "emission_rao": dict(self.emission_rao),
            "last_closed": self.last_closed,
            "model_window": self.model_window,
            "global_step": self.global_step,
            "history": self.history[-HISTORY_KEEP:],
            "engine": self._engine_doc,
            "registration": {
                "burn_tao": self.burn_tao,
                "updated_at": self.burn_updated_at,
                "burned_rao": self.burned_rao,
                "pending_resets": sorted(self.pending_resets),
                "pruned": self.pruned[-PRUNED_KEEP:],
            },
        }

    def _commit(self) -> None:
        """Checkpoint: model file first (new name), then state.json (the commit point).

        The engine's state is exported here, between windows, and reused by later snapshots
        (registrations), which may happen while the next window is being scored.
        """
        self._engine_doc = self.engine.export_state()
        self.store.save_model(self.model_window, self.model_bytes)
        self.store.save_state(self._snapshot())
        self.store.prune_models(self.model_window)

    # ------------------------------------------------------------------ authentication
    def authenticate(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, client: str
    ) -> SignedEnvelope:
        """Verify signature, then rate limit, then nonce; the order keeps others' state untouched.

        A request that fails verification only spends its client address's failure budget; the
        per-hotkey bucket and nonce are touched only for requests the hotkey really signed.

        Raises
        ------
        LiveError
            401 / 400 (signature), 429 (rate), 409 (nonce).
        """
        now = time.monotonic()
        with self.lock:
            failures = self._failures.get(client)
            if failures is not None and failures.tokens < 1.0:
                decision = take_token(failures, now, AUTH_FAILURE_RATE, AUTH_FAILURE_BURST)
                self._failures[client] = decision.bucket
                if not decision.allowed:
                    raise LiveError(
                        429,
                        "rate_limited",
                        f"too many failed requests from {client}; retry in {decision.retry_after:.2f} s",
                    )
        try:
            envelope = open_envelope(method, path, headers, body)
        except LiveError:
            with self.lock:
                self._failures[client] = take_token(
                    self._failures.get(client), now, AUTH_FAILURE_RATE, AUTH_FAILURE_BURST
                ).bucket
            raise
        with self.lock:
            decision = take_token(
                self._buckets.get(envelope.hotkey),
                now,
                self.config.rate_per_second,
                self.config.rate_burst,
            )
            self._buckets[envelope.hotkey] = decision.bucket
            if not decision.allowed:
                raise LiveError(
                    429,
                    "rate_limited",
                    f"hotkey {envelope.hotkey[:16]}...: rate limit {self.config.rate_per_second}/s; retry in {decision.retry_after:.2f} s",
                )
            self.nonces[envelope.hotkey] = advance_nonce(
                self.nonces.get(envelope.hotkey), envelope.nonce
            )
        return envelope

    def limit_public(self, client: str) -> None:
        """Rate-limit an unsigned request (clock, info, status) by client address.

        Raises
        ------
        LiveError
            429 ``rate_limited`` over :data:`PUBLIC_RATE` requests per second.
        """
        with self.lock:
            decision = take_token(
                self._public.get(client), time.monotonic(), PUBLIC_RATE, PUBLIC_BURST
            )
            self._public[client] = decision.bucket
        if not decision.allowed:
            raise LiveError(
                429,
                "rate_limited",
                f"too many unsigned requests from {client}; retry in {decision.retry_after:.2f} s",
            )

    def _miner(self, envelope: SignedEnvelope) -> MinerRecord:
        record = self.miners.get(envelope.hotkey)
        if record is None:
            pruned = next(
                (p for p in reversed(self.pruned) if p["hotkey"] == envelope.hotkey), None
            )
            why = (
                ""
                if pruned is None
                else f" (its uid {pruned['uid']} was given to a new registration at window "
                f"{pruned['window']})"
            )
            raise LiveError(
                403,
                "not_registered",
                f"hotkey {envelope.hotkey[:16]}... is not registered{why}; POST /v1/register first",
            )
        return record

    def current_window(self) -> int:
        """The window the wall clock is in."""
        return self.clock.window_at(self.now())

    # ------------------------------------------------------------------ registration
    def current_burn(self, now: float | None = None) -> float:
        """The burn (simulated TAO) a registration pays now."""
        t = self.now() if now is None else now
        return decayed_burn(
            self.burn_tao,
            t - self.burn_updated_at,
            self.clock.window_seconds,
            self.config.registration,
        )

    @property
    def address_cap(self) -> int:
        """Most uids one client address may hold."""
        return address_cap(self.config.max_miners, self.config.registration)

    def _last_emission(self) -> dict[str, float]:
        """TAO credited per account in the last closed window (the pruning score)."""
        return dict(self.history[-1]["emission_tao"]) if self.history else {}

    def _free_uid(self) -> int:
        taken = {m.uid for m in self.miners.values()}
        first = self.engine.first_miner_uid
        return next(first + i for i in range(self.config.max_miners) if first + i not in taken)

    def _victim(self, window: int) -> MinerRecord:
        """The miner a registration into the full subnet replaces (refuse when none can go)."""
        emission = self._last_emission()
        standings = [
            UidStanding(m.uid, m.registered_window, emission.get(m.hotkey, 0.0))
            for m in self.miners.values()
        ]
        uid = uid_to_prune(standings, window, self.config.registration)
        if uid is None:
            immunity = self.config.registration.immunity_windows
            first_free = min(m.registered_window for m in self.miners.values()) + immunity
            raise LiveError(
                403,
                "subnet_full",
                f"all {self.config.max_miners} miner slots are taken and every uid is immune "
                f"({immunity} windows after registering); the first leaves immunity at window "
                f"{first_free}",
            )
        return next(m for m in self.miners.values() if m.uid == uid)

    def _evict(self, victim: MinerRecord, window: int, newcomer: str) -> None:
        """Take ``victim``'s uid away for ``newcomer`` (subtensor's ``replace_neuron``)."""
        uid = victim.uid
        emission = self._last_emission()
        del self.miners[victim.hotkey]
        # Its pending uploads were the old hotkey's; the validators forget the uid before the
        # next window is scored (subtensor's clear_neuron in replace_neuron).
        for by_uid in (*self.accepted.values(), *self._bodies.values(), *self._attempts.values()):
            by_uid.pop(uid, None)
        self.pending_resets.add(uid)
        self.pruned.append(
            {
                "window": window,
                "uid": uid,
                "hotkey": victim.hotkey,
                "registered_window": victim.registered_window,
                "emission_tao": emission.get(victim.hotkey, 0.0),
                "replaced_by": newcomer,
            }
        )
        self.pruned = self.pruned[-PRUNED_KEEP:]
        logger.info(
            "window %d: uid %d pruned (hotkey %s..., registered at window %d, %.6f TAO in the "
            "last window) for a new registration",
            window,
            uid,
            victim.hotkey[:12],
            victim.registered_window,
            emission.get(victim.hotkey, 0.0),
        )

    # ------------------------------------------------------------------ endpoints
    def register(self, envelope: SignedEnvelope, client: str = "unknown") -> dict[str, Any]:
        """Register the signer (idempotent), paying the burn; returns its uid.

        Parameters
        ----------
        envelope
            The verified request.
        client
            The client's address (the per-address share counts registrations by it).

        Raises
        ------
        LiveError
            403 ``address_limit`` when the client's address holds its share of the slots,
            403 ``subnet_full`` when every slot is taken by a uid still immune.
        """
        check_request_window(envelope.window, self.current_window())
        group = address_group(client)
        with self.lock:
            record = self.miners.get(envelope.hotkey)
            new = record is None
            if record is None:
                now = self.now()
                window = self.clock.window_at(now)
                full = len(self.miners) >= self.config.max_miners
                victim = self._victim(window) if full else None
                held = sum(1 for m in self.miners.values() if m.address == group)
                if victim is not None and victim.address == group:
                    held -= 1  # replacing one of its own uids does not add to its share
                if held >= self.address_cap:
                    raise LiveError(
                        403,
                        "address_limit",
                        f"address {group} already holds {held} of the {self.config.max_miners} "
                        f"miner slots, the most one address may hold (max_address_share "
                        f"{self.config.registration.max_address_share:g})",
                    )
                if victim is not None:
                    self._evict(victim, window, envelope.hotkey)
                burn = self.current_burn(now)
                burn_rao = round(burn * RAO_PER_TAO)
                self.burned_rao += burn_rao
                self.burn_tao = burn_after_registration(burn, self.config.registration)
                self.burn_updated_at = now
                record = MinerRecord(
                    uid=victim.uid if victim is not None else self._free_uid(),
                    hotkey=envelope.hotkey,
                    registered_window=window,
                    address=group,
                    burn_rao=burn_rao,
                )
                self.miners[envelope.hotkey] = record
                self.store.save_state(self._snapshot())
                logger.info(
                    "window %d: uid %d registered hotkey %s... from %s, burned %.6f TAO (the "
                    "next registration burns %.6f TAO)",
                    window,
                    record.uid,
                    envelope.hotkey[:12],
                    group,
                    burn_rao / RAO_PER_TAO,
                    self.burn_tao,
                )
        return {
            "uid": record.uid,
            "hotkey": record.hotkey,
            "registered_window": record.registered_window,
            "new": new,
            "burn_tao": record.burn_rao / RAO_PER_TAO,
            "immune_until_window": record.registered_window
            + self.config.registration.immunity_windows,
        }

    def model_payload(self, envelope: SignedEnvelope) -> tuple[bytes, int, int]:
        """``(safetensors bytes of θ, model_window, global_step)`` for a registered miner."""
        check_request_window(envelope.window, self.current_window())
        self._miner(envelope)
        with self.lock:
            return self.model_bytes, self.model_window, self.global_step

    def assignment(self, envelope: SignedEnvelope, window: int) -> dict[str, Any]:
        """The signer's work order for ``window`` (served for the window being trained)."""
        check_request_window(envelope.window, self.current_window())
        record = self._miner(envelope)
        with self.lock:
            if window != self.engine.window:
                raise LiveError(
                    409,
                    "stale_window",
                    f"window {window}: assignments are served for the window being trained "
                    f"({self.engine.window})",
                )
            return self.engine.assignment(record.uid) | {"uid": record.uid}

    def accept_upload(self, envelope: SignedEnvelope, window: int, body: bytes) -> dict[str, Any]:
        """Check, persist and record one pseudo-gradient upload.

        Raises
        ------
        LiveError
            403 not registered, 409 window mismatch or duplicate, 425 too early, 410 too late,
            413/415/422 for payloads that are too large, not safetensors, or invalid.
        """
        try:
            return self._accept_upload(envelope, window, body)
        except LiveError as err:
            if err.code in _COUNTED_REFUSALS:
                self._count_refusal(window, err.code)
            raise

    def _count_refusal(self, window: int, code: str) -> None:
        """Count a refused upload for the window's log line (windows near the clock only)."""
        with self.lock:
            current = self.current_window()
            if self.last_closed < window and current - 1 <= window <= current:
                self._refused.setdefault(window, Counter())[code] += 1

    def _accept_upload(self, envelope: SignedEnvelope, window: int, body: bytes) -> dict[str, Any]:
        received_at = self.now()
        check_upload_window(envelope.window, window)
        record = self._miner(envelope)
        timing = self.clock.judge_upload(window, received_at)
        current = self.clock.window_at(received_at)
        if not current - 1 <= window <= current:
            # Far from any put window: refused before parsing, and nothing is remembered.
            raise self._timing_error(window, timing, received_at)
        with self.lock:
            if record.uid in self.accepted.get(window, {}):
                raise LiveError(
                    409,
                    "already_uploaded",
                    f"window {window}: uid {record.uid} already has an accepted upload",
                )
            if (window, record.uid) in self._inflight:
                raise LiveError(
                    409,
                    "upload_in_progress",
                    f"window {window}: another upload of uid {record.uid} is being checked",
                )
            self._inflight.add((window, record.uid))
        try:
            return self._check_and_store(envelope, record, window, body, timing, received_at)
        finally:
            with self.lock:
                self._inflight.discard((window, record.uid))

    def _check_and_store(
        self,
        envelope: SignedEnvelope,
        record: MinerRecord,
        window: int,
        body: bytes,
        timing: str,
        received_at: float,
    ) -> dict[str, Any]:
        # Content first, so a refusal names the payload's problem whatever the time.
        try:
            self._check_payload(body)
        except LiveError:
            self._note_attempt(window, record.uid, "invalid")
            raise
        if timing != "ok":
            self._note_attempt(window, record.uid, timing)
            raise self._timing_error(window, timing, received_at)
        receipt = {
            "uid": record.uid,
            "hotkey": record.hotkey,
            "nonce": envelope.nonce,
            "window": window,
            "digest": envelope.digest,
            "bytes": len(body),
            "received_at": received_at,
        }
        with self.lock:
            if window in self._sealed or window <= self.last_closed:
                raise LiveError(
                    410,
                    "too_late",
                    f"window {window} was closed while the upload was being checked",
                )
        # Durable before acknowledged: a restart keeps every upload that got a 200.
        self.store.upload_log(window).append(receipt, body)
        with self.lock:
            if window in self._sealed or window <= self.last_closed:
                raise LiveError(
                    410,
                    "too_late",
                    f"window {window} was closed while the upload was being checked",
                )
            if record.uid in self.accepted.get(window, {}):
                raise LiveError(
                    409,
                    "already_uploaded",
                    f"window {window}: uid {record.uid} already has an accepted upload",
                )
            self.accepted.setdefault(window, {})[record.uid] = receipt
            self._bodies.setdefault(window, {})[record.uid] = body
        return {"accepted": True} | receipt

    def _check_payload(self, body: bytes) -> None:
        """Accept ``body`` or refuse it with a 4xx: a payload the checks cannot even read is the
        sender's fault, never a 500.

        Raises
        ------
        LiveError
            413/415/422 (see :func:`protocol.live.decode_payload`, :func:`check_tensors` and
            ``validate_gradient``).
        """
        if quick_accept(body, self.upload_layout):
            return
        # Not certainly valid: the full checks accept it or say exactly what is wrong.
        try:
            tensors, _ = decode_payload(body, self.limits)
            check_tensors(tensors, self.payload_spec)
            reason = self.engine.check_payload(tensors)
        except LiveError:
            raise
        except Exception as exc:  # unreadable in a way the checks do not name
            logger.warning("an upload the payload checks could not read: %r", exc)
            raise LiveError(
                422,
                "malformed_payload",
                f"payload: could not be checked ({type(exc).__name__}: {exc})"[:300],
            ) from None
        if reason:
            raise LiveError(422, "invalid_gradient", f"payload: {reason}")

    def _timing_error(self, window: int, timing: str, received_at: float) -> LiveError:
        opens, closes = self.clock.put_window(window)
        return LiveError(
            425 if timing == "too_early" else 410,
            timing,
            f"window {window}: uploads are accepted from t={opens:.3f} to t={closes:.3f}, "
            f"received at t={received_at:.3f}",
        )

    def _note_attempt(self, window: int, uid: int, kind: str) -> None:
        with self.lock:
            self._attempts.setdefault(window, {})[uid] = kind

    def miner_report(self, envelope: SignedEnvelope) -> dict[str, Any]:
        """The signer's uid, credited emission, registration burn and per-window scores.

        Each window row says what the window paid the miner and where the payment came from:
        emission follows the validators' weights on chain, which are set every
        ``windows_per_weights`` windows from their scores of that window, so a window's payment
        rests on the scores of ``paid_from_window`` (``None``: no weights on chain yet), not on
        the window's own score.
        """
        check_request_window(envelope.window, self.current_window())
        record = self._miner(envelope)
        uid_key = str(record.uid)
        with self.lock:
            # A reused uid's earlier windows were its previous hotkey's.
            reused = any(
                p["uid"] == record.uid and p["replaced_by"] == record.hotkey for p in self.pruned
            )
            first = record.registered_window - (0 if reused else 1)
            own = [
                e
                for e in self.history
                if e["window"] >= first and (uid_key in e["scores"] or uid_key in e["weights"])
            ]
            by_window = {e["window"]: e for e in own}
            rows = []
            for entry in own[-50:]:
                source = entry.get("weights_window")
                then = by_window.get(source, {}).get("scores", {}).get(uid_key, {})
                rows.append(
                    {
                        "window": entry["window"],
                        "status": entry["statuses"].get(uid_key, "missing"),
                        "score": entry["scores"].get(uid_key, {}),
                        "weight": entry["weights"].get(uid_key, 0.0),
                        "emission_tao": entry["emission_tao"].get(record.hotkey, 0.0),
                        "paid_from_window": source,
                        "paid_from_score": {
                            "final": then.get("final"),
                            "weight": then.get("weight"),
                        }
                        if then
                        else None,
                        "windows_per_weights": self.engine.config.windows_per_weights,
                    }
                )
            earned = self.emission_rao.get(record.hotkey, 0)
            return {
                "uid": record.uid,
                "hotkey": record.hotkey,
                "registered_window": record.registered_window,
                "emission_tao": earned / RAO_PER_TAO,
                "burn_tao": record.burn_rao / RAO_PER_TAO,
                "net_tao": (earned - record.burn_rao) / RAO_PER_TAO,
                "windows": rows,
            }

    def info(self) -> dict[str, Any]:
        """What a miner needs to join: clock, training setup, payload layout, limits."""
        return {
            "protocol": "govsim-live/v1",
            "clock": {
                "genesis": self.clock.genesis,
                "window_seconds": self.clock.window_seconds,
                "put_window_seconds": self.clock.put_window_seconds,
            },
            "training": self.engine.public_config(),
            "payload": {
                "format": "safetensors",
                "max_bytes": self.limits.max_bytes,
                "tensors": {
                    name: {"dtype": s.dtype, "shape": list(s.shape)}
                    for name, s in self.payload_spec.items()
                },
            },
            "rate_limit": {
                "per_second": self.config.rate_per_second,
                "burst": self.config.rate_burst,
            },
            "validators": self.config.validators,
            "emission_per_window_tao": self.config.emission_per_window,
            "registration": self.registration_status(),
        }

    def registration_status(self) -> dict[str, Any]:
        """The registration rule and its state: burn now, slots, immunity, the per-address cap."""
        rule = self.config.registration
        with self.lock:
            return {
                "burn_tao": self.current_burn(),
                "burned_tao": self.burned_rao / RAO_PER_TAO,
                "rule": asdict(rule),
                "max_miners": self.config.max_miners,
                "registered": len(self.miners),
                "max_per_address": self.address_cap,
                "pruned": self.pruned[-20:],
            }

    def status(self) -> dict[str, Any]:
        """The explorer's JSON: network, windows, scores and emissions."""
        now = self.now()
        with self.lock:
            last = self.history[-1] if self.history else None
            miners = []
            for record in sorted(self.miners.values(), key=lambda m: m.uid):
                uid_key = str(record.uid)
                miners.append(
                    {
                        "uid": record.uid,
                        "hotkey": record.hotkey,
                        "registered_window": record.registered_window,
                        "immune_until_window": record.registered_window
                        + self.config.registration.immunity_windows,
                        "burn_tao": record.burn_rao / RAO_PER_TAO,
                        "emission_tao": self.emission_rao.get(record.hotkey, 0) / RAO_PER_TAO,
                        "last_status": last["statuses"].get(uid_key, "missing") if last else None,
                        "last_score": last["scores"].get(uid_key) if last else None,
                        "last_weight": last["weights"].get(uid_key, 0.0) if last else 0.0,
                    }
                )
            return {
                "network": {
                    "protocol": "govsim-live/v1",
                    "training_config": self.config.training_config,
                    "validators": [
                        {"uid": i, "stake_tao": self.config.validator_stake}
                        for i in range(self.config.validators)
                    ],
                    "burn_uid": self.engine.burn_uid,
                    "emission_per_window_tao": self.config.emission_per_window,
                },
                "clock": {
                    "now": now,
                    "window": self.clock.window_at(now),
                    "block": self.clock.block_at(now),
                    "genesis": self.clock.genesis,
                    "window_seconds": self.clock.window_seconds,
                    "put_window_seconds": self.clock.put_window_seconds,
                },
                "model": {"window": self.model_window, "global_step": self.global_step},
                "last_closed_window": self.last_closed,
                "pending_uploads": {str(w): len(r) for w, r in self.accepted.items()},
                "miners": miners,
                "registration": self.registration_status(),
                "emission_tao": {k: v / RAO_PER_TAO for k, v in self.emission_rao.items()},
                "windows": self.history[-20:],
                "simulated_network": None if self.network is None else self.network.status(),
                "ticker_error": self.ticker_error,
            }

    # ------------------------------------------------------------------ windows
    def due_windows(self) -> list[int]:
        """Windows whose put window has closed but that are not yet scored."""
        now = self.now()
        first = self.last_closed + 1
        due = []
        w = first
        while self.clock.close_time(w) <= now:
            due.append(w)
            w += 1
        return due

    def run_due(self) -> list[int]:
        """Close every due window in order; returns the windows closed."""
        closed = []
        for window in self.due_windows():
            self.close_window(window)
            closed.append(window)
        return closed

    def close_window(self, window: int, *, discard_uploads: bool = False) -> WindowOutcome:
        """Score ``window``: gather its uploads, run the validators, the outer step and the epoch,
        credit emission, then checkpoint.

        ``discard_uploads`` scores the window as if nothing had been uploaded: the ticker's last
        resort when scoring a window keeps failing, so one bad window cannot stall the subnet.
        """
        started = time.perf_counter()
        with self.lock:
            if window <= self.last_closed:
                raise ValueError(f"window {window} is already closed")
            self._sealed.add(window)
            receipts = {} if discard_uploads else dict(self.accepted.get(window, {}))
            bodies = dict(self._bodies.get(window, {}))
            attempts = dict(self._attempts.get(window, {}))
            miners = sorted(self.miners.values(), key=lambda m: m.uid)
            resets = set(self.pending_resets)
        for uid in sorted(resets):  # replaced uids start afresh (idempotent if this retries)
            self.engine.reset_uid(uid)
        uploads = {}
        for uid in receipts:
            tensors, _ = decode_payload(bodies[uid], self.limits)
            uploads[uid] = tensors
        statuses = {
            m.uid: ("ok" if m.uid in uploads else attempts.get(m.uid, "missing")) for m in miners
        }
        opens, _ = self.clock.put_window(window)
        fractions = {
            uid: (receipt["received_at"] - opens) / self.clock.put_window_seconds
            for uid, receipt in receipts.items()
        }
        paid = self.network.advance(window) if self.network is not None else None
        outcome = self.engine.close_window(
            window,
            uploads,
            fractions,
            statuses,
            [m.uid for m in miners],
            emission_tao=None if paid is None else paid.emission_tao,
        )
        with self.lock:
            by_uid = {m.uid: m.hotkey for m in miners}
            credited: dict[str, float] = {}
            for uid, rao in outcome.emission_rao.items():
                name = by_uid.get(uid) or self.engine.uid_name(uid)
                self.emission_rao[name] = self.emission_rao.get(name, 0) + rao
                credited[name] = credited.get(name, 0.0) + rao / RAO_PER_TAO
            self.history.append(
                {
                    "window": window,
                    "closed_at": self.now(),
                    "global_step": outcome.global_step,
                    "uploads": sorted(uploads),
                    "statuses": {str(u): s for u, s in statuses.items()},
                    "scores": {str(u): s for u, s in outcome.scores.items()},
                    "weights": {str(u): w for u, w in outcome.weights.items()},
                    "emission_tao": credited,
                    "weights_window": outcome.weights_window,
                    "metrics": outcome.metrics,
                    **({} if paid is None else {"network": asdict(paid)}),
                }
            )
            self.pending_resets -= resets
            refused = self._refused.pop(window, Counter())
            for old_window in [w for w in self._refused if w <= window]:
                del self._refused[old_window]
            self.history = self.history[-HISTORY_KEEP:]
            self.last_closed = window
            self.global_step = outcome.global_step
            self.model_window = window + 1
            self._set_model(outcome.model)
            self.accepted.pop(window, None)
            self._bodies.pop(window, None)
            for old_window in [w for w in self._attempts if w <= window]:
                del self._attempts[old_window]
            self._sealed.discard(window)
            self._commit()
        self.store.prune_uploads(window - UPLOADS_KEEP + 1)
        logger.info(
            window_line(
                window,
                outcome,
                accepted=len(uploads),
                refused=refused,
                credited=credited,
                miner_hotkeys={m.hotkey for m in miners},
                seconds=time.perf_counter() - started,
                network_day=None if paid is None else paid.day,
            )
        )
        return outcome

    # ------------------------------------------------------------------ ticker
    def start(self) -> None:
        """Start the background thread that closes windows on the wall clock."""
        if self._ticker is not None:
            return
        self._stop.clear()
        self._ticker = threading.Thread(
            target=self._tick_loop, name="govsim-live-ticker", daemon=True
        )
        self._ticker.start()

    def stop(self) -> None:
        """Stop the ticker (the state on disk is always committed)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=30)
            self._ticker = None
        self.store.close()

    def _tick_loop(self) -> None:
        failures: dict[int, int] = {}
        while not self._stop.is_set():
            try:
                if self.run_due():
                    self.ticker_error = None  # a window scored normally since the last error
            except Exception as exc:  # keep serving; the error shows in /v1/status
                window = self.last_closed + 1
                failures[window] = failures.get(window, 0) + 1
                self.ticker_error = f"window {window}: {type(exc).__name__}: {exc}"
                logger.warning("scoring %s (try %d)", self.ticker_error, failures[window])
                if failures[window] >= TICKER_RETRIES:
                    logger.warning("window %d: scoring it without its uploads", window)
                    try:
                        self.close_window(window, discard_uploads=True)
                    except Exception as again:
                        self.ticker_error += f"; without uploads: {type(again).__name__}: {again}"
                        logger.warning("%s", self.ticker_error)
            wait = self.clock.close_time(self.last_closed + 1) - self.now()
            self._stop.wait(timeout=min(max(wait, 0.01), 1.0))


def window_line(
    window: int,
    outcome: WindowOutcome,
    *,
    accepted: int,
    refused: Mapping[str, int],
    credited: Mapping[str, float],
    miner_hotkeys: set[str],
    seconds: float,
    network_day: float | None = None,
) -> str:
    """The coordinator's one log line for a closed window: uploads, scores, emission paid.

    Example::

        window 7 closed in 0.41 s: uploads 3 accepted, 2 refused (invalid_gradient 1,
        too_late 1); final scores uid 3 0.412, uid 4 0.130, uid 5 0.000; paid 1.000000 TAO
        (miners 0.410000, validators 0.500000, burn uid 0.090000) on the weights of window 6;
        held-out loss 3.2101
    """
    n_refused = sum(refused.values())
    why = ", ".join(f"{code} {n}" for code, n in sorted(refused.items()))
    uploads = f"uploads {accepted} accepted, {n_refused} refused" + (f" ({why})" if why else "")
    finals = sorted(
        ((s.get("final") or 0.0, uid) for uid, s in outcome.scores.items()),
        key=lambda fu: (-fu[0], fu[1]),
    )
    if finals:
        shown = ", ".join(f"uid {uid} {final:.3f}" for final, uid in finals[:LOG_SCORES])
        more = f" (+{len(finals) - LOG_SCORES} more)" if len(finals) > LOG_SCORES else ""
        scores = f"final scores {shown}{more}"
    else:
        scores = "no miners registered"
    total = sum(credited.values())
    if total <= 0:
        paid = (
            "paid nothing (no weights on chain yet)"
            if outcome.weights_window is None
            else f"paid nothing (the weights of window {outcome.weights_window} give no incentive)"
        )
    else:
        miners = sum(v for k, v in credited.items() if k in miner_hotkeys)
        validators = sum(v for k, v in credited.items() if k.startswith("validator-"))
        burn = credited.get("burn", 0.0)
        paid = (
            f"paid {total:.6f} TAO (miners {miners:.6f}, validators {validators:.6f}, burn uid "
            f"{burn:.6f}) on the weights of window {outcome.weights_window}"
        )
    loss = outcome.metrics.get("held_out_loss")
    parts = [uploads, scores, paid]
    if loss is not None:
        parts.append(f"held-out loss {loss:.4f}")
    if network_day is not None:
        parts.append(f"simulated day {network_day:.1f}")
    return f"window {window} closed in {seconds:.2f} s: " + "; ".join(parts)
