#pragma once
// A frame pair compared along the motion between them, in one pass: what the temporal measures
// (python/framefix/temporal.py: warping_error, temporal_inconsistency, the analysis's regional
// flicker) are computed from. The Numba twin is python/framefix/_numba/temporal.py.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "consistency.hpp"
#include "image_view.hpp"
#include "parallel.hpp"
#include "sampling.hpp"

namespace framefix {

namespace detail {

// Output row r of compare_along_flow: pixels (r step, c step) of `next`.
template <class T>
void compare_row(std::ptrdiff_t r, std::ptrdiff_t step, ImageView<const T> prev, ImageView<const T> next, PlaneView<const float> prev_luma,
                 ImageView<const float> flow, PlaneView<const float> back_u, PlaneView<const float> back_v, float alpha,
                 float beta, PlaneView<float> carried, PlaneView<std::uint8_t> valid, double& row_sum,
                 std::ptrdiff_t& row_count) noexcept {
    const std::ptrdiff_t h = next.height, w = next.width, channels = next.channels;
    const float max_x = static_cast<float>(w - 1), max_y = static_cast<float>(h - 1);
    double sum = 0.0;
    std::ptrdiff_t count = 0;
    const std::ptrdiff_t y = r * step;
    for (std::ptrdiff_t column = 0; column < carried.width; ++column) {
        const std::ptrdiff_t x = column * step;
        const float* f = flow.pixel(y, x);
        const float fu = f[0], fv = f[flow.stride_c];
        const float px = static_cast<float>(x) + fu, py = static_cast<float>(y) + fv;
        const detail::Bilinear at(px, py, w, h);  // one set of weights for every plane
        carried.row(r)[column * carried.stride_x] = at(prev_luma);
        const bool consistent = px >= 0.0f && px <= max_x && py >= 0.0f && py <= max_y &&
                                !detail::on_motion_boundary(flow, y, x) &&
                                detail::consistency_error(fu, fv, at(back_u), at(back_v), alpha, beta) < 1.0f;
        valid.row(r)[column * valid.stride_x] = consistent ? 1 : 0;
        if (!consistent) continue;
        const T* a = prev.pixel(at.y0, at.x0);
        const T* b = prev.pixel(at.y0, at.x1);
        const T* c = prev.pixel(at.y1, at.x0);
        const T* d = prev.pixel(at.y1, at.x1);
        const T* n = next.pixel(y, x);
        float squares = 0.0f;
        for (std::ptrdiff_t ch = 0; ch < channels; ++ch) {
            const std::ptrdiff_t k = ch * prev.stride_c;
            const float difference = at(static_cast<float>(a[k]), static_cast<float>(b[k]), static_cast<float>(c[k]),
                                        static_cast<float>(d[k])) -
                                     static_cast<float>(n[ch * next.stride_c]);
            squares += difference * difference;
        }
        sum += static_cast<double>(squares);
        ++count;
    }
    row_sum = sum;
    row_count = count;
}

}  // namespace detail

// What the temporal measures need from a frame pair, in one pass over the pixels x of `next`
// on every step-th row and column, with `flow` from next to prev (next[x] ~ prev[x + flow(x)])
// and `back` from prev to next:
//   valid[x]    the forward-backward check of flow against back (ratio < 1, motion boundaries);
//   carried[x]  prev_luma sampled bilinearly at x + flow(x) (edge border);
// (both ceil(H / step) x ceil(W / step)) and returns the sum over the valid pixels of the squared
// differences, added over channels in float32, between next and prev sampled bilinearly at
// x + flow(x), in pixel units (row sums in double, added in row order), with the number of
// valid pixels. A step of 2 estimates the same means from a quarter of the pixels.
template <class T>
std::pair<double, std::ptrdiff_t> compare_along_flow(const ImageView<const T>& prev, const ImageView<const T>& next,
                                                     const PlaneView<const float>& prev_luma,
                                                     const ImageView<const float>& flow,
                                                     const ImageView<const float>& back, float alpha, float beta,
                                                     const PlaneView<float>& carried,
                                                     const PlaneView<std::uint8_t>& valid, std::ptrdiff_t step,
                                                     std::size_t workers = 1) {
    const std::ptrdiff_t h = next.height, w = next.width, channels = next.channels;
    if (step < 1 || !prev.same_size(h, w) || prev.channels != channels || !prev_luma.same_size(h, w) ||
        !flow.same_size(h, w) || !back.same_size(h, w) || flow.channels != 2 || back.channels != 2 ||
        !carried.same_size((h + step - 1) / step, (w + step - 1) / step) || !valid.same_size(carried.height, carried.width))
        throw std::invalid_argument("compare_along_flow: frames, flows and outputs must have matching sizes");
    const auto back_u = detail::flow_component(back, 0), back_v = detail::flow_component(back, 1);
    const std::ptrdiff_t rows = carried.height;
    std::vector<double> row_sums(rows, 0.0);
    std::vector<std::ptrdiff_t> row_counts(rows, 0);
    threading::parallel_for(0, rows, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t r = r0; r < r1; ++r)
            detail::compare_row<T>(r, step, prev, next, prev_luma, flow, back_u, back_v, alpha, beta, carried, valid,
                                   row_sums[r], row_counts[r]);
    });
    double total = 0.0;
    std::ptrdiff_t count = 0;
    for (std::ptrdiff_t y = 0; y < rows; ++y) {
        total += row_sums[y];
        count += row_counts[y];
    }
    return {total, count};
}

}  // namespace framefix
