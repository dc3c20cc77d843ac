#pragma once
// The C ABI of framefix.cython_kernels (python/framefix/cython_kernels.pxd documents it): raw
// pointers, sizes and strides in elements become the kernels' views, and every failure becomes a
// status code, since callers hold no GIL and cannot take a C++ exception. No kernel logic here.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>

#include "framefix/color.hpp"
#include "framefix/deflicker.hpp"
#include "framefix/flow.hpp"
#include "framefix/stats.hpp"
#include "framefix/warp.hpp"

namespace framefix::c_abi {

// Values are the .pxd's FRAMEFIX_* constants.
enum Status : int {
    ok = 0,
    null_pointer = 1,  // a required pointer is NULL
    bad_size = 2,      // a size is below 1 (or a table too short for the pixel type)
    bad_argument = 3,  // the kernel refused an argument (a code out of range, sizes that disagree, ...)
    no_memory = 4,
    failed = 5,  // anything else (a bug: please report it)
};

using Index = std::ptrdiff_t;

template <class F>
int guarded(F&& body) noexcept {
    try {
        body();
        return ok;
    } catch (const std::invalid_argument&) {
        return bad_argument;
    } catch (const std::bad_alloc&) {
        return no_memory;
    } catch (...) {
        return failed;
    }
}

// workers below 1: every core (framefix's workers=-1)
inline std::size_t workers_of(Index workers) noexcept {
    return workers < 1 ? threading::hardware_workers() : static_cast<std::size_t>(workers);
}

template <class T>
ImageView<T> image(T* data, Index h, Index w, Index c, Index sy, Index sx, Index sc) noexcept {
    return {data, h, w, c, sy, sx, sc};
}

template <class T>
PlaneView<T> plane(T* data, Index h, Index w, Index sy, Index sx) noexcept {
    return {data, h, w, sy, sx};
}

inline bool positive(Index a, Index b, Index c = 1) noexcept { return a > 0 && b > 0 && c > 0; }

template <class T>
int warp(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, const float* flow, Index fsy,
         Index fsx, Index fsc, T* out, Index oh, Index ow, Index osy, Index osx, Index osc, std::uint8_t* mask,
         Index msy, Index msx, int interpolation, int border, float cval, Index workers) noexcept {
    if (!src || !flow || !out) return null_pointer;
    if (!positive(h, w, c) || !positive(oh, ow)) return bad_size;
    return guarded([&] {
        const auto m = plane(mask, oh, ow, msy, msx);
        framefix::warp<T>(image(src, h, w, c, sy, sx, sc), image(flow, oh, ow, Index{2}, fsy, fsx, fsc),
                          image(out, oh, ow, c, osy, osx, osc), mask ? &m : nullptr,
                          interpolation_from_code(interpolation), border_from_code(border), cval, workers_of(workers));
    });
}

template <class T>
int remap(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, const float* map_x, Index xsy,
          Index xsx, const float* map_y, Index ysy, Index ysx, T* out, Index oh, Index ow, Index osy, Index osx,
          Index osc, std::uint8_t* mask, Index msy, Index msx, int interpolation, int border, float cval,
          Index workers) noexcept {
    if (!src || !map_x || !map_y || !out) return null_pointer;
    if (!positive(h, w, c) || !positive(oh, ow)) return bad_size;
    return guarded([&] {
        const auto m = plane(mask, oh, ow, msy, msx);
        framefix::remap<T>(image(src, h, w, c, sy, sx, sc), plane(map_x, oh, ow, xsy, xsx),
                           plane(map_y, oh, ow, ysy, ysx), image(out, oh, ow, c, osy, osx, osc), mask ? &m : nullptr,
                           interpolation_from_code(interpolation), border_from_code(border), cval,
                           workers_of(workers));
    });
}

template <class T>
int channel_histograms(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc,
                       const std::uint8_t* mask, Index msy, Index msx, std::int64_t* counts, Index bins,
                       Index workers) noexcept {
    if (!src || !counts) return null_pointer;
    if (!positive(h, w, c) || bins <= static_cast<Index>(pixel_traits<T>::max_value)) return bad_size;
    return guarded([&] {
        const auto m = plane(mask, h, w, msy, msx);
        framefix::channel_histograms<T>(image(src, h, w, c, sy, sx, sc), mask ? &m : nullptr, counts, bins,
                                        workers_of(workers));
    });
}

template <class T>
int apply_lut(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, const T* lut, Index bins, T* out,
              Index osy, Index osx, Index osc, Index workers) noexcept {
    if (!src || !lut || !out) return null_pointer;
    if (!positive(h, w, c) || bins <= static_cast<Index>(pixel_traits<T>::max_value)) return bad_size;
    return guarded([&] {
        framefix::apply_lut<T>(image(src, h, w, c, sy, sx, sc), lut, bins, image(out, h, w, c, osy, osx, osc),
                               workers_of(workers));
    });
}

template <class T>
int frame_sums(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, Index tiles_y, Index tiles_x,
               double* sum, double* sum_squares, std::int64_t* luma_histogram, double* tile_sums,
               std::int64_t* tile_counts, Index workers) noexcept {
    if (!src || !sum || !sum_squares || !tile_sums || !tile_counts) return null_pointer;
    if (!positive(h, w, c) || !positive(tiles_y, tiles_x)) return bad_size;
    return guarded([&] {
        const FrameSums sums = framefix::frame_sums<T>(image(src, h, w, c, sy, sx, sc), tiles_y, tiles_x,
                                                       luma_histogram != nullptr, workers_of(workers));
        std::copy(sums.sum.begin(), sums.sum.end(), sum);
        std::copy(sums.sum_squares.begin(), sums.sum_squares.end(), sum_squares);
        std::copy(sums.luma_histogram.begin(), sums.luma_histogram.end(), luma_histogram);
        std::copy(sums.tile_sums.begin(), sums.tile_sums.end(), tile_sums);
        std::copy(sums.tile_counts.begin(), sums.tile_counts.end(), tile_counts);
    });
}

template <class T>
int apply_tone_curves(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, const float* knots_x,
                      const float* knots_y, Index curves, Index knots, T* out, Index osy, Index osx, Index osc,
                      Index workers) noexcept {
    if (!src || !knots_x || !knots_y || !out) return null_pointer;
    if (!positive(h, w, c) || !positive(curves, knots)) return bad_size;
    return guarded([&] {
        framefix::apply_tone_curves<T>(image(src, h, w, c, sy, sx, sc), knots_x, knots_y, curves, knots,
                                       image(out, h, w, c, osy, osx, osc), workers_of(workers));
    });
}

template <class T>
int flow_luma(const T* src, Index h, Index w, Index c, Index sy, Index sx, Index sc, float* out, Index osy, Index osx,
              Index workers) noexcept {
    if (!src || !out) return null_pointer;
    if (!positive(h, w, c)) return bad_size;
    return guarded([&] {
        framefix::flow_luma<T>(image(src, h, w, c, sy, sx, sc), plane(out, h, w, osy, osx), workers_of(workers));
    });
}

inline int flow_from_luma(const float* i0, Index h, Index w, Index sy0, Index sx0, const float* i1, Index sy1,
                          Index sx1, const float* init, Index ih, Index iw, Index isy, Index isx, Index isc,
                          float* flow, Index fsy, Index fsx, Index fsc, Index patch, Index stride, Index iterations,
                          Index finest_level, int propagation, float alpha, float gamma, float delta,
                          Index fixed_point, Index sor, Index refine_levels, Index full_refine_iterations,
                          int fill_occlusions, Index presmooth,
                          float omega, Index radius, float epsilon, Index workers) noexcept {
    if (!i0 || !i1 || !flow) return null_pointer;
    if (!positive(h, w) || (init && !positive(ih, iw))) return bad_size;
    return guarded([&] {
        const auto start = image(init, ih, iw, Index{2}, isy, isx, isc);
        const FlowSettings settings{PatchSearch{patch, stride, iterations, propagation != 0},
                                    Refinement{alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon},
                                    finest_level, refine_levels, full_refine_iterations,
                                    fill_occlusions != 0, presmooth};
        framefix::flow_from_luma(plane(i0, h, w, sy0, sx0), plane(i1, h, w, sy1, sx1), init ? &start : nullptr,
                                 settings, image(flow, h, w, Index{2}, fsy, fsx, fsc), workers_of(workers));
    });
}

}  // namespace framefix::c_abi
