#pragma once
// The forward-backward consistency check of a pair of flows, which marks occlusions and motion
// boundaries: what flow_consistency (python/framefix/flow.py) reports and what the temporal
// comparison (temporal.hpp) trusts. The Numba twin is in python/framefix/_numba/flow.py.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>

#include "image_view.hpp"
#include "parallel.hpp"
#include "sampling.hpp"

namespace framefix {

namespace detail {

// The forward-backward error over its tolerance, for f = forward(x) and b = backward(x + f).
inline float consistency_error(float fu, float fv, float bu, float bv, float alpha, float beta) noexcept {
    const float eu = fu + bu, ev = fv + bv;
    const float error = eu * eu + ev * ev;
    const float tolerance = alpha * (fu * fu + fv * fv + bu * bu + bv * bv) + beta;
    return error / std::max(tolerance, 1e-12f);
}

// |grad f|^2 > 0.01 |f|^2 + 0.002 at (y, x), gradients by central differences (one-sided at the
// border): the flow changes too abruptly there to be trusted.
inline bool on_motion_boundary(const ImageView<const float>& flow, std::ptrdiff_t y, std::ptrdiff_t x) noexcept {
    const float* row = flow.pixel(y, 0);
    const float* column = flow.pixel(0, x);
    const std::ptrdiff_t u = 0, v = flow.stride_c;
    const float fu = row[x * flow.stride_x + u], fv = row[x * flow.stride_x + v];
    const float gxu = central_difference(row + u, flow.stride_x, x, flow.width);
    const float gyu = central_difference(column + u, flow.stride_y, y, flow.height);
    const float gxv = central_difference(row + v, flow.stride_x, x, flow.width);
    const float gyv = central_difference(column + v, flow.stride_y, y, flow.height);
    return gxu * gxu + gyu * gyu + gxv * gxv + gyv * gyv > 0.01f * (fu * fu + fv * fv) + 0.002f;
}

inline PlaneView<const float> flow_component(const ImageView<const float>& flow, std::ptrdiff_t c) noexcept {
    return {flow.data + c * flow.stride_c, flow.height, flow.width, flow.stride_y, flow.stride_x};
}

}  // namespace detail

// The forward-backward check (Sundaram, Brox & Keutzer 2010) of `forward` (A -> B) against
// `backward` (B -> A), as a ratio per pixel of A:
//   |f(x) + b(x + f(x))|^2 / max(alpha (|f(x)|^2 + |b(x + f(x))|^2) + beta, 1e-12)
// (below 1: consistent), with b sampled bilinearly (edge border); +inf where x + f(x) leaves the
// frame and, with `motion_boundaries`, where |grad f|^2 > 0.01 |f|^2 + 0.002 (gradients by
// central differences, one-sided at the border).
inline void consistency_ratio(const ImageView<const float>& forward, const ImageView<const float>& backward,
                              const PlaneView<float>& out, float alpha, float beta, bool motion_boundaries,
                              std::size_t workers = 1) {
    const std::ptrdiff_t h = forward.height, w = forward.width;
    if (!backward.same_size(h, w) || !out.same_size(h, w) || forward.channels != 2 || backward.channels != 2)
        throw std::invalid_argument("consistency_ratio: flows and out must have the same height and width");
    const auto back_u = detail::flow_component(backward, 0), back_v = detail::flow_component(backward, 1);
    const float max_x = static_cast<float>(w - 1), max_y = static_cast<float>(h - 1);
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y)
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                const float* f = forward.pixel(y, x);
                const float fu = f[0], fv = f[forward.stride_c];
                const float px = static_cast<float>(x) + fu, py = static_cast<float>(y) + fv;
                float ratio = std::numeric_limits<float>::infinity();
                if (px >= 0.0f && px <= max_x && py >= 0.0f && py <= max_y &&
                    !(motion_boundaries && detail::on_motion_boundary(forward, y, x))) {
                    const detail::Bilinear at(px, py, w, h);
                    ratio = detail::consistency_error(fu, fv, at(back_u), at(back_v), alpha, beta);
                }
                out.row(y)[x * out.stride_x] = ratio;
            }
    });
}

}  // namespace framefix
