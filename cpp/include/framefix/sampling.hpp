#pragma once
// The small sampling rules every kernel family shares: linear interpolation, bilinear samples
// with the point clamped into the image (edge border) and central differences with the index
// clamped (one-sided at the border). One definition, so that flow, consistency, temporal, warp
// and deflicker round identically, and one Numba twin (python/framefix/_numba/_sampling.py)
// whose arithmetic is the same expression for expression.

#include <algorithm>
#include <cstddef>

#include "image_view.hpp"

namespace framefix::detail {

// a + t (b - a): exact at t = 0, and the form every bilinear result here is built from.
inline float lerp(float a, float b, float t) noexcept { return a + t * (b - a); }

// The four taps a (top left), b (top right), c (bottom left), d (bottom right) blended along x
// first, then along y.
inline float bilinear(float a, float b, float c, float d, float fx, float fy) noexcept {
    return lerp(lerp(a, b, fx), lerp(c, d, fx), fy);
}

// Where coordinate v falls on a line of n samples once clamped into [0, n - 1]: the taps i0 and
// i1 (equal at the far end) and the fraction t between them.
struct ClampedTaps {
    std::ptrdiff_t i0, i1;
    float t;
    ClampedTaps(float v, std::ptrdiff_t n) noexcept {
        const float top = static_cast<float>(n - 1);
        v = v < 0.0f ? 0.0f : (v > top ? top : v);
        i0 = static_cast<std::ptrdiff_t>(v);
        i1 = std::min(i0 + 1, n - 1);
        t = v - static_cast<float>(i0);
    }
};

// Bilinear weights of a point clamped into a w x h image: one set serves every plane (or
// channel) sampled at that point.
struct Bilinear {
    std::ptrdiff_t x0, x1, y0, y1;
    float fx, fy;
    Bilinear(float x, float y, std::ptrdiff_t w, std::ptrdiff_t h) noexcept {
        const ClampedTaps across(x, w), down(y, h);
        x0 = across.i0;
        x1 = across.i1;
        fx = across.t;
        y0 = down.i0;
        y1 = down.i1;
        fy = down.t;
    }
    float operator()(float a, float b, float c, float d) const noexcept { return bilinear(a, b, c, d, fx, fy); }
    float operator()(const PlaneView<const float>& p) const noexcept {
        return (*this)(p.row(y0)[x0 * p.stride_x], p.row(y0)[x1 * p.stride_x], p.row(y1)[x0 * p.stride_x],
                       p.row(y1)[x1 * p.stride_x]);
    }
};

inline float sample_clamped(const PlaneView<const float>& image, float x, float y) noexcept {
    return Bilinear(x, y, image.width, image.height)(image);
}

// The neighbours of index i on a line of n samples, clamped into it, and the factor that makes
// their difference a derivative: 1/2 across two steps, 1 at a border (a one-sided difference).
// The halving is a multiplication, exact like the division it stands for.
struct Neighbours {
    std::ptrdiff_t before, after;
    float scale;
    Neighbours(std::ptrdiff_t i, std::ptrdiff_t n) noexcept
        : before(i > 0 ? i - 1 : 0), after(i + 1 < n ? i + 1 : n - 1), scale(after - before == 2 ? 0.5f : 1.0f) {}
};

// Derivative at sample i of the line line[0], line[step], ... line[(n - 1) step].
inline float central_difference(const float* line, std::ptrdiff_t step, std::ptrdiff_t i, std::ptrdiff_t n) noexcept {
    const Neighbours at(i, n);
    return (line[at.after * step] - line[at.before * step]) * at.scale;
}

}  // namespace framefix::detail
