"""The kernels under AddressSanitizer and UndefinedBehaviorSanitizer.

framefix._core is built again from this checkout with ``-fsanitize=address,undefined`` (any
undefined behaviour aborts), laid over a copy of the installed package, and the native kernel
tests run in a child Python with the sanitizer runtimes preloaded. Any out-of-bounds access,
use after free, signed overflow, misaligned load or bad shift in a kernel fails this test with
the sanitizer's report. Linux with GCC or Clang only; it needs cmake, ninja and pybind11 (the
``test`` extras install them) and takes a few minutes, most of it the build.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import framefix

ROOT = Path(__file__).resolve().parents[1]
KERNEL_TESTS = ["test_warp.py", "test_stats.py", "test_color.py", "test_flow.py", "test_temporal.py",
                "test_deflicker.py"]


def _runtime(compiler: str, name: str) -> str | None:
    found = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


@pytest.fixture(scope="module")
def sanitized_package(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("the sanitizer stage runs on Linux")
    if not (ROOT / "CMakeLists.txt").exists():
        pytest.skip("needs the source checkout (CMakeLists.txt next to tests/)")
    pybind11 = pytest.importorskip("pybind11")
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    cmake, ninja = shutil.which("cmake"), shutil.which("ninja")
    if not (compiler and cmake and ninja):
        pytest.skip("needs a C++ compiler, cmake and ninja")
    runtimes = [_runtime(compiler, "libasan.so"), _runtime(compiler, "libubsan.so")]
    if not all(runtimes):
        pytest.skip(f"{compiler} has no AddressSanitizer/UndefinedBehaviorSanitizer runtime")

    work = tmp_path_factory.mktemp("sanitizers")
    flags = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
    configure = [cmake, "-S", str(ROOT), "-B", str(work / "build"), "-G", "Ninja", "-DSKBUILD=ON",
                 "-DSKBUILD_PROJECT_VERSION=0.0.0", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                 f"-DPython_EXECUTABLE={sys.executable}", f"-DCMAKE_CXX_COMPILER={compiler}",
                 "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_CXX_FLAGS={flags}",
                 f"-DCMAKE_SHARED_LINKER_FLAGS={flags}", f"-DCMAKE_MODULE_LINKER_FLAGS={flags}"]
    for command in (configure, [cmake, "--build", str(work / "build"), "--target", "_core", "--parallel", "2"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    package = work / "package" / "framefix"
    shutil.copytree(Path(framefix.__file__).parent, package,
                    ignore=shutil.ignore_patterns("_core.*.so", "_core.*.pyd", "_core_avx2.*", "__pycache__"))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    shutil.copy2(work / "build" / f"_core{suffix}", package / f"_core{suffix}")
    return package.parent, runtimes


def test_kernel_tests_pass_under_address_and_undefined_behaviour_sanitizers(sanitized_package):
    package_root, runtimes = sanitized_package
    # An editable install's import hook would win over PYTHONPATH: take it out in the child.
    script = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
        "import framefix, pytest\n"
        f"assert framefix.__file__.startswith({str(package_root)!r}), framefix.__file__\n"
        "assert framefix.backend_info()['native_isa'] == 'baseline', framefix.backend_info()\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-x', '-k', 'not numba', *{KERNEL_TESTS!r}]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(package_root), str(ROOT / "tests")]),
               FRAMEFIX_NATIVE_ISA="baseline", LD_PRELOAD=":".join(runtimes), ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT / "tests", env=env, capture_output=True, text=True,
                          timeout=1800)
    report = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, report
    assert " passed" in done.stdout, report
