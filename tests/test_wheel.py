"""framefix as users get it: a wheel built from this checkout, repaired into a manylinux wheel,
installed into a fresh virtual environment with no compiler on PATH, where the kernels, the C ABI
and the Numba example run; and an sdist that holds everything a build needs.

The wheel is built by pip with the project's own backend (scikit-build-core) and the build
requirements of the running environment (``--no-build-isolation``: the ``test`` extras install
them, and no index is needed); it is the slowest test here, a full compile (a few minutes on two
cores). Linux only (auditwheel).
"""

import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPILERS = ("cc", "c++", "gcc", "g++", "clang", "clang++")


def _run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def manylinux_wheel(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("manylinux wheels are built on Linux")
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the source checkout (pyproject.toml next to tests/)")
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(work / "dist"), f"-Cbuild-dir={work / 'build'}", str(ROOT)],
         env=dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")))
    (built,) = (work / "dist").glob("framefix-*.whl")
    auditwheel = [sys.executable, "-m", "auditwheel"]
    _run([*auditwheel, "repair", "-w", str(work / "repaired"), str(built)])
    (repaired,) = (work / "repaired").glob("framefix-*manylinux*.whl")
    return repaired, _run([*auditwheel, "show", str(repaired)]).stdout


def test_the_wheel_is_a_manylinux_wheel_with_no_library_grafted(manylinux_wheel):
    wheel, shown = manylinux_wheel
    assert "manylinux" in wheel.name
    assert "is consistent with the following platform tag" in " ".join(shown.split())
    names = zipfile.ZipFile(wheel).namelist()
    # a library outside the manylinux policy would have been copied into framefix.libs/
    assert not [n for n in names if ".libs/" in n], names
    for expected in ("framefix/cython_kernels.pxd", "framefix/include/framefix/warp.hpp",
                     "framefix/share/cmake/framefix/framefixConfig.cmake",
                     "framefix/share/cmake/framefix/framefixConfigVersion.cmake", "_framefix_entry.py"):
        assert expected in names
    assert any(n.startswith("framefix/_core.") for n in names)
    if platform.machine().lower() in ("x86_64", "amd64"):  # and the same bindings built for AVX2 CPUs
        assert any(n.startswith("framefix/_core_avx2.") for n in names)
    assert any(n.startswith("framefix/cython_kernels.") and n.endswith(".so") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[cmake.root]" in text and "framefix = framefix" in text


SMOKE = """
import sys, numpy as np, framefix, framefix.cython_kernels, framefix._core
assert framefix.__file__.startswith(sys.prefix), framefix.__file__
assert framefix.backend_info()["native_available"], framefix.backend_info()
frame = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
shift = np.zeros((5, 7, 2), np.float32)
shift[..., 0] = 1.0
out = framefix.warp(frame, shift, border="edge")
assert np.array_equal(out[:, :-1], frame[:, 1:]) and np.array_equal(out[:, -1], frame[:, -1])
import os
assert os.path.isfile(os.path.join(framefix.get_cmake_dir(), "framefixConfig.cmake"))
assert len(framefix.cython_kernels.__pyx_capi__) == 20
print("smoke ok")
"""


def test_the_wheel_installs_and_runs_with_no_compiler(manylinux_wheel, tmp_path):
    wheel, _ = manylinux_wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)])
    # framefix's dependencies (numpy, numba, av) from this interpreter's site directories, listed
    # by a .pth file: the venv's own framefix comes first, and .pth files in those directories
    # (an editable install's import hook) are not run. Written after the install, or pip would
    # find this interpreter's framefix there and install nothing.
    sources = [p for p in [*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_path("purelib")]
               if os.path.isdir(p)]
    (purelib / "framefix-test-deps.pth").write_text("\n".join(dict.fromkeys(sources)) + "\n")

    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "CC": "/bin/false", "CXX": "/bin/false",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    no_compiler = f"import shutil; found = [t for t in {COMPILERS!r} if shutil.which(t)]; assert not found, found"
    _run([str(python), "-c", no_compiler], env=env, cwd=tmp_path)
    assert "smoke ok" in _run([str(python), "-c", SMOKE], env=env, cwd=tmp_path).stdout
    example = shutil.copy(ROOT / "examples" / "numba" / "numba_kernels.py", tmp_path)
    done = _run([str(python), example], env=env, cwd=tmp_path)
    assert "warp_clip equals framefix.warp frame by frame: True" in done.stdout
    assert "demo" in _run([str(venv / "bin" / "framefix"), "--help"], env=env, cwd=tmp_path).stdout


def test_the_sdist_holds_every_source_a_build_needs(tmp_path):
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the source checkout (pyproject.toml next to tests/)")
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), str(ROOT)])
    (sdist,) = tmp_path.glob("framefix-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {"pyproject.toml", "CMakeLists.txt", "README.md", "python/_framefix_entry.py"}
    for folder, pattern in (("cpp", "*"), ("src", "*"), ("python/framefix", "*")):
        needed |= {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob(pattern)
                   if p.is_file() and "__pycache__" not in p.parts}
    assert not needed - names, sorted(needed - names)
