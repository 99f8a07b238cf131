"""Execution backends: every one is a :class:`concurrent.futures.Executor` (docs/studies.md).

The runner only calls ``submit`` and ``concurrent.futures.as_completed``, so any backend that
returns standard futures plugs in:

- ``"sequential"``: runs each task in the calling thread at ``submit`` (debugging, tests).
- ``"process"`` (default): spawn-context process pools whose workers are replaced every
  ``max_tasks_per_child`` tasks (:data:`DEFAULT_TASKS_PER_CHILD`; bounds whatever a run
  leaves behind, such as Mesa 3.3.1's ``Agent._ids`` model reference; done by
  :class:`RecyclingProcessPool` because the stdlib option hangs on Python 3.11). Workers start
  with the pool, pin BLAS/OpenMP/torch to one thread and import the simulator
  (:data:`DEFAULT_PRELOAD`) before their first task, and skip interpreter teardown at exit.
- ``"dask-local"``: a Dask ``LocalCluster`` (one single-threaded worker process per core, no
  dashboard, profiler off, the simulator preloaded) and ``client.get_executor()``.
- ``"dask://HOST:PORT"``: a running Dask scheduler (``dask scheduler`` / ``dask worker
  --preload sim.executors``); the engine for going beyond one machine. ``"tcp://HOST:PORT"``
  is accepted too. The workers connected at start must run the same govsim and numeric
  packages as this process (:func:`worker_mismatches`).
- ``"ray"``: optional; a small adapter over ``ray.remote(fn).remote(...).future()``.

Always shut the executor down (``with make_executor(...) as ex:``): for Dask that also closes
the client and, for ``dask-local``, the cluster.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

__all__ = [
    "DEFAULT_PRELOAD",
    "DEFAULT_TASKS_PER_CHILD",
    "EXECUTOR_KINDS",
    "WORKER_PACKAGES",
    "ExecutorError",
    "RecyclingProcessPool",
    "SequentialExecutor",
    "check_executor_kind",
    "dask_address",
    "dask_setup",
    "make_executor",
    "pin_threads",
    "worker_identity",
    "worker_mismatches",
]

#: Executor names accepted by :func:`make_executor` (plus ``dask://HOST:PORT``).
EXECUTOR_KINDS: tuple[str, ...] = ("sequential", "process", "dask-local", "dask://HOST:PORT", "ray")

#: Modules a process-pool worker imports before its first task: what ``sim.run`` needs (torch,
#: Mesa, the protocol kernels) and the Parquet writer. ~2.5 s of CPU that every worker pays
#: anyway; done at pool start it overlaps with the driver's own set-up.
DEFAULT_PRELOAD: tuple[str, ...] = ("sim.runner", "sim.schema", "sim.model", "pyarrow.parquet")

#: Tasks a process-pool worker runs before it is replaced. Every replacement costs a fresh
#: interpreter and the simulator's imports (~3 s of CPU); ``sim.engine.release`` frees each
#: finished model, so a worker grows by well under 1 MB a run (covenant_2026) and 256 runs
#: bound it to ~100 MB while a thousand-run study on 2 workers restarts them twice, not 16
#: times.
DEFAULT_TASKS_PER_CHILD: int = 256

#: Packages whose versions decide a run's numbers: a remote Dask worker must have the same.
WORKER_PACKAGES: tuple[str, ...] = (
    "govsim",
    "numpy",
    "scipy",
    "torch",
    "mesa",
    "pandas",
    "pyarrow",
    "pydantic",
)
#: Seconds :func:`make_executor` waits for a Dask scheduler to answer.
DASK_CONNECT_TIMEOUT_S = 30.0

_SIMPLE_KINDS = ("sequential", "process", "dask-local", "ray")
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Dask's 10 ms statistical profiler contends with GIL-bound Mesa code.
_DASK_WORKER_ENV = {
    **dict.fromkeys(_THREAD_VARS, "1"),
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}


class ExecutorError(ValueError):
    """An unknown executor name or an unusable backend (e.g. Ray not installed)."""


def pin_threads() -> None:
    """Limit this process to one compute thread: BLAS/OpenMP variables and torch.

    Safe to call many times. Used as the process-pool initializer and at the start of every
    task (Dask and Ray workers have no initializer hook here).
    """
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _init_worker(preload: Sequence[str]) -> None:
    """Process-pool initializer: one compute thread, then import ``preload``.

    An import that fails is skipped: the task that needs the module then fails with its own
    traceback (recorded as data by the runner) instead of the whole pool breaking here.
    """
    pin_threads()
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    pin_threads()  # again: the preload may just have loaded torch
    _WORKER_READY[:] = [time.monotonic(), time.process_time()]


def dask_setup(worker: Any) -> None:
    """Dask preload hook: ``dask worker ... --preload sim.executors`` runs it in each worker.

    The worker then runs one compute thread and has imported the simulator
    (:data:`DEFAULT_PRELOAD`) before its first task, as a process-pool worker has.
    """
    _init_worker(DEFAULT_PRELOAD)


# When this worker finished its initializer: (system-wide) monotonic time and CPU seconds.
_WORKER_READY: list[float] = []


def _worker_ready() -> tuple[int, float, float]:
    """This worker's pid, the monotonic time it became ready and the CPU it spent until then."""
    ready_at, cpu = _WORKER_READY or (time.monotonic(), time.process_time())
    return os.getpid(), ready_at, cpu


class _FastExitProcess(SpawnProcess):
    """A spawned pool worker that leaves with ``os._exit`` once its work loop has returned.

    A spawned child otherwise ends with ``sys.exit``: a full interpreter teardown, ~1 s of CPU
    with torch, Mesa and numba loaded, which ``shutdown(wait=True)`` (and every recycling of
    the pool) waits for. Forked children always end with ``os._exit``; at this point the
    worker has sent every result through its pipe and closed every part file it wrote.
    """

    def run(self) -> None:
        """Run the pool's worker loop, then exit without tearing the interpreter down."""
        super().run()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(0)


class _PoolContext(SpawnContext):
    """The spawn start method with :class:`_FastExitProcess` workers."""

    Process = _FastExitProcess


class SequentialExecutor(Executor):
    """Runs every task immediately in the calling thread; futures are already done."""

    max_workers = 1

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` now and return a finished future."""
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse further tasks."""
        self._shutdown = True


class _OwningExecutor(Executor):
    """Delegates to an inner executor and closes the resources it depends on at shutdown."""

    def __init__(
        self, inner: Executor, closers: list[Callable[[], Any]], max_workers: int = 0
    ) -> None:
        self._inner = inner
        self._closers = closers
        self.max_workers = max_workers  # 0: unknown (a remote cluster), submit everything

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Submit to the inner executor."""
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the inner executor down, then close the client/cluster (in order)."""
        try:
            # Dask's ClientExecutor.shutdown takes no cancel_futures.
            self._inner.shutdown(wait=wait)
        finally:
            for close in self._closers:
                with contextlib.suppress(Exception):  # closing is best effort
                    close()


def _call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Ray task body: call ``fn`` (any picklable callable; ``ray.remote`` itself refuses builtins
    and callable objects)."""
    return fn(*args, **kwargs)


class _RayExecutor(Executor):
    """``submit(fn, ...)`` -> ``ray.remote(_call).remote(fn, ...).future()`` (a standard future)."""

    def __init__(self, ray: Any, shutdown_ray: bool) -> None:
        self._ray = ray
        self._shutdown_ray = shutdown_ray
        self._remote = ray.remote(num_cpus=1)(_call)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` as a Ray task (one CPU each)."""
        return self._remote.remote(fn, *args, **kwargs).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Disconnect from (or stop) Ray."""
        if self._shutdown_ray:
            self._ray.shutdown()


class RecyclingProcessPool(Executor):
    """A spawn-context process pool whose workers are replaced every ``tasks_per_child`` tasks.

    ``ProcessPoolExecutor(max_tasks_per_child=K)`` hangs on Python 3.11 once every worker has
    run its K tasks with more work queued (the replacement workers are never started; CPython
    gh-115634, fixed in later versions). This pool gets the same bound portably: after
    ``workers * tasks_per_child`` submissions it starts a fresh pool for the next tasks and
    retires the old one, which finishes the tasks it holds and is shut down once they are done
    (or at :meth:`shutdown`). The fresh workers start while the old ones finish, so a recycle
    costs neither a drained tail nor a serial start-up. A broken pool (a worker killed) is
    replaced the same way.

    Workers are started with the pool (not at the first submit) and run
    :func:`_init_worker` (one compute thread, import ``preload``), so their start-up overlaps
    with whatever the caller does before submitting. Submit work gradually (the runner keeps
    ``2 * workers`` tasks in flight) so that a retired pool never holds a long queue.

    Parameters
    ----------
    workers
        Worker processes.
    tasks_per_child
        Tasks a worker process runs before it is replaced.
    preload
        Modules each worker imports before its first task.
    """

    def __init__(
        self, workers: int, tasks_per_child: int, preload: Sequence[str] = DEFAULT_PRELOAD
    ) -> None:
        self.max_workers = workers
        self._quota = workers * tasks_per_child
        self._preload = tuple(preload)
        self._submitted = 0
        self._shutdown = False
        self._retiring: list[tuple[ProcessPoolExecutor, list[Future]]] = []
        self._futures: list[Future] = []
        self._ready: list[Future] = []
        self._started_at = 0.0
        self._pool: ProcessPoolExecutor = self._fresh_pool()

    def _fresh_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.max_workers,
            mp_context=_PoolContext(),
            initializer=_init_worker,
            initargs=(self._preload,),
        )
        self._started_at = time.monotonic()
        # ProcessPoolExecutor spawns a worker per submit while none is idle: one tiny task per
        # worker starts them all now, and tells when each is ready (see startup_times).
        self._ready = [pool.submit(_worker_ready) for _ in range(self.max_workers)]
        self._futures = []
        self._submitted = 0
        return pool

    def startup_times(self, timeout: float = 300.0) -> dict[int, tuple[float, float]]:
        """Each current worker's start-up, by pid: ``(wall seconds from pool start, CPU seconds)``.

        Start-up is spawning the interpreter, unpickling the task's module and the preload,
        until the worker can take its first task. For measurements (``bench/sweep.py``): it
        waits, up to ``timeout`` seconds, until every worker has answered, submitting small
        tasks outside the pool's task quota (a worker that is ready first may take several).
        """
        deadline = time.monotonic() + timeout
        seen: dict[int, tuple[float, float]] = {}
        pending = list(self._ready)
        while True:
            for future in pending:
                pid, ready_at, cpu = future.result(timeout=max(0.0, deadline - time.monotonic()))
                seen.setdefault(pid, (ready_at - self._started_at, cpu))
            if len(seen) >= self.max_workers or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)
            pending = [self._pool.submit(_worker_ready)]

    def _reap_retired(self) -> None:
        """Shut down retired pools whose tasks have all finished (their workers then exit)."""
        still: list[tuple[ProcessPoolExecutor, list[Future]]] = []
        for pool, futures in self._retiring:
            if all(f.done() for f in futures):
                pool.shutdown(wait=True)
            else:
                still.append((pool, futures))
        self._retiring = still

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Submit to the current pool, starting a fresh one when its quota is used up."""
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        broken = getattr(self._pool, "_broken", False)
        if self._submitted >= self._quota or broken:
            self._retiring.append((self._pool, self._futures))
            self._pool = self._fresh_pool()
        self._reap_retired()
        self._submitted += 1
        future = self._pool.submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the current pool and every retired one down."""
        self._shutdown = True
        for pool, _ in self._retiring:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        self._retiring = []
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _require_distributed(kind: str) -> None:
    """Raise :class:`ExecutorError` naming the extra to install when Dask is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ExecutorError(
            f"executor {kind!r}: Dask is not installed (pip install 'govsim[dask]')"
        ) from exc


def _dask_local(workers: int) -> Executor:
    _require_distributed("dask-local")
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=_DASK_WORKER_ENV,
            preload=["sim.executors"],
        )
        client = Client(cluster, set_as_default=False)
    return _OwningExecutor(client.get_executor(), [client.close, cluster.close], workers)


def worker_identity() -> dict[str, str | None]:
    """This process's Python (``major.minor``) and :data:`WORKER_PACKAGES` versions (None: absent)."""
    out: dict[str, str | None] = {"python": ".".join(platform.python_version_tuple()[:2])}
    for name in WORKER_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def worker_mismatches(answers: Mapping[str, Any], local: Mapping[str, str | None]) -> list[str]:
    """What keeps each remote worker from running this study's tasks as this process would.

    Parameters
    ----------
    answers
        Worker address -> its :func:`worker_identity`, or the exception it raised (a worker
        that cannot import govsim's modules cannot even load the function).
    local
        This process's :func:`worker_identity`.

    Returns
    -------
    list of str
        One line per problem, e.g. ``tcp://10.0.0.7:40123: torch 2.12.0 (here 2.13.0)``;
        empty when every worker matches.
    """
    problems: list[str] = []
    for address, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            problems.append(
                f"{address}: cannot run govsim tasks ({type(answer).__name__}: {answer})"
            )
            continue
        for name, expected in local.items():
            got = answer.get(name) if isinstance(answer, Mapping) else None
            if got != expected:
                problems.append(
                    f"{address}: {name} {got or 'missing'} (here {expected or 'missing'})"
                )
    return problems


def dask_address(kind: str) -> str:
    """``dask://HOST:PORT`` or ``tcp://HOST:PORT`` as Dask's ``tcp://HOST:PORT``.

    Raises
    ------
    ExecutorError
        If the host is empty or the port is not a number from 1 to 65535.
    """
    scheme, _, rest = kind.partition("://")
    host, colon, port = rest.rpartition(":")
    if scheme not in ("dask", "tcp") or not colon or not host or host.endswith(":"):
        raise ExecutorError(
            f"executor {kind!r}: expected dask://HOST:PORT, e.g. dask://10.0.0.5:8786"
        )
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ExecutorError(
            f"executor {kind!r}: port {port!r}: expected a number from 1 to 65535 "
            "(dask scheduler prints its address, e.g. tcp://10.0.0.5:8786)"
        )
    return f"tcp://{host}:{int(port)}"


def _dask_remote(kind: str, connect_timeout_s: float) -> Executor:
    _require_distributed(kind)
    from distributed import Client

    address = dask_address(kind)
    try:
        client = Client(address, set_as_default=False, timeout=connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(
            f"executor {kind!r}: no Dask scheduler answered at {address} within "
            f"{connect_timeout_s:g} s ({type(exc).__name__}: {exc}); start one with "
            "`dask scheduler` and its workers with `dask worker` (docs/studies.md, "
            "Scaling out)"
        ) from exc
    try:
        problems = worker_mismatches(
            client.run(worker_identity, on_error="return"), worker_identity()
        )
    except BaseException:
        client.close()
        raise
    if problems:
        client.close()
        raise ExecutorError(
            f"executor {kind!r}: {len(problems)} problem(s) with the Dask workers; install the "
            "same govsim and packages on every worker (docs/studies.md, Scaling out):\n  "
            + "\n  ".join(problems)
        )
    return _OwningExecutor(client.get_executor(), [client.close])


def _ray(workers: int | None) -> Executor:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(
            "executor 'ray': Ray is not installed (pip install 'govsim[ray]')"
        ) from exc
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else workers)
        started = True
    return _RayExecutor(ray, shutdown_ray=started)


def check_executor_kind(kind: str) -> None:
    """Raise :class:`ExecutorError` unless ``kind`` names an executor (nothing is started).

    A Dask address is checked for its form (``dask://HOST:PORT``), not reached; an unknown
    name gets the closest known one as a hint.
    """
    if kind in _SIMPLE_KINDS:
        return
    if "://" in kind:
        dask_address(kind)
        return
    raise ExecutorError(
        f"executor {kind!r}: expected one of {', '.join(EXECUTOR_KINDS)}{_kind_hint(kind)}"
    )


def _kind_hint(kind: str) -> str:
    """`` (did you mean ...?)`` for a near miss: a bare ``HOST:PORT`` or a misspelt name."""
    if kind.rpartition(":")[2].isdigit():
        return f" (did you mean 'dask://{kind}'?)"
    close = difflib.get_close_matches(kind, _SIMPLE_KINDS, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def make_executor(
    kind: str = "process",
    *,
    workers: int | None = None,
    max_tasks_per_child: int = DEFAULT_TASKS_PER_CHILD,
    preload: Sequence[str] = DEFAULT_PRELOAD,
    connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S,
) -> Executor:
    """Build the executor named ``kind``.

    Parameters
    ----------
    kind
        ``"sequential"``, ``"process"``, ``"dask-local"``, ``"dask://HOST:PORT"`` (or
        ``"tcp://HOST:PORT"``) or ``"ray"``.
    workers
        Worker processes for ``process``/``dask-local``/local ``ray``; default ``os.cpu_count()``.
    max_tasks_per_child
        Tasks a process-pool worker runs before it is replaced (bounds Mesa 3.3.1's leak).
    preload
        Modules a process-pool worker imports as it starts (before its first task).
    connect_timeout_s
        Seconds to wait for a ``dask://`` scheduler to answer.

    Returns
    -------
    concurrent.futures.Executor
        Use it as a context manager so it is shut down.

    Raises
    ------
    ExecutorError
        If ``kind`` is unknown, ``workers`` is not positive, the backend is missing, no Dask
        scheduler answers at the address, or its workers run other package versions.
    """
    if workers is not None and workers < 1:
        raise ExecutorError(f"workers: expected a positive integer, got {workers}")
    check_executor_kind(kind)
    n = workers or os.cpu_count() or 1
    if kind == "sequential":
        return SequentialExecutor()
    if kind == "process":
        if max_tasks_per_child < 1:
            raise ExecutorError(f"max_tasks_per_child: expected >= 1, got {max_tasks_per_child}")
        return RecyclingProcessPool(n, max_tasks_per_child, preload)
    if kind == "dask-local":
        return _dask_local(n)
    if "://" in kind:
        return _dask_remote(kind, connect_timeout_s)
    return _ray(workers)
