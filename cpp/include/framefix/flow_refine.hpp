#pragma once
// The variational refinement of the flow estimator, one pyramid level at a time (python/
// framefix/flow.py runs it after the patch stage of patch_search.hpp; the Numba twin is in
// python/framefix/_numba/flow.py).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "sampling.hpp"
#include "workspace.hpp"

namespace framefix {

// After the patch stage, a few iterations of the variational energy of Brox et al. (2004), as DIS
// uses it: robust (Charbonnier) brightness and gradient constancy, linearised once around the
// current flow, plus a robust smoothness term, minimised by lagged fixed-point iterations of
// red-black SOR. It removes the patch stage's blockiness, reaches sub-pixel accuracy and fills
// in flat and out-of-frame areas from their neighbours. Red-black ordering updates every pixel
// of one colour from the other colour only, so the result does not depend on the worker count.

struct Refinement {
    float alpha = 1.0f;             // smoothness weight
    float gamma = 1.0f;             // gradient constancy weight
    float delta = 1.0f;             // brightness constancy weight
    std::ptrdiff_t fixed_point = 5; // lagged relinearisations of the robust weights
    std::ptrdiff_t sor = 5;         // SOR sweeps per fixed-point iteration
    float omega = 1.6f;             // over-relaxation
    std::ptrdiff_t radius = 4;      // window of the local normalisation: (2 radius + 1)^2 pixels, >= 1
    float epsilon = 0.02f;          // added to the local standard deviation: flat areas stay flat
    std::ptrdiff_t presmooth = 0;   // passes of detail::binomial_blur of both planes first (0: none)
};

namespace detail {

// (p - local mean) / sqrt(local variance + epsilon^2) over a (2r+1)^2 window clamped at the
// border: the same for any gain and offset of the image, so the refinement's data terms do not
// see exposure flicker, even when it varies across the frame. Sums run in a fixed order
// (separable, left to right, then top to bottom); the interior takes loops without clamping, so
// that they vectorise. `image` is contiguous (w floats a row); row_sum and row_squares are
// scratch planes.
inline void normalise_locally(const float* image, std::ptrdiff_t h, std::ptrdiff_t w, std::ptrdiff_t radius,
                              float epsilon, float* out, float* row_sum, float* row_squares, std::size_t workers) {
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const float* __restrict r = image + y * w;
            float* __restrict sum = row_sum + y * w;
            float* __restrict squares = row_squares + y * w;
            auto clamped = [&](std::ptrdiff_t x) {
                float s = 0.0f, q = 0.0f;
                for (std::ptrdiff_t d = -radius; d <= radius; ++d) {
                    const float value = r[std::min(std::max<std::ptrdiff_t>(x + d, 0), w - 1)];
                    s += value;
                    q += value * value;
                }
                sum[x] = s;
                squares[x] = q;
            };
            const std::ptrdiff_t inner_begin = std::min(radius, w), inner_end = std::max(w - radius, inner_begin);
            for (std::ptrdiff_t x = 0; x < inner_begin; ++x) clamped(x);
            for (std::ptrdiff_t x = inner_begin; x < inner_end; ++x) {
                sum[x] = 0.0f;
                squares[x] = 0.0f;
            }
            for (std::ptrdiff_t d = -radius; d <= radius; ++d)
                for (std::ptrdiff_t x = inner_begin; x < inner_end; ++x) {
                    const float value = r[x + d];
                    sum[x] += value;
                    squares[x] += value * value;
                }
            for (std::ptrdiff_t x = inner_end; x < w; ++x) clamped(x);
        }
    });
    const float count = static_cast<float>((2 * radius + 1) * (2 * radius + 1));
    const float epsilon2 = epsilon * epsilon;
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> sums(w), squares(w);
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            float* __restrict s = sums.data();
            float* __restrict q = squares.data();
            std::fill(s, s + w, 0.0f);
            std::fill(q, q + w, 0.0f);
            for (std::ptrdiff_t d = -radius; d <= radius; ++d) {
                const std::ptrdiff_t yy = std::min(std::max<std::ptrdiff_t>(y + d, 0), h - 1);
                const float* __restrict rs = row_sum + yy * w;
                const float* __restrict rq = row_squares + yy * w;
                for (std::ptrdiff_t x = 0; x < w; ++x) {
                    s[x] += rs[x];
                    q[x] += rq[x];
                }
            }
            const float* __restrict r = image + y * w;
            float* __restrict o = out + y * w;
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                const float mean = s[x] / count;
                const float variance = std::max(q[x] / count - mean * mean, 0.0f);
                o[x] = (r[x] - mean) / std::sqrt(variance + epsilon2);
            }
        }
    });
}

// One tap of the [1 2 1] / 4 binomial filter.
inline float binomial(float before, float centre, float after) noexcept {
    return (before + 2.0f * centre + after) * 0.25f;
}

// `passes` passes, in place, of the 3 x 3 binomial blur of the contiguous h x w `plane`: [1 2 1] / 4
// along x into `across` (an h x w scratch plane), then along y back into `plane`; edge border. It
// takes out pixel-scale noise that does not move with the picture, such as the dithering of a
// GIF's palette, and keeps the texture the flow is matched on (two passes: sigma 1 px).
inline void binomial_blur(float* plane, std::ptrdiff_t h, std::ptrdiff_t w, std::ptrdiff_t passes, float* across,
                          std::size_t workers) {
    for (std::ptrdiff_t pass = 0; pass < passes; ++pass) {
        threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            for (std::ptrdiff_t y = r0; y < r1; ++y) {
                const float* r = plane + y * w;
                float* o = across + y * w;
                for (std::ptrdiff_t x = 0; x < w; ++x)
                    o[x] = binomial(r[std::max<std::ptrdiff_t>(x - 1, 0)], r[x], r[std::min(x + 1, w - 1)]);
            }
        });
        threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            for (std::ptrdiff_t y = r0; y < r1; ++y) {
                const float* __restrict above = across + std::max<std::ptrdiff_t>(y - 1, 0) * w;
                const float* __restrict here = across + y * w;
                const float* __restrict below = across + std::min(y + 1, h - 1) * w;
                float* __restrict o = plane + y * w;
                for (std::ptrdiff_t x = 0; x < w; ++x) o[x] = binomial(above[x], here[x], below[x]);
            }
        });
    }
}

// The linearised, robustly weighted data terms of `count` pixels: the symmetric 2x2 system
// A (du, dv) + b around the base flow, returned as A and c = b - A base (the system for the full
// flow). Weights come from the residuals at the current flow (lagged nonlinearity); pixels whose
// match left the frame get none. A flat loop over plain arrays, so that it vectorises.
inline void data_terms(std::ptrdiff_t count, float delta, float gamma, const float* __restrict inside,
                       const float* __restrict u, const float* __restrict v, const float* __restrict base_u,
                       const float* __restrict base_v, const float* __restrict ix, const float* __restrict iy,
                       const float* __restrict it, const float* __restrict ixx, const float* __restrict ixy,
                       const float* __restrict iyy, const float* __restrict ixt, const float* __restrict iyt,
                       float* __restrict a11, float* __restrict a12, float* __restrict a22, float* __restrict c1,
                       float* __restrict c2) noexcept {
    constexpr float eps2 = 1e-6f;
    for (std::ptrdiff_t k = 0; k < count; ++k) {
        const float du = u[k] - base_u[k], dv = v[k] - base_v[k];
        const float d = ix[k] * du + iy[k] * dv + it[k];
        const float psi_i = inside[k] * delta / std::sqrt(d * d + eps2);
        const float ex = ixx[k] * du + ixy[k] * dv + ixt[k];
        const float ey = ixy[k] * du + iyy[k] * dv + iyt[k];
        const float psi_g = inside[k] * gamma / std::sqrt(ex * ex + ey * ey + eps2);
        const float p11 = psi_i * ix[k] * ix[k] + psi_g * (ixx[k] * ixx[k] + ixy[k] * ixy[k]);
        const float p12 = psi_i * ix[k] * iy[k] + psi_g * (ixx[k] * ixy[k] + ixy[k] * iyy[k]);
        const float p22 = psi_i * iy[k] * iy[k] + psi_g * (ixy[k] * ixy[k] + iyy[k] * iyy[k]);
        const float b1 = psi_i * ix[k] * it[k] + psi_g * (ixx[k] * ixt[k] + ixy[k] * iyt[k]);
        const float b2 = psi_i * iy[k] * it[k] + psi_g * (ixy[k] * ixt[k] + iyy[k] * iyt[k]);
        a11[k] = p11;
        a12[k] = p12;
        a22[k] = p22;
        c1[k] = b1 - p11 * base_u[k] - p12 * base_v[k];
        c2[k] = b2 - p12 * base_u[k] - p22 * base_v[k];
    }
}

// Smoothness weights of one row: alpha / sqrt(|grad u|^2 + |grad v|^2 + eps^2) from forward
// differences. `u_next`, `v_next` are the next row, or this row on the last one, which makes the
// vertical differences exactly zero; the last column has no horizontal ones.
inline void smoothness_row(std::ptrdiff_t w, float alpha, const float* __restrict u, const float* __restrict v,
                           const float* __restrict u_next, const float* __restrict v_next,
                           float* __restrict out) noexcept {
    constexpr float eps2 = 1e-6f;
    for (std::ptrdiff_t x = 0; x + 1 < w; ++x) {
        const float ux = u[x + 1] - u[x], vx = v[x + 1] - v[x], uy = u_next[x] - u[x], vy = v_next[x] - v[x];
        out[x] = alpha / std::sqrt(ux * ux + uy * uy + vx * vx + vy * vy + eps2);
    }
    const std::ptrdiff_t x = w - 1;
    const float ux = 0.0f, vx = 0.0f, uy = u_next[x] - u[x], vy = v_next[x] - v[x];
    out[x] = alpha / std::sqrt(ux * ux + uy * uy + vx * vx + vy * vy + eps2);
}

// One row's links to the right and lower neighbours (wh, wv: the mean of the two smoothness
// weights, 0 past the border) and the inverted diagonals 1 / (A_ii + sum of the four links);
// inv11 and inv22 hold A's diagonal on entry. Missing links add an exact zero.
template <bool HasUp, bool HasDown>
void links_row(std::ptrdiff_t w, const float* __restrict s, const float* __restrict s_up,
               const float* __restrict s_down, float* __restrict wh, float* __restrict wv, float* __restrict inv11,
               float* __restrict inv22) noexcept {
    auto pixel = [&](std::ptrdiff_t x, bool has_left, bool has_right) {
        const float right = has_right ? 0.5f * (s[x] + s[x + 1]) : 0.0f;
        const float down = HasDown ? 0.5f * (s[x] + s_down[x]) : 0.0f;
        wh[x] = right;
        wv[x] = down;
        float sw = right + down;
        sw += has_left ? 0.5f * (s[x - 1] + s[x]) : 0.0f;
        sw += HasUp ? 0.5f * (s_up[x] + s[x]) : 0.0f;
        inv11[x] = 1.0f / (inv11[x] + sw);
        inv22[x] = 1.0f / (inv22[x] + sw);
    };
    pixel(0, false, w > 1);
    for (std::ptrdiff_t x = 1; x + 1 < w; ++x) pixel(x, true, true);
    if (w > 1) pixel(w - 1, true, false);
}

// The SOR sweeps keep each colour of the red-black checkerboard in its own plane ("compact"
// layout: pixel (y, x) of colour (x + y) & 1 at row y, index x >> 1), so that a sweep over one
// colour reads and writes contiguous memory: its left neighbour in the other colour's plane is
// at index j - 1 + s, its right one at j + s (s = x & 1, the same along a row), the ones above
// and below at j. In the full layout every other pixel is skipped and the loop hardly
// vectorises; the arithmetic per pixel is the same, in the same order, so the result is too.
//
// One interior row of one colour, compact indices j0 <= j < j1 (all four neighbours exist): the
// new (u, v) of a pixel solves its 2x2 system with the neighbours' current values, over-relaxed
// by omega. The other colour's values come through `left`, `right` (shifted by s), `up` and
// `down`; the link weights are the right and lower ones stored with each pixel (wr, wd), those of
// the left and upper neighbours (wl, wu).
inline void sor_compact_row(std::ptrdiff_t j0, std::ptrdiff_t j1, float omega, float* __restrict u,
                            float* __restrict v, const float* __restrict u_left, const float* __restrict v_left,
                            const float* __restrict u_right, const float* __restrict v_right,
                            const float* __restrict u_up, const float* __restrict v_up,
                            const float* __restrict u_down, const float* __restrict v_down,
                            const float* __restrict wl, const float* __restrict wr, const float* __restrict wu,
                            const float* __restrict wd, const float* __restrict a12, const float* __restrict c1,
                            const float* __restrict c2, const float* __restrict inv11,
                            const float* __restrict inv22) noexcept {
    for (std::ptrdiff_t j = j0; j < j1; ++j) {
        float su = 0.0f, sv = 0.0f;
        su += wl[j] * u_left[j];
        sv += wl[j] * v_left[j];
        su += wr[j] * u_right[j];
        sv += wr[j] * v_right[j];
        su += wu[j] * u_up[j];
        sv += wu[j] * v_up[j];
        su += wd[j] * u_down[j];
        sv += wd[j] * v_down[j];
        u[j] += omega * ((su - c1[j] - a12[j] * v[j]) * inv11[j] - u[j]);
        v[j] += omega * ((sv - c2[j] - a12[j] * u[j]) * inv22[j] - v[j]);
    }
}

// Row y of a full-layout plane into the compact one: even columns to colour y & 1, odd ones to
// the other colour, each at index x >> 1.
inline void split_row(std::ptrdiff_t w, const float* __restrict row, float* __restrict even,
                      float* __restrict odd) noexcept {
    for (std::ptrdiff_t j = 0; 2 * j < w; ++j) even[j] = row[2 * j];
    for (std::ptrdiff_t j = 0; 2 * j + 1 < w; ++j) odd[j] = row[2 * j + 1];
}

inline void join_row(std::ptrdiff_t w, const float* __restrict even, const float* __restrict odd,
                     float* __restrict row) noexcept {
    for (std::ptrdiff_t j = 0; 2 * j < w; ++j) row[2 * j] = even[j];
    for (std::ptrdiff_t j = 0; 2 * j + 1 < w; ++j) row[2 * j + 1] = odd[j];
}

// One row of the refinement's first derivatives: spatial ones averaged over both frames a and b
// (rows: this one, the one above and the one below, clamped; sy the vertical scale), temporal
// ones as differences, by sampling.hpp's central_difference rule (clamped, one-sided at a
// border); the interior columns without clamping, so that the loop vectorises. w >= 2.
inline void first_derivatives_row(std::ptrdiff_t w, const float* __restrict a, const float* __restrict a_up,
                                  const float* __restrict a_down, const float* __restrict b,
                                  const float* __restrict b_up, const float* __restrict b_down, float sy,
                                  float* __restrict ix, float* __restrict iy, float* __restrict it,
                                  float* __restrict ixt, float* __restrict iyt) noexcept {
    auto pixel = [&](std::ptrdiff_t x, float ax, float bx) {
        const float ay = (a_down[x] - a_up[x]) * sy, by = (b_down[x] - b_up[x]) * sy;
        ix[x] = 0.5f * (ax + bx);
        iy[x] = 0.5f * (ay + by);
        it[x] = b[x] - a[x];
        ixt[x] = bx - ax;
        iyt[x] = by - ay;
    };
    pixel(0, central_difference(a, 1, 0, w), central_difference(b, 1, 0, w));
    for (std::ptrdiff_t x = 1; x + 1 < w; ++x) pixel(x, (a[x + 1] - a[x - 1]) * 0.5f, (b[x + 1] - b[x - 1]) * 0.5f);
    pixel(w - 1, central_difference(a, 1, w - 1, w), central_difference(b, 1, w - 1, w));
}

// One row of the second derivatives: ixx = d(ix)/dx, ixy = d(ix)/dy, iyy = d(iy)/dy (the same
// rule; sy the vertical scale of this row), the interior columns without clamping.
inline void second_derivatives_row(std::ptrdiff_t w, const float* __restrict ix, const float* __restrict ix_up,
                                   const float* __restrict ix_down, const float* __restrict iy_up,
                                   const float* __restrict iy_down, float sy, float* __restrict ixx,
                                   float* __restrict ixy, float* __restrict iyy) noexcept {
    for (std::ptrdiff_t x = 0; x < w; ++x) {
        ixy[x] = (ix_down[x] - ix_up[x]) * sy;
        iyy[x] = (iy_down[x] - iy_up[x]) * sy;
    }
    ixx[0] = central_difference(ix, 1, 0, w);
    for (std::ptrdiff_t x = 1; x + 1 < w; ++x) ixx[x] = (ix[x + 1] - ix[x - 1]) * 0.5f;
    ixx[w - 1] = central_difference(ix, 1, w - 1, w);
}

}  // namespace detail

// Refines `flow` (H, W, 2, in place) between planes i0 and i1 (float32, same size, at least 2x2).
inline void refine_flow_level(const PlaneView<const float>& i0, const PlaneView<const float>& i1,
                              const ImageView<float>& flow, const Refinement& settings, std::size_t workers = 1) {
    const std::ptrdiff_t h = i0.height, w = i0.width, n = h * w;
    if (!i1.same_size(h, w) || !flow.same_size(h, w) || flow.channels != 2)
        throw std::invalid_argument("refine_flow_level: i0, i1 and flow must have the same height and width");
    if (h < 2 || w < 2 || !(settings.alpha > 0.0f) || !(settings.gamma >= 0.0f) || !(settings.delta >= 0.0f) ||
        settings.fixed_point < 0 || settings.sor < 0 || !(settings.omega > 0.0f && settings.omega < 2.0f) ||
        settings.radius < 1 || !(settings.epsilon > 0.0f) || settings.presmooth < 0)
        throw std::invalid_argument("refine_flow_level: bad refinement settings for this image size");
    const std::ptrdiff_t half = (w + 1) / 2;  // a compact row: one colour's pixels of a row
    const std::ptrdiff_t colour_size = h * half;
    const detail::Workspace workspace(23, static_cast<std::size_t>(2 * colour_size));
    float* const base_u = workspace.plane(0);
    float* const base_v = workspace.plane(1);
    float* const f0 = workspace.plane(2);
    float* const f1 = workspace.plane(3);
    float* const inside = workspace.plane(4);  // 1 where the match stays in the frame, else 0
    float* const ix = workspace.plane(5);
    float* const iy = workspace.plane(6);
    float* const it = workspace.plane(7);
    float* const ixx = workspace.plane(8);
    float* const ixy = workspace.plane(9);
    float* const iyy = workspace.plane(10);
    float* const ixt = workspace.plane(11);
    float* const iyt = workspace.plane(12);
    auto rows = [&](auto&& body) {
        threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            for (std::ptrdiff_t y = r0; y < r1; ++y) body(y);
        });
    };
    // both frames normalised, then the second warped by the current flow; pixels whose match
    // leaves the frame get no data term
    PlaneView<const float> n1{workspace.plane(21), h, w, w, 1};
    rows([&](std::ptrdiff_t y) {  // contiguous copies of the frames, in planes not yet used
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            it[y * w + x] = i0.row(y)[x * i0.stride_x];
            ixx[y * w + x] = i1.row(y)[x * i1.stride_x];
        }
    });
    detail::binomial_blur(it, h, w, settings.presmooth, ix, workers);
    detail::binomial_blur(ixx, h, w, settings.presmooth, iy, workers);
    detail::normalise_locally(it, h, w, settings.radius, settings.epsilon, f0, ix, iy, workers);
    detail::normalise_locally(ixx, h, w, settings.radius, settings.epsilon, workspace.plane(21), ix, iy, workers);
    rows([&](std::ptrdiff_t y) {
        const float max_x = static_cast<float>(w - 1), max_y = static_cast<float>(h - 1);
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            const float* f = flow.pixel(y, x);
            const float u = f[0], v = f[flow.stride_c];
            const float sx = static_cast<float>(x) + u, sy = static_cast<float>(y) + v;
            const std::ptrdiff_t k = y * w + x;
            base_u[k] = u;
            base_v[k] = v;
            f1[k] = detail::sample_clamped(n1, sx, sy);
            inside[k] = sx >= 0.0f && sx <= max_x && sy >= 0.0f && sy <= max_y ? 1.0f : 0.0f;
        }
    });
    // derivatives: spatial ones averaged over both frames, temporal ones as differences; a row
    // takes its vertical neighbours once, and its interior columns run loops that vectorise
    rows([&](std::ptrdiff_t y) {
        const detail::Neighbours vertical(y, h);
        const std::ptrdiff_t k = y * w, up = vertical.before * w, down = vertical.after * w;
        detail::first_derivatives_row(w, f0 + k, f0 + up, f0 + down, f1 + k, f1 + up, f1 + down, vertical.scale, ix + k,
                                      iy + k, it + k, ixt + k, iyt + k);
    });
    rows([&](std::ptrdiff_t y) {
        const detail::Neighbours vertical(y, h);
        const std::ptrdiff_t k = y * w, up = vertical.before * w, down = vertical.after * w;
        detail::second_derivatives_row(w, ix + k, ix + up, ix + down, iy + up, iy + down, vertical.scale, ixx + k, ixy + k,
                                       iyy + k);
    });

    // The unknowns are the full flow (u, v) = base + increment. Per fixed-point iteration the
    // linearised data term of a pixel is  A (du, dv) + b  with A symmetric 2x2; written for the
    // full flow its constant part is  c = b - A base.
    float* const u = f0;  // the image copies are no longer needed: reuse them
    float* const v = f1;
    std::copy(base_u, base_u + n, u);
    std::copy(base_v, base_v + n, v);
    float* const smooth = workspace.plane(13);
    // compact planes (colour c at + c * colour_size): the flow, the links to the right and lower
    // neighbours, and each pixel's system (its diagonal inverted once for all sweeps)
    float* const cu = workspace.plane(14);
    float* const cv = workspace.plane(15);
    float* const cwr = workspace.plane(16);
    float* const cwd = workspace.plane(17);
    float* const ca12 = workspace.plane(18);
    float* const cc1 = workspace.plane(19);
    float* const cc2 = workspace.plane(20);
    float* const cinv11 = workspace.plane(21);
    float* const cinv22 = workspace.plane(22);
    const float alpha = settings.alpha, gamma = settings.gamma, delta = settings.delta, omega = settings.omega;
    auto in_colour = [=](std::ptrdiff_t colour, std::ptrdiff_t y) { return colour * colour_size + y * half; };

    for (std::ptrdiff_t fp = 0; fp < settings.fixed_point; ++fp) {
        rows([=](std::ptrdiff_t y) {
            const std::ptrdiff_t k = y * w, next = y + 1 < h ? k + w : k;
            detail::smoothness_row(w, alpha, u + k, v + k, u + next, v + next, smooth + k);
        });
        // robust data weights at the current flow and the links, a row at a time (A's diagonal
        // waits in inv11 and inv22 until links_row inverts it), then split into the colours
        threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            std::vector<float> scratch(static_cast<std::size_t>(7 * w));
            float* const a12 = scratch.data();
            float* const c1 = a12 + w;
            float* const c2 = c1 + w;
            float* const inv11 = c2 + w;
            float* const inv22 = inv11 + w;
            float* const wh = inv22 + w;
            float* const wv = wh + w;
            for (std::ptrdiff_t y = r0; y < r1; ++y) {
                const std::ptrdiff_t k = y * w;
                detail::data_terms(w, delta, gamma, inside + k, u + k, v + k, base_u + k, base_v + k, ix + k, iy + k,
                                   it + k, ixx + k, ixy + k, iyy + k, ixt + k, iyt + k, inv11, a12, inv22, c1, c2);
                const float* up = y > 0 ? smooth + k - w : nullptr;
                const float* down = y + 1 < h ? smooth + k + w : nullptr;
                if (up && down)
                    detail::links_row<true, true>(w, smooth + k, up, down, wh, wv, inv11, inv22);
                else if (up)
                    detail::links_row<true, false>(w, smooth + k, up, down, wh, wv, inv11, inv22);
                else if (down)
                    detail::links_row<false, true>(w, smooth + k, up, down, wh, wv, inv11, inv22);
                else
                    detail::links_row<false, false>(w, smooth + k, up, down, wh, wv, inv11, inv22);
                const std::ptrdiff_t even = in_colour(y & 1, y), odd = in_colour((y + 1) & 1, y);
                detail::split_row(w, u + k, cu + even, cu + odd);
                detail::split_row(w, v + k, cv + even, cv + odd);
                detail::split_row(w, wh, cwr + even, cwr + odd);
                detail::split_row(w, wv, cwd + even, cwd + odd);
                detail::split_row(w, a12, ca12 + even, ca12 + odd);
                detail::split_row(w, c1, cc1 + even, cc1 + odd);
                detail::split_row(w, c2, cc2 + even, cc2 + odd);
                detail::split_row(w, inv11, cinv11 + even, cinv11 + odd);
                detail::split_row(w, inv22, cinv22 + even, cinv22 + odd);
            }
        });
        // border pixels take the general path (missing neighbours left out), interior runs of a
        // row the vectorised one
        auto sor_pixel = [=](std::ptrdiff_t y, std::ptrdiff_t x) {
            const std::ptrdiff_t colour = (x + y) & 1, other = 1 - colour;
            const std::ptrdiff_t k = in_colour(colour, y) + (x >> 1);
            float su = 0.0f, sv = 0.0f;
            if (x > 0) {
                const std::ptrdiff_t l = in_colour(other, y) + ((x - 1) >> 1);
                su += cwr[l] * cu[l];
                sv += cwr[l] * cv[l];
            }
            if (x + 1 < w) {
                const std::ptrdiff_t r = in_colour(other, y) + ((x + 1) >> 1);
                su += cwr[k] * cu[r];
                sv += cwr[k] * cv[r];
            }
            if (y > 0) {
                const std::ptrdiff_t a = in_colour(other, y - 1) + (x >> 1);
                su += cwd[a] * cu[a];
                sv += cwd[a] * cv[a];
            }
            if (y + 1 < h) {
                const std::ptrdiff_t b = in_colour(other, y + 1) + (x >> 1);
                su += cwd[k] * cu[b];
                sv += cwd[k] * cv[b];
            }
            cu[k] += omega * ((su - cc1[k] - ca12[k] * cv[k]) * cinv11[k] - cu[k]);
            cv[k] += omega * ((sv - cc2[k] - ca12[k] * cu[k]) * cinv22[k] - cv[k]);
        };
        auto sweep_row = [=](std::ptrdiff_t y, std::ptrdiff_t colour) {
            const std::ptrdiff_t first = (y + colour) & 1;  // this colour's first column
            if (y == 0 || y + 1 == h || w < 3) {
                for (std::ptrdiff_t x = first; x < w; x += 2) sor_pixel(y, x);
                return;
            }
            const std::ptrdiff_t count = (w - first + 1) / 2, last = first + 2 * (count - 1);
            if (first == 0) sor_pixel(y, 0);
            const std::ptrdiff_t j0 = first == 0 ? 1 : 0, j1 = last == w - 1 ? count - 1 : count;
            const std::ptrdiff_t own = in_colour(colour, y), row = in_colour(1 - colour, y);
            const std::ptrdiff_t above = row - half, below = row + half;
            const std::ptrdiff_t left = row + first - 1, right = row + first;
            detail::sor_compact_row(j0, j1, omega, cu + own, cv + own, cu + left, cv + left, cu + right,
                                    cv + right, cu + above, cv + above, cu + below, cv + below, cwr + left,
                                    cwr + own, cwd + above, cwd + own, ca12 + own, cc1 + own, cc2 + own,
                                    cinv11 + own, cinv22 + own);
            if (last == w - 1) sor_pixel(y, w - 1);
        };
        if (workers <= 1) {
            // All sweeps in one pass down the rows, each sweep two rows behind the previous one:
            // colour 0 of sweep s on row y runs once colour 1 of sweep s - 1 is done on rows
            // y - 1 .. y + 1, and colour 1 on row y once colour 0 is, which is what two full
            // passes per sweep give, value for value; but the rows in flight stay in cache
            // instead of every sweep streaming all nine planes through memory twice.
            const std::ptrdiff_t sweeps = settings.sor;
            for (std::ptrdiff_t step = 0; step < h + 2 * sweeps - 1; ++step)
                for (std::ptrdiff_t sweep = 0; sweep < sweeps; ++sweep) {
                    const std::ptrdiff_t y = step - 2 * sweep;
                    if (y >= 0 && y < h) sweep_row(y, 0);
                    if (y - 1 >= 0 && y - 1 < h) sweep_row(y - 1, 1);
                }
        } else {
            for (std::ptrdiff_t sweep = 0; sweep < settings.sor; ++sweep)
                for (std::ptrdiff_t colour = 0; colour < 2; ++colour)
                    rows([=](std::ptrdiff_t y) { sweep_row(y, colour); });
        }
        rows([=](std::ptrdiff_t y) {
            const std::ptrdiff_t even = in_colour(y & 1, y), odd = in_colour((y + 1) & 1, y);
            detail::join_row(w, cu + even, cu + odd, u + y * w);
            detail::join_row(w, cv + even, cv + odd, v + y * w);
        });
    }
    rows([=](std::ptrdiff_t y) {
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            float* f = flow.pixel(y, x);
            f[0] = u[y * w + x];
            f[flow.stride_c] = v[y * w + x];
        }
    });
}

}  // namespace framefix
