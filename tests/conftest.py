import pytest
from hypothesis import HealthCheck, settings

import framefix
from framefix import _backend

BACKENDS = ("native", "numba")

# The backend fixture only selects an implementation, so sharing it across generated examples is
# what we want; Numba's first-call compilation would trip any deadline.
settings.register_profile("framefix", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("framefix")


def pytest_addoption(parser):
    parser.addoption(
        "--no-native",
        action="store_true",
        help="skip the native backend's tests when framefix._core is missing (default: fail them)",
    )


def require_backend(config, name):
    """Fail (not skip) when the native core is missing: a broken build must not pass CI quietly."""
    info = framefix.backend_info()
    if name == "native" and not info["native_available"]:
        message = f"framefix._core is not importable: {info['native_error']}"
        if config.getoption("--no-native"):
            pytest.skip(message)
        pytest.fail(message)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Runs a test once per backend, with that backend active for the public functions."""
    require_backend(request.config, request.param)
    with framefix.use_backend(request.param):
        yield request.param


@pytest.fixture
def native(request):
    require_backend(request.config, "native")
    return _backend._native


@pytest.fixture(scope="module")
def client():
    """A real local Dask cluster of two single-threaded worker processes, one per test module
    (test_batch, test_chunked); the tests skip without Dask."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as connected:
        yield connected
