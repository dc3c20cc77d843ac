#pragma once
// The patch stage of the flow estimator (Dense Inverse Search, Kroeger et al., ECCV 2016), one
// pyramid level at a time: square patches on a grid aligned by inverse-compositional
// Gauss-Newton, each from the flow it is given, compared after zero-mean, unit-variance
// normalisation (a gain or offset between the frames cancels), then blended into a dense field.
// The Numba twin (python/framefix/_numba/flow.py) follows the same steps in the same order.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "sampling.hpp"

namespace framefix {

struct PatchSearch {
    std::ptrdiff_t patch = 8;       // side of the square patches
    std::ptrdiff_t stride = 4;      // distance between patch origins
    std::ptrdiff_t iterations = 12; // Gauss-Newton steps per patch, at most
};

namespace detail {

// Sum of term(0) ... term(n - 1) in a fixed order that vectorises: term q goes to lane q % 8, in
// increasing q, and the eight lanes are added in order at the end (the Numba twin does the same).
template <class Term>
float lane_sum(std::ptrdiff_t n, Term&& term) noexcept {
    constexpr std::ptrdiff_t lanes = 8;
    float lane[lanes] = {};
    std::ptrdiff_t q = 0;
    for (; q + lanes <= n; q += lanes)
        for (std::ptrdiff_t l = 0; l < lanes; ++l) lane[l] += term(q + l);
    for (; q < n; ++q) lane[q % lanes] += term(q);
    float total = lane[0];
    for (std::ptrdiff_t l = 1; l < lanes; ++l) total += lane[l];
    return total;
}

// Row j of the p x p patch of `image` at (ox + u, oy + v): every pixel shares the same
// fractional offset, so inside the image one set of bilinear weights serves the whole patch;
// near the border each pixel is sampled with clamping.
inline void sample_patch_row(const PlaneView<const float>& image, std::ptrdiff_t ox, std::ptrdiff_t oy, float u,
                             float v, std::ptrdiff_t p, std::ptrdiff_t j, float* __restrict out) noexcept {
    const float bx = static_cast<float>(ox) + u, by = static_cast<float>(oy) + v;
    if (bx >= 0.0f && by >= 0.0f && bx + static_cast<float>(p) < static_cast<float>(image.width - 1) &&
        by + static_cast<float>(p) < static_cast<float>(image.height - 1)) {
        const auto x0 = static_cast<std::ptrdiff_t>(bx), y0 = static_cast<std::ptrdiff_t>(by);
        const float fx = bx - static_cast<float>(x0), fy = by - static_cast<float>(y0);
        const std::ptrdiff_t sx = image.stride_x;
        const float* __restrict r0 = image.row(y0 + j) + x0 * sx;
        const float* __restrict r1 = image.row(y0 + j + 1) + x0 * sx;
        auto pixels = [&](std::ptrdiff_t step) {
            for (std::ptrdiff_t i = 0; i < p; ++i)
                out[i] = bilinear(r0[i * step], r0[(i + 1) * step], r1[i * step], r1[(i + 1) * step], fx, fy);
        };
        if (sx == 1)  // the usual contiguous plane: a loop that vectorises
            pixels(1);
        else
            pixels(sx);
    } else {
        for (std::ptrdiff_t i = 0; i < p; ++i)
            out[i] = sample_clamped(image, bx + static_cast<float>(i), by + static_cast<float>(j));
    }
}

// The p x p patch, row by row. Returns the patch mean.
inline float sample_patch(const PlaneView<const float>& image, std::ptrdiff_t ox, std::ptrdiff_t oy, float u, float v,
                          std::ptrdiff_t p, float* __restrict out) noexcept {
    for (std::ptrdiff_t j = 0; j < p; ++j) sample_patch_row(image, ox, oy, u, v, p, j, out + j * p);
    return lane_sum(p * p, [&](std::ptrdiff_t q) { return out[q]; }) / static_cast<float>(p * p);
}


// One patch row's votes: each pixel adds the patch flow weighted by 1 / |normalised difference|
// (at most 20) between the warped patch and the first frame.
inline void blend_row(std::ptrdiff_t p, const float* __restrict warped, const float* __restrict first,
                      std::ptrdiff_t step, float mean1, float scale1, float mean0, float scale0, float patch_u,
                      float patch_v, float* __restrict sum_u, float* __restrict sum_v, float* __restrict sum_w) noexcept {
    for (std::ptrdiff_t i = 0; i < p; ++i) {
        const float a = (warped[i] - mean1) * scale1;
        const float b = (first[i * step] - mean0) * scale0;
        const float difference = std::fabs(a - b);
        const float weight = 1.0f / std::max(difference, 0.05f);
        sum_u[i] += weight * patch_u;
        sum_v[i] += weight * patch_v;
        sum_w[i] += weight;
    }
}

inline std::vector<std::ptrdiff_t> patch_origins(std::ptrdiff_t size, std::ptrdiff_t patch, std::ptrdiff_t stride) {
    std::vector<std::ptrdiff_t> origins;
    for (std::ptrdiff_t o = 0; o + patch <= size; o += stride) origins.push_back(o);
    if (origins.empty() || origins.back() + patch < size) origins.push_back(size - patch);  // cover the edge
    return origins;
}

}  // namespace detail

// Refines `flow` (H, W, 2: dx, dy, in place) between planes i0 and i1 (float32, same size, at
// least patch x patch). Deterministic: every patch is solved on its own, and the blend adds the
// patches in a fixed order.
inline void patch_flow_level(const PlaneView<const float>& i0, const PlaneView<const float>& i1,
                             const ImageView<float>& flow, const PatchSearch& search, std::size_t workers = 1) {
    const std::ptrdiff_t h = i0.height, w = i0.width, p = search.patch;
    if (!i1.same_size(h, w) || !flow.same_size(h, w) || flow.channels != 2)
        throw std::invalid_argument("patch_flow_level: i0, i1 and flow must have the same height and width");
    if (p < 2 || search.stride < 1 || search.stride > p || search.iterations < 0 || h < p || w < p)
        throw std::invalid_argument("patch_flow_level: bad patch settings for this image size");
    const auto xs = detail::patch_origins(w, p, search.stride), ys = detail::patch_origins(h, p, search.stride);
    const std::ptrdiff_t nx = static_cast<std::ptrdiff_t>(xs.size()), ny = static_cast<std::ptrdiff_t>(ys.size());
    const std::ptrdiff_t n = p * p;
    const float half = static_cast<float>(p / 2);
    // per patch: flow, and the normalisation of both patches at the end (for the blend weights)
    std::vector<float> pu(nx * ny), pv(nx * ny), m0(nx * ny), s0(nx * ny), m1(nx * ny), s1(nx * ny);

    threading::parallel_for(0, ny, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> t(n), gx(n), gy(n), warped(n), residual(n);
        for (std::ptrdiff_t r = r0; r < r1; ++r) {
            for (std::ptrdiff_t c = 0; c < nx; ++c) {
                const std::ptrdiff_t ox = xs[c], oy = ys[r], k = r * nx + c;
                // template, its gradients (central differences inside the image) and statistics
                const bool interior = ox >= 1 && ox + p < w && i0.stride_x == 1;
                for (std::ptrdiff_t j = 0; j < p; ++j) {
                    const std::ptrdiff_t y = oy + j;
                    if (interior) {  // no clamping across the row: a loop that vectorises
                        const detail::Neighbours rows(y, h);
                        const float* __restrict above = i0.row(rows.before) + ox;
                        const float* __restrict here = i0.row(y) + ox;
                        const float* __restrict below = i0.row(rows.after) + ox;
                        for (std::ptrdiff_t i = 0; i < p; ++i) {
                            t[j * p + i] = here[i];
                            gx[j * p + i] = (here[i + 1] - here[i - 1]) * 0.5f;
                            gy[j * p + i] = (below[i] - above[i]) * rows.scale;
                        }
                        continue;
                    }
                    for (std::ptrdiff_t i = 0; i < p; ++i) {
                        const std::ptrdiff_t x = ox + i;
                        t[j * p + i] = i0.row(y)[x * i0.stride_x];
                        gx[j * p + i] = detail::central_difference(i0.row(y), i0.stride_x, x, w);
                        gy[j * p + i] = detail::central_difference(i0.data + x * i0.stride_x, i0.stride_y, y, h);
                    }
                }
                const float count = static_cast<float>(n);
                const float mean = detail::lane_sum(n, [&](std::ptrdiff_t q) { return t[q]; }) / count;
                const float var = detail::lane_sum(n, [&](std::ptrdiff_t q) { return (t[q] - mean) * (t[q] - mean); });
                const float mgx = detail::lane_sum(n, [&](std::ptrdiff_t q) { return gx[q]; }) / count;
                const float mgy = detail::lane_sum(n, [&](std::ptrdiff_t q) { return gy[q]; }) / count;
                const float sd = std::sqrt(var / count) + 1e-4f;
                for (std::ptrdiff_t q = 0; q < n; ++q) {
                    t[q] = (t[q] - mean) / sd;
                    gx[q] = (gx[q] - mgx) / sd;
                    gy[q] = (gy[q] - mgy) / sd;
                }
                const float hxx = 1e-6f + detail::lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * gx[q]; });
                const float hxy = detail::lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * gy[q]; });
                const float hyy = 1e-6f + detail::lane_sum(n, [&](std::ptrdiff_t q) { return gy[q] * gy[q]; });
                const float det = hxx * hyy - hxy * hxy;
                const float* f = flow.pixel(oy + p / 2, ox + p / 2);
                const float u0 = f[0], v0 = f[flow.stride_c];
                float u = u0, v = v0, wm = 0.0f, ws = 1.0f;
                for (std::ptrdiff_t it = 0; it <= search.iterations; ++it) {
                    wm = detail::sample_patch(i1, ox, oy, u, v, p, warped.data());
                    const float wv = detail::lane_sum(n, [&](std::ptrdiff_t q) { return (warped[q] - wm) * (warped[q] - wm); });
                    ws = std::sqrt(wv / count) + 1e-4f;
                    if (it == search.iterations || det <= 1e-6f) break;
                    const float inv_ws = 1.0f / ws;
                    for (std::ptrdiff_t q = 0; q < n; ++q) residual[q] = (warped[q] - wm) * inv_ws - t[q];
                    const float bx = detail::lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * residual[q]; });
                    const float by = detail::lane_sum(n, [&](std::ptrdiff_t q) { return gy[q] * residual[q]; });
                    const float du = (hyy * bx - hxy * by) / det, dv = (hxx * by - hxy * bx) / det;
                    u -= du;
                    v -= dv;
                    if (du * du + dv * dv < 1e-6f) break;
                }
                // a patch that wandered more than its own size found something else, and one whose
                // centre left the frame matched clamped border pixels: keep its start
                const float cx = static_cast<float>(ox) + half + u, cy = static_cast<float>(oy) + half + v;
                if ((u - u0) * (u - u0) + (v - v0) * (v - v0) > static_cast<float>(p * p) || cx < 0.0f ||
                    cy < 0.0f || cx > static_cast<float>(w - 1) || cy > static_cast<float>(h - 1)) {
                    u = u0;
                    v = v0;
                }
                pu[k] = u;
                pv[k] = v;
                m0[k] = mean;
                s0[k] = sd;
                m1[k] = wm;
                s1[k] = ws;
            }
        }
    });

    // Outlier patches (flat regions, false matches) take the median of their 3x3 grid
    // neighbourhood when they stray from it by more than a pixel.
    {
        const std::vector<float> u_in = pu, v_in = pv;
        auto median9 = [](float* values, int count) {
            std::sort(values, values + count);
            return count % 2 ? values[count / 2] : 0.5f * (values[count / 2 - 1] + values[count / 2]);
        };
        for (std::ptrdiff_t r = 0; r < ny; ++r)
            for (std::ptrdiff_t c = 0; c < nx; ++c) {
                float us[9], vs[9];
                int count = 0;
                for (std::ptrdiff_t dr = -1; dr <= 1; ++dr)
                    for (std::ptrdiff_t dc = -1; dc <= 1; ++dc) {
                        const std::ptrdiff_t rr = r + dr, cc = c + dc;
                        if (rr < 0 || rr >= ny || cc < 0 || cc >= nx) continue;
                        us[count] = u_in[rr * nx + cc];
                        vs[count] = v_in[rr * nx + cc];
                        ++count;
                    }
                const float mu = median9(us, count), mv = median9(vs, count);
                const std::ptrdiff_t k = r * nx + c;
                if ((u_in[k] - mu) * (u_in[k] - mu) + (v_in[k] - mv) * (v_in[k] - mv) > 1.0f) {
                    pu[k] = mu;
                    pv[k] = mv;
                }
            }
    }

    // blend: every pixel averages the patches covering it, weighted by how well each patch's
    // flow explains that pixel (normalised difference). Each pixel row gathers from its patches
    // in grid order, so rows run in parallel and every sum has a fixed order.
    std::vector<float> inv_s0(nx * ny), inv_s1(nx * ny);
    for (std::ptrdiff_t k = 0; k < nx * ny; ++k) {
        inv_s0[k] = 1.0f / s0[k];
        inv_s1[k] = 1.0f / s1[k];
    }
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        std::vector<float> su(w), sv(w), sw(w), row(p);
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            std::fill(su.begin(), su.end(), 0.0f);
            std::fill(sv.begin(), sv.end(), 0.0f);
            std::fill(sw.begin(), sw.end(), 0.0f);
            const float* image_row = i0.row(y);
            for (std::ptrdiff_t r = 0; r < ny; ++r) {
                const std::ptrdiff_t j = y - ys[r];
                if (j < 0 || j >= p) continue;
                for (std::ptrdiff_t c = 0; c < nx; ++c) {
                    const std::ptrdiff_t k = r * nx + c, ox = xs[c];
                    detail::sample_patch_row(i1, ox, ys[r], pu[k], pv[k], p, j, row.data());
                    const float mean0 = m0[k], mean1 = m1[k], scale0 = inv_s0[k], scale1 = inv_s1[k];
                    if (i0.stride_x == 1)  // the usual contiguous plane: a loop that vectorises
                        detail::blend_row(p, row.data(), image_row + ox, 1, mean1, scale1, mean0, scale0, pu[k], pv[k],
                                          su.data() + ox, sv.data() + ox, sw.data() + ox);
                    else
                        detail::blend_row(p, row.data(), image_row + ox * i0.stride_x, i0.stride_x, mean1, scale1, mean0,
                                          scale0, pu[k], pv[k], su.data() + ox, sv.data() + ox, sw.data() + ox);
                }
            }
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                float* f = flow.pixel(y, x);
                f[0] = su[x] / sw[x];
                f[flow.stride_c] = sv[x] / sw[x];
            }
        }
    });
}

}  // namespace framefix
