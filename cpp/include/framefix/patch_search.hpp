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
    bool propagation = true;        // offer every patch its neighbours' flows (DIS's spatial propagation)
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


// One patch: its template (the first frame's pixels, normalised, with gradients and the
// Gauss-Newton matrix) and scratch space; solves for the patch's flow from a start and scores a
// flow by the normalised difference it leaves.
class PatchSolver {
   public:
    PatchSolver(const PlaneView<const float>& i0, const PlaneView<const float>& i1, std::ptrdiff_t p)
        : i0_(i0), i1_(i1), p_(p), n_(p * p), t_(n_), gx_(n_), gy_(n_), warped_(n_) {}

    // Takes the patch with origin (ox, oy) of the first frame.
    void set_template(std::ptrdiff_t ox, std::ptrdiff_t oy) noexcept {
        ox_ = ox;
        oy_ = oy;
        const std::ptrdiff_t p = p_, n = n_, h = i0_.height, w = i0_.width;
        float* __restrict t = t_.data();
        float* __restrict gx = gx_.data();
        float* __restrict gy = gy_.data();
        // template, its gradients (central differences inside the image) and statistics
        const bool interior = ox >= 1 && ox + p < w && i0_.stride_x == 1;
        for (std::ptrdiff_t j = 0; j < p; ++j) {
            const std::ptrdiff_t y = oy + j;
            if (interior) {  // no clamping across the row: a loop that vectorises
                const Neighbours rows(y, h);
                const float* __restrict above = i0_.row(rows.before) + ox;
                const float* __restrict here = i0_.row(y) + ox;
                const float* __restrict below = i0_.row(rows.after) + ox;
                for (std::ptrdiff_t i = 0; i < p; ++i) {
                    t[j * p + i] = here[i];
                    gx[j * p + i] = (here[i + 1] - here[i - 1]) * 0.5f;
                    gy[j * p + i] = (below[i] - above[i]) * rows.scale;
                }
                continue;
            }
            for (std::ptrdiff_t i = 0; i < p; ++i) {
                const std::ptrdiff_t x = ox + i;
                t[j * p + i] = i0_.row(y)[x * i0_.stride_x];
                gx[j * p + i] = central_difference(i0_.row(y), i0_.stride_x, x, w);
                gy[j * p + i] = central_difference(i0_.data + x * i0_.stride_x, i0_.stride_y, y, h);
            }
        }
        const float count = static_cast<float>(n);
        mean_ = lane_sum(n, [&](std::ptrdiff_t q) { return t[q]; }) / count;
        const float var = lane_sum(n, [&](std::ptrdiff_t q) { return (t[q] - mean_) * (t[q] - mean_); });
        const float mgx = lane_sum(n, [&](std::ptrdiff_t q) { return gx[q]; }) / count;
        const float mgy = lane_sum(n, [&](std::ptrdiff_t q) { return gy[q]; }) / count;
        sd_ = std::sqrt(var / count) + 1e-4f;
        for (std::ptrdiff_t q = 0; q < n; ++q) {
            t[q] = (t[q] - mean_) / sd_;
            gx[q] = (gx[q] - mgx) / sd_;
            gy[q] = (gy[q] - mgy) / sd_;
        }
        hxx_ = 1e-6f + lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * gx[q]; });
        hxy_ = lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * gy[q]; });
        hyy_ = 1e-6f + lane_sum(n, [&](std::ptrdiff_t q) { return gy[q] * gy[q]; });
        det_ = hxx_ * hyy_ - hxy_ * hxy_;
    }

    // The second frame's patch at the template's origin + (u, v): its mean and spread (kept in
    // warped_mean / warped_spread), and the sum of squared differences of the normalised patches.
    float cost(float u, float v) noexcept {
        const std::ptrdiff_t n = n_;
        const float* __restrict t = t_.data();
        float* __restrict warped = warped_.data();
        warped_mean = sample_patch(i1_, ox_, oy_, u, v, p_, warped);
        const float wv = lane_sum(n, [&](std::ptrdiff_t q) { return (warped[q] - warped_mean) * (warped[q] - warped_mean); });
        warped_spread = std::sqrt(wv / static_cast<float>(n)) + 1e-4f;
        const float inv = 1.0f / warped_spread, wm = warped_mean;
        return lane_sum(n, [&](std::ptrdiff_t q) {
            const float r = (warped[q] - wm) * inv - t[q];
            return r * r;
        });
    }

    // Inverse-compositional Gauss-Newton from (u0, v0), at most `iterations` steps. A patch that
    // wanders more than its own size found something else, and one whose centre leaves the frame
    // matched clamped border pixels: then it keeps its start. Returns the cost at the result.
    float solve(float u0, float v0, std::ptrdiff_t iterations, float& u_out, float& v_out) noexcept {
        const std::ptrdiff_t n = n_, p = p_;
        const float* __restrict t = t_.data();
        const float* __restrict gx = gx_.data();
        const float* __restrict gy = gy_.data();
        const float* __restrict warped = warped_.data();
        float u = u0, v = v0, cost_now = 0.0f;
        for (std::ptrdiff_t it = 0; it <= iterations; ++it) {
            cost_now = cost(u, v);
            if (it == iterations || det_ <= 1e-6f) break;
            const float inv_ws = 1.0f / warped_spread, wm = warped_mean;
            const float bx = lane_sum(n, [&](std::ptrdiff_t q) { return gx[q] * ((warped[q] - wm) * inv_ws - t[q]); });
            const float by = lane_sum(n, [&](std::ptrdiff_t q) { return gy[q] * ((warped[q] - wm) * inv_ws - t[q]); });
            const float du = (hyy_ * bx - hxy_ * by) / det_, dv = (hxx_ * by - hxy_ * bx) / det_;
            u -= du;
            v -= dv;
            if (du * du + dv * dv < 1e-6f) {
                cost_now = cost(u, v);
                break;
            }
        }
        const float half = static_cast<float>(p / 2);
        const float cx = static_cast<float>(ox_) + half + u, cy = static_cast<float>(oy_) + half + v;
        if ((u - u0) * (u - u0) + (v - v0) * (v - v0) > static_cast<float>(p * p) || cx < 0.0f || cy < 0.0f ||
            cx > static_cast<float>(i1_.width - 1) || cy > static_cast<float>(i1_.height - 1)) {
            u = u0;
            v = v0;
            cost_now = cost(u, v);
        }
        u_out = u;
        v_out = v;
        return cost_now;
    }

    float template_mean() const noexcept { return mean_; }
    float template_spread() const noexcept { return sd_; }
    float warped_mean = 0.0f, warped_spread = 1.0f;

   private:
    const PlaneView<const float>& i0_;
    const PlaneView<const float>& i1_;
    std::ptrdiff_t p_, n_, ox_ = 0, oy_ = 0;
    std::vector<float> t_, gx_, gy_, warped_;
    float mean_ = 0.0f, sd_ = 1.0f, hxx_ = 0.0f, hxy_ = 0.0f, hyy_ = 0.0f, det_ = 0.0f;
};

}  // namespace detail

// Refines `flow` (H, W, 2: dx, dy, in place) between planes i0 and i1 (float32, same size, at
// least patch x patch). Every patch is solved from the flow at its centre; then, as in DIS's
// spatial propagation, sweeps along the rows (left to right, right to left) and the columns
// (down, up) offer each patch its neighbour's flow, taken (and refined) when it explains the
// patch better: a patch that started from a coarse level's blurred motion boundary finds its
// own side's motion. Deterministic: rows (columns) are swept independently, in a fixed order.
inline void patch_flow_level(const PlaneView<const float>& i0, const PlaneView<const float>& i1,
                             const ImageView<float>& flow, const PatchSearch& search, std::size_t workers = 1) {
    const std::ptrdiff_t h = i0.height, w = i0.width, p = search.patch;
    if (!i1.same_size(h, w) || !flow.same_size(h, w) || flow.channels != 2)
        throw std::invalid_argument("patch_flow_level: i0, i1 and flow must have the same height and width");
    if (p < 2 || search.stride < 1 || search.stride > p || search.iterations < 0 || h < p || w < p)
        throw std::invalid_argument("patch_flow_level: bad patch settings for this image size");
    const auto xs = detail::patch_origins(w, p, search.stride), ys = detail::patch_origins(h, p, search.stride);
    const std::ptrdiff_t nx = static_cast<std::ptrdiff_t>(xs.size()), ny = static_cast<std::ptrdiff_t>(ys.size());
    // per patch: flow, its cost, and the normalisation of both patches at the end (for the blend weights)
    std::vector<float> pu(nx * ny), pv(nx * ny), cost(nx * ny), m0(nx * ny), s0(nx * ny), m1(nx * ny), s1(nx * ny);

    threading::parallel_for(0, ny, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        detail::PatchSolver solver(i0, i1, p);
        for (std::ptrdiff_t r = r0; r < r1; ++r) {
            for (std::ptrdiff_t c = 0; c < nx; ++c) {
                const std::ptrdiff_t ox = xs[c], oy = ys[r], k = r * nx + c;
                solver.set_template(ox, oy);
                const float* f = flow.pixel(oy + p / 2, ox + p / 2);
                cost[k] = solver.solve(f[0], f[flow.stride_c], search.iterations, pu[k], pv[k]);
                m0[k] = solver.template_mean();
                s0[k] = solver.template_spread();
                m1[k] = solver.warped_mean;
                s1[k] = solver.warped_spread;
            }
        }
    });

    // Propagation: patch k is offered the flow of patch `from`, already swept this pass.
    auto offer = [&](detail::PatchSolver& solver, std::ptrdiff_t k, std::ptrdiff_t from, std::ptrdiff_t ox,
                     std::ptrdiff_t oy) {
        // a flow within a pixel of the patch's own lies in the basin its solution came from
        const float du = pu[from] - pu[k], dv = pv[from] - pv[k];
        if (du * du + dv * dv < 1.0f) return;
        solver.set_template(ox, oy);
        if (!(solver.cost(pu[from], pv[from]) < cost[k])) return;
        float u, v;
        const float refined = solver.solve(pu[from], pv[from], search.iterations, u, v);
        if (refined < cost[k]) {
            pu[k] = u;
            pv[k] = v;
            cost[k] = refined;
            m1[k] = solver.warped_mean;
            s1[k] = solver.warped_spread;
        }
    };
    if (search.propagation) {
        threading::parallel_for(0, ny, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            detail::PatchSolver solver(i0, i1, p);
            for (std::ptrdiff_t r = r0; r < r1; ++r) {
                for (std::ptrdiff_t c = 1; c < nx; ++c) offer(solver, r * nx + c, r * nx + c - 1, xs[c], ys[r]);
                for (std::ptrdiff_t c = nx - 2; c >= 0; --c) offer(solver, r * nx + c, r * nx + c + 1, xs[c], ys[r]);
            }
        });
        threading::parallel_for(0, nx, workers, [&](std::ptrdiff_t c0, std::ptrdiff_t c1) {
            detail::PatchSolver solver(i0, i1, p);
            for (std::ptrdiff_t c = c0; c < c1; ++c) {
                for (std::ptrdiff_t r = 1; r < ny; ++r) offer(solver, r * nx + c, (r - 1) * nx + c, xs[c], ys[r]);
                for (std::ptrdiff_t r = ny - 2; r >= 0; --r) offer(solver, r * nx + c, (r + 1) * nx + c, xs[c], ys[r]);
            }
        });
    }
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
