#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "framefix/parallel.hpp"

namespace py = pybind11;

namespace framefix::bindings {
void register_warp(py::module_& m);
void register_color(py::module_& m);
void register_stats(py::module_& m);
void register_flow(py::module_& m);
void register_deflicker(py::module_& m);
void register_temporal(py::module_& m);
}

namespace {

// Exercises parallel_for from the tests: how often each index ran, how many threads took part,
// and an exception thrown from one chunk to check it reaches the caller.
py::tuple parallel_probe(std::ptrdiff_t count, std::size_t workers, std::ptrdiff_t throw_at) {
    std::vector<std::atomic<int>> visits(static_cast<std::size_t>(count));
    std::mutex mutex;
    std::set<std::thread::id> threads;
    {
        py::gil_scoped_release release;
        framefix::threading::parallel_for(0, count, workers, [&](std::ptrdiff_t b, std::ptrdiff_t e) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                threads.insert(std::this_thread::get_id());
            }
            for (std::ptrdiff_t i = b; i < e; ++i) {
                if (i == throw_at) throw std::runtime_error("parallel_probe: failure at index " + std::to_string(i));
                // Give the other workers time to pick up chunks, so several threads take part.
                std::this_thread::sleep_for(std::chrono::microseconds(50));
                visits[static_cast<std::size_t>(i)]++;
            }
        });
    }
    py::array_t<int> counts(count);
    auto c = counts.mutable_unchecked<1>();
    for (std::ptrdiff_t i = 0; i < count; ++i) c(i) = visits[static_cast<std::size_t>(i)].load();
    return py::make_tuple(counts, threads.size());
}

// Whether this CPU (and the OS, which must save the wider registers) runs AVX2 code, for
// _backend.py's choice between _core and _core_avx2.
bool cpu_has_avx2() {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(_MSC_VER) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

}  // namespace

// _core, or _core_avx2 (CMakeLists.txt builds the same sources as both)
#ifndef FRAMEFIX_MODULE
#define FRAMEFIX_MODULE _core
#endif

PYBIND11_MODULE(FRAMEFIX_MODULE, m, py::mod_gil_not_used()) {
    m.doc() = "framefix's compiled kernels (private: use the functions in the framefix package)";
#ifdef FRAMEFIX_VERSION
    m.attr("__version__") = FRAMEFIX_VERSION;
#endif
#ifdef FRAMEFIX_AVX2
    m.attr("isa") = "avx2";
#else
    m.attr("isa") = "baseline";
#endif
    m.def("cpu_has_avx2", &cpu_has_avx2, "Whether this CPU and its OS run AVX2 code (framefix._core_avx2).");
    m.def("hardware_workers", &framefix::threading::hardware_workers,
          "Threads the hardware runs at once, as the C++ pool sees it (at least 1).");
    m.def("_parallel_probe", &parallel_probe, py::arg("count"), py::arg("workers"), py::arg("throw_at") = -1,
          R"doc(Run parallel_for over range(count) on `workers` threads, failing at index throw_at (if >= 0);
returns (visits per index, int array; number of threads that took part). For tests/test_parallel.py.)doc");
    framefix::bindings::register_warp(m);
    framefix::bindings::register_color(m);
    framefix::bindings::register_stats(m);
    framefix::bindings::register_flow(m);
    framefix::bindings::register_deflicker(m);
    framefix::bindings::register_temporal(m);
}
