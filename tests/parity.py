"""The twin contract in one place: the C++ kernels (framefix._core) and their Numba twins
(framefix._numba) give the same results, whatever the worker count.

Integers (and bools) must be equal; floats equal bit for bit by default (so -0.0 is not 0.0),
or within ``ulps`` units in the last place; NaN where the other has NaN (the sign of a NaN is
unspecified). Tests that need the native core request the ``native`` fixture, which fails (or,
with --no-native, skips) when it is missing.
"""

import dataclasses

import numpy as np
from numpy.testing import assert_array_equal

import framefix
from framefix import _backend

_ORDERED = {4: (np.int32, np.uint32), 8: (np.int64, np.uint64)}


def _ordered_bits(a):
    """Float bits as integers that count in the floats' order (-0.0 and 0.0 one apart)."""
    signed, _ = _ORDERED[a.dtype.itemsize]
    bits = np.ascontiguousarray(a).view(signed).astype(np.int64)
    lowest = np.int64(np.iinfo(signed).min)
    return np.where(bits < 0, lowest - bits - 1, bits)


def assert_same(expected, actual, *, ulps=0, label=""):
    """``expected`` and ``actual`` agree by the contract; tuples and lists item by item."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), f"{label}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, ulps=ulps, label=f"{label}[{i}]")
        return
    if dataclasses.is_dataclass(expected):
        assert type(actual) is type(expected), label
        for field in dataclasses.fields(expected):
            assert_same(getattr(expected, field.name), getattr(actual, field.name), ulps=ulps,
                        label=f"{label}.{field.name}")
        return
    if expected is None or isinstance(expected, (str, bool)):
        assert actual == expected, f"{label}: {actual!r} != {expected!r}"
        return
    e, a = np.asarray(expected), np.asarray(actual)
    assert e.shape == a.shape, f"{label}: shape {a.shape} != {e.shape}"
    assert e.dtype == a.dtype or (e.ndim == 0 and e.dtype.kind == a.dtype.kind), f"{label}: {a.dtype} != {e.dtype}"
    if e.dtype.kind != "f":
        assert_array_equal(a, e, err_msg=label)
        return
    e, a = e.astype(e.dtype), a.astype(e.dtype)
    nan = np.isnan(e)
    assert_array_equal(np.isnan(a), nan, err_msg=f"{label}: NaN in different places")
    if ulps == 0:
        unsigned = _ORDERED[e.dtype.itemsize][1]
        assert_array_equal(np.ascontiguousarray(a[~nan]).view(unsigned), np.ascontiguousarray(e[~nan]).view(unsigned),
                           err_msg=f"{label}: not bit for bit")
        return
    # Python integers: no wrap-around between far-apart float64 values
    distance = np.abs(_ordered_bits(a[~nan]).astype(object) - _ordered_bits(e[~nan]).astype(object))
    worst = int(distance.max()) if distance.size else 0
    assert worst <= ulps, f"{label}: {worst} ulps apart (allowed {ulps})"


def _kernels():
    native = _backend._native
    assert native is not None, "framefix._core is not importable (request the `native` fixture)"
    from framefix import _numba

    return (("native", native), ("numba", _numba))


def assert_backends_agree(func, *args, workers=(1, 3), outputs=(), ulps=0, **kwargs):
    """Run ``func`` on both backends and assert the results agree; returns the native result.

    Parameters
    ----------
    func : str or callable
        A kernel name: ``framefix._core.<func>`` and ``framefix._numba.<func>`` are called with
        ``*args`` and then each count in ``workers`` (``workers=None`` for kernels without that
        argument). A callable (a public function): called with ``*args, **kwargs`` under
        ``framefix.use_backend`` for each backend.
    outputs : tuple of int
        Kernel arguments written in place: each run gets fresh copies, and they are compared
        (and returned) along with the return value, unless that is the output itself (the
        kernels' out= convention).
    ulps : int
        Units in the last place floats may differ by (0: bit for bit).

    Returns
    -------
    object
        The first (native, fewest workers) result: the return value, the in-place outputs when
        the kernel returns None or its output, or ``(value, *outputs)``.
    """
    results = []
    if callable(func):
        for name in _backend.BACKENDS:
            with framefix.use_backend(name):
                results.append((name, func(*args, **kwargs)))
    else:
        for name, module in _kernels():
            for count in (None,) if workers is None else workers:
                call = [np.copy(a) if i in outputs else a for i, a in enumerate(args)]
                value = getattr(module, func)(*call, *(() if count is None else (count,)))
                written = [call[i] for i in outputs]
                if not outputs:
                    result = value
                elif value is None or any(value is w for w in written):
                    result = written[0] if len(written) == 1 else tuple(written)
                else:
                    result = (value, *written)
                results.append((f"{name}, {count} workers", result))
    (first_label, first), *others = results
    for label, result in others:
        assert_same(first, result, ulps=ulps, label=f"{func if isinstance(func, str) else func.__name__}: "
                                                    f"{label} against {first_label}")
    return first
