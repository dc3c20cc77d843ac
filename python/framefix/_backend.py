"""Which implementation runs the kernels, and how many threads they use.

The only module that knows about backends. ``FRAMEFIX_BACKEND`` is read once, at import:

``auto`` (default)
    the compiled core (``framefix._core``) when it imports, else the Numba fallback;
``native``
    the compiled core, and importing framefix fails loudly (with the import error) without it;
``numba``
    the Numba fallback even when the compiled core is present.

The compiled core comes in two builds of the same sources: ``framefix._core`` for any CPU and,
where GCC or Clang builds for x86-64, ``framefix._core_avx2`` for CPUs with AVX2, whose loops take
eight floats at a time; the two give the same results bit for bit. The native backend is the AVX2
build where the CPU has it, unless ``FRAMEFIX_NATIVE_ISA=baseline`` asks for the other.

Public functions call :func:`implementation` and never test the backend themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.metadata
import numbers
import os
import threading
from collections.abc import Iterator
from types import ModuleType

BACKENDS = ("native", "numba")

_requested = os.environ.get("FRAMEFIX_BACKEND", "auto").strip().lower() or "auto"
if _requested not in ("auto", *BACKENDS):
    raise ValueError(
        f"FRAMEFIX_BACKEND must be 'auto', 'native' or 'numba', got {os.environ['FRAMEFIX_BACKEND']!r}"
    )

_requested_isa = os.environ.get("FRAMEFIX_NATIVE_ISA", "auto").strip().lower() or "auto"
if _requested_isa not in ("auto", "baseline"):
    raise ValueError(
        f"FRAMEFIX_NATIVE_ISA must be 'auto' or 'baseline', got {os.environ['FRAMEFIX_NATIVE_ISA']!r}"
    )

_native: ModuleType | None
_native_exception: ImportError | None
try:
    from framefix import _core as _native

    _native_exception = None
except ImportError as exc:  # a Numba-only install, or a broken build
    _native = None
    _native_exception = exc

_native_isa_exception: ImportError | None = None
if _native is not None and _requested_isa == "auto" and _native.cpu_has_avx2():
    try:
        from framefix import _core_avx2 as _native
    except ImportError as exc:  # not built here (MSVC, a universal macOS build), or a broken build
        _native_isa_exception = exc

if _requested == "native" and _native is None:
    raise ImportError(
        "FRAMEFIX_BACKEND=native but the compiled module framefix._core could not be imported "
        f"({_native_exception}); reinstall framefix with a C++17 compiler available, or set "
        "FRAMEFIX_BACKEND=numba"
    ) from _native_exception

if _requested == "numba":
    _default, _reason = "numba", "FRAMEFIX_BACKEND=numba"
elif _native is not None:
    _default, _reason = "native", f"FRAMEFIX_BACKEND={_requested}: the compiled core imported"
else:
    _default, _reason = "numba", "the compiled core is not available, so the Numba fallback runs"

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("framefix_backend", default=None)


def active_backend() -> str:
    """Name of the backend that runs kernels in the current context.

    Returns
    -------
    str
        'native' or 'numba'.
    """
    return _override.get() or _default


def implementation() -> ModuleType:
    """The module whose private kernels (same names in both) the public functions call.

    Returns
    -------
    module
        ``framefix._core`` (or its AVX2 build ``framefix._core_avx2``) or ``framefix._numba``, for
        the current context.
    """
    if active_backend() == "native":
        assert _native is not None  # use_backend refuses 'native' without it
        return _native
    return importlib.import_module("framefix._numba")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run the kernels of a ``with`` block on backend ``name``.

    The choice is held in a context variable: other threads (and other asyncio tasks) keep
    their own backend, so switching here never changes what a concurrent caller runs.

    Parameters
    ----------
    name : {'native', 'numba', 'auto'}
        The backend; 'auto' is the one chosen at import.

    Examples
    --------
    >>> import framefix
    >>> with framefix.use_backend("numba"):
    ...     framefix.backend_info()["active"]
    'numba'
    """
    if name == "auto":
        name = _default
    if name not in BACKENDS:
        raise ValueError(f"use_backend: name must be 'native', 'numba' or 'auto', got {name!r}")
    if name == "native" and _native is None:
        raise ImportError(
            f"use_backend: the native backend is not available ({_native_exception})"
        ) from _native_exception
    token = _override.set(name)
    try:
        yield
    finally:
        _override.reset(token)


def native_builds() -> list[ModuleType]:
    """Every build of the compiled core this machine runs, whichever the native backend chose.

    Returns
    -------
    list of module
        ``framefix._core`` and, where it was built and the CPU has AVX2, ``framefix._core_avx2``
        after it; empty without a compiled core. For comparing the builds (tests, benchmarks).
    """
    if _native is None:
        return []
    from framefix import _core

    if not _core.cpu_has_avx2():
        return [_core]
    try:
        from framefix import _core_avx2
    except ImportError:
        return [_core]
    return [_core, _core_avx2]


def _numba_version() -> str | None:
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return None


def backend_info() -> dict:
    """What runs the kernels and why.

    Returns
    -------
    dict
        ``active`` ('native' or 'numba', in the current context), ``requested`` (the value of
        FRAMEFIX_BACKEND), ``reason``, ``native_available``, ``native_error`` (the import error
        text, or None), ``numba_version`` (None when Numba is not installed), ``workers`` (the
        default thread count), ``cpu_count`` (cores this process may use), ``native_isa``
        ('avx2' or 'baseline': which build of the compiled core the native backend runs; None
        without it) and ``native_isa_error`` (why the AVX2 build did not import on a CPU that has
        AVX2, or None).
    """
    return {
        "active": active_backend(),
        "requested": _requested,
        "reason": _reason,
        "native_available": _native is not None,
        "native_error": None if _native_exception is None else str(_native_exception),
        "native_isa": None if _native is None else _native.isa,
        "native_isa_error": None if _native_isa_exception is None else str(_native_isa_exception),
        "numba_version": _numba_version(),
        "workers": _default_workers,
        "cpu_count": available_cpus(),
    }


# --- threads ------------------------------------------------------------------------------------

# One thread unless asked: callers often parallelise over clips themselves, and oversubscribing
# a machine costs more than it gains (scipy.fft makes the same choice).
_default_workers = 1
_workers_lock = threading.Lock()


def available_cpus() -> int:
    """Cores this process may run on (affinity-aware where the OS tells).

    Returns
    -------
    int
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# The C++ pool's limit too (parallel.hpp): beyond it, threads only add scheduling noise.
MAX_WORKERS = 256


def resolve_workers(workers: int | None, func: str = "workers") -> int:
    """A ``workers`` argument as a thread count.

    Parameters
    ----------
    workers : int or None
        None: the default (:func:`set_workers`); -1: all cores, -2: all but one...; larger
        requests are capped at 256.
    func : str
        The caller's name, for messages.

    Returns
    -------
    int
        1..256.
    """
    if workers is None:
        return _default_workers
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral):
        raise TypeError(f"{func}: workers must be an int or None, got {type(workers).__name__}")
    workers = int(workers)
    if workers > 0:
        return min(workers, MAX_WORKERS)
    cpus = available_cpus()
    if workers < 0 and cpus + 1 + workers >= 1:
        return cpus + 1 + workers
    raise ValueError(
        f"{func}: workers must be >= 1, or from -1 (all {cpus} cores) to -{cpus}, got {workers}"
    )


class _WorkersSetting:
    """Returned by set_workers; as a context manager it puts the previous default back."""

    def __init__(self, previous: int) -> None:
        self._previous = previous

    def __enter__(self) -> _WorkersSetting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        global _default_workers
        with _workers_lock:
            _default_workers = self._previous


def set_workers(workers: int | None) -> _WorkersSetting:
    """Set the thread count kernels use when called with ``workers=None``.

    Parameters
    ----------
    workers : int or None
        Threads per kernel call; -1 means all cores, -2 all but one; None restores 1.

    Returns
    -------
    object
        Can be used as a context manager: ``with framefix.set_workers(-1): ...`` restores the
        previous default on exit. The default is process-wide.
    """
    global _default_workers
    resolved = 1 if workers is None else resolve_workers(workers, "set_workers")
    with _workers_lock:
        previous, _default_workers = _default_workers, resolved
    return _WorkersSetting(previous)
