#pragma once
// Dense optical flow of the Dense Inverse Search class (Kroeger et al., ECCV 2016), one pyramid
// level at a time (python/framefix/flow.py runs the pyramid):
//   patch_flow_level   square patches on a grid aligned by inverse-compositional Gauss-Newton,
//                      each from the flow it is given, compared after zero-mean, unit-variance
//                      normalisation (a gain or offset between the frames cancels), then blended
//                      into a dense field;
//   refine_flow_level  variational refinement (Brox et al. 2004) on locally normalised images;
// and what is built on flows: the forward-backward consistency check, the one-pass comparison
// of a frame pair along the motion (warping error, carried luma), and the pyramid helpers.
// The Numba twins (python/framefix/_numba/flow.py) follow the same steps in the same order, so
// both backends agree bit for bit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"

namespace framefix {

struct PatchSearch {
    std::ptrdiff_t patch = 8;       // side of the square patches
    std::ptrdiff_t stride = 4;      // distance between patch origins
    std::ptrdiff_t iterations = 12; // Gauss-Newton steps per patch, at most
};

namespace detail {

// Bilinear weights of a point clamped into a w x h image (edge border): one set serves every
// plane sampled at that point.
struct Bilinear {
    std::ptrdiff_t x0, x1, y0, y1;
    float fx, fy;
    Bilinear(float x, float y, std::ptrdiff_t w, std::ptrdiff_t h) noexcept {
        const float max_x = static_cast<float>(w - 1), max_y = static_cast<float>(h - 1);
        x = x < 0.0f ? 0.0f : (x > max_x ? max_x : x);
        y = y < 0.0f ? 0.0f : (y > max_y ? max_y : y);
        x0 = static_cast<std::ptrdiff_t>(x);
        y0 = static_cast<std::ptrdiff_t>(y);
        x1 = std::min(x0 + 1, w - 1);
        y1 = std::min(y0 + 1, h - 1);
        fx = x - static_cast<float>(x0);
        fy = y - static_cast<float>(y0);
    }
    float operator()(float a, float b, float c, float d) const noexcept {
        const float top = a + fx * (b - a), bottom = c + fx * (d - c);
        return top + fy * (bottom - top);
    }
    float operator()(const PlaneView<const float>& p) const noexcept {
        return (*this)(p.row(y0)[x0 * p.stride_x], p.row(y0)[x1 * p.stride_x], p.row(y1)[x0 * p.stride_x],
                       p.row(y1)[x1 * p.stride_x]);
    }
};

// Bilinear sample of a plane with coordinates clamped to the image (edge border).
inline float sample_clamped(const PlaneView<const float>& image, float x, float y) noexcept {
    return Bilinear(x, y, image.width, image.height)(image);
}

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
            for (std::ptrdiff_t i = 0; i < p; ++i) {
                const float a = r0[i * step], b = r0[(i + 1) * step];
                const float c = r1[i * step], d = r1[(i + 1) * step];
                const float top = a + fx * (b - a), bottom = c + fx * (d - c);
                out[i] = top + fy * (bottom - top);
            }
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

// Scratch planes that later calls on the same thread reuse. Large blocks freed after every call
// go back to the operating system, and faulting their pages in again cost as much as the
// arithmetic; blocks over 128 MiB are not kept. One workspace per thread at a time.
class Workspace {
public:
    Workspace(std::size_t planes, std::size_t plane_size) : plane_size_(plane_size) {
        constexpr std::size_t kept = std::size_t{1} << 25;  // floats
        thread_local std::unique_ptr<float[]> cached;
        thread_local std::size_t cached_count = 0;
        thread_local bool in_use = false;
        if (in_use) throw std::logic_error("framefix: nested flow workspaces on one thread");
        const std::size_t count = planes * plane_size;
        if (count <= cached_count) {
            data_ = cached.get();
        } else {
            owned_.reset(new float[count]);
            data_ = owned_.get();
            if (count <= kept) {
                cached = std::move(owned_);
                cached_count = count;
            }
        }
        in_use_ = &in_use;
        in_use = true;
    }
    ~Workspace() { *in_use_ = false; }
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    float* plane(std::size_t index) const noexcept { return data_ + index * plane_size_; }

private:
    std::size_t plane_size_;
    float* data_ = nullptr;
    std::unique_ptr<float[]> owned_;
    bool* in_use_ = nullptr;
};

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
                    const std::ptrdiff_t y = oy + j, ya = std::max<std::ptrdiff_t>(y - 1, 0), yb = std::min(y + 1, h - 1);
                    const float sy = yb - ya == 2 ? 0.5f : 1.0f;
                    if (interior) {  // no clamping across the row: a loop that vectorises
                        const float* __restrict above = i0.row(ya) + ox;
                        const float* __restrict here = i0.row(y) + ox;
                        const float* __restrict below = i0.row(yb) + ox;
                        for (std::ptrdiff_t i = 0; i < p; ++i) {
                            t[j * p + i] = here[i];
                            gx[j * p + i] = (here[i + 1] - here[i - 1]) * 0.5f;
                            gy[j * p + i] = (below[i] - above[i]) * sy;
                        }
                        continue;
                    }
                    for (std::ptrdiff_t i = 0; i < p; ++i) {
                        const std::ptrdiff_t x = ox + i, xa = std::max<std::ptrdiff_t>(x - 1, 0), xb = std::min(x + 1, w - 1);
                        t[j * p + i] = i0.row(y)[x * i0.stride_x];
                        gx[j * p + i] = (i0.row(y)[xb * i0.stride_x] - i0.row(y)[xa * i0.stride_x]) * (xb - xa == 2 ? 0.5f : 1.0f);
                        gy[j * p + i] = (i0.row(yb)[x * i0.stride_x] - i0.row(ya)[x * i0.stride_x]) * sy;
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


// ---- variational refinement ----------------------------------------------------------------------
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

// Central difference along x (or y) with the index clamped at the border (a one-sided
// difference there); the halving is a multiplication, exact like the division it replaces.
inline float diff_x(const float* plane, std::ptrdiff_t w, std::ptrdiff_t y, std::ptrdiff_t x) noexcept {
    const std::ptrdiff_t a = x > 0 ? x - 1 : 0, b = x + 1 < w ? x + 1 : w - 1;
    return (plane[y * w + b] - plane[y * w + a]) * (b - a == 2 ? 0.5f : 1.0f);
}
inline float diff_y(const float* plane, std::ptrdiff_t w, std::ptrdiff_t h, std::ptrdiff_t y, std::ptrdiff_t x) noexcept {
    const std::ptrdiff_t a = y > 0 ? y - 1 : 0, b = y + 1 < h ? y + 1 : h - 1;
    return (plane[b * w + x] - plane[a * w + x]) * (b - a == 2 ? 0.5f : 1.0f);
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

// Red-black SOR over the pixels x0, x0 + 2, ... < x1 of an interior row (all four neighbours
// exist): the new (u, v) of a pixel solves its 2x2 system with the neighbours' current values,
// over-relaxed by omega. Pixels of one colour read only the other colour, so the loop has no
// dependences and vectorises.
inline void sor_row(std::ptrdiff_t x0, std::ptrdiff_t x1, float omega, float* __restrict u, float* __restrict v,
                    const float* __restrict u_up, const float* __restrict v_up, const float* __restrict u_down,
                    const float* __restrict v_down, const float* __restrict wh, const float* __restrict wv,
                    const float* __restrict wv_up, const float* __restrict a12, const float* __restrict c1,
                    const float* __restrict c2, const float* __restrict inv11, const float* __restrict inv22) noexcept {
    for (std::ptrdiff_t x = x0; x < x1; x += 2) {
        float su = 0.0f, sv = 0.0f;
        su += wh[x - 1] * u[x - 1];
        sv += wh[x - 1] * v[x - 1];
        su += wh[x] * u[x + 1];
        sv += wh[x] * v[x + 1];
        su += wv_up[x] * u_up[x];
        sv += wv_up[x] * v_up[x];
        su += wv[x] * u_down[x];
        sv += wv[x] * v_down[x];
        u[x] += omega * ((su - c1[x] - a12[x] * v[x]) * inv11[x] - u[x]);
        v[x] += omega * ((sv - c2[x] - a12[x] * u[x]) * inv22[x] - v[x]);
    }
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
        settings.radius < 1 || !(settings.epsilon > 0.0f))
        throw std::invalid_argument("refine_flow_level: bad refinement settings for this image size");
    constexpr float eps2 = 1e-6f;  // Charbonnier epsilon squared, as in detail::data_terms
    const detail::Workspace workspace(22, static_cast<std::size_t>(n));
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
    // derivatives: spatial ones averaged over both frames, temporal ones as differences
    rows([&](std::ptrdiff_t y) {
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            const std::ptrdiff_t k = y * w + x;
            const float ax = detail::diff_x(f0, w, y, x), ay = detail::diff_y(f0, w, h, y, x);
            const float bx = detail::diff_x(f1, w, y, x), by = detail::diff_y(f1, w, h, y, x);
            ix[k] = 0.5f * (ax + bx);
            iy[k] = 0.5f * (ay + by);
            it[k] = f1[k] - f0[k];
            ixt[k] = bx - ax;
            iyt[k] = by - ay;
        }
    });
    rows([&](std::ptrdiff_t y) {
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            const std::ptrdiff_t k = y * w + x;
            ixx[k] = detail::diff_x(ix, w, y, x);
            ixy[k] = detail::diff_y(ix, w, h, y, x);
            iyy[k] = detail::diff_y(iy, w, h, y, x);
        }
    });

    // The unknowns are the full flow (u, v) = base + increment. Per fixed-point iteration the
    // linearised data term of a pixel is  A (du, dv) + b  with A symmetric 2x2; written for the
    // full flow its constant part is  c = b - A base.
    float* const u = f0;  // the image copies are no longer needed: reuse them
    float* const v = f1;
    std::copy(base_u, base_u + n, u);
    std::copy(base_v, base_v + n, v);
    float* const smooth = workspace.plane(13);
    float* const a12 = workspace.plane(14);
    float* const c1 = workspace.plane(15);
    float* const c2 = workspace.plane(16);
    float* const inv11 = workspace.plane(17);
    float* const inv22 = workspace.plane(18);
    float* const wh = workspace.plane(19);
    float* const wv = workspace.plane(20);
    const float alpha = settings.alpha, gamma = settings.gamma, delta = settings.delta, omega = settings.omega;

    for (std::ptrdiff_t fp = 0; fp < settings.fixed_point; ++fp) {
        rows([=](std::ptrdiff_t y) {
            const std::ptrdiff_t k = y * w, next = y + 1 < h ? k + w : k;
            detail::smoothness_row(w, alpha, u + k, v + k, u + next, v + next, smooth + k);
        });
        // robust data weights at the current flow, the links to the right and lower neighbours,
        // and each pixel's system with its diagonal inverted once for all sweeps (A's diagonal
        // waits in inv11 and inv22)
        rows([=](std::ptrdiff_t y) {
            const std::ptrdiff_t k = y * w;
            detail::data_terms(w, delta, gamma, inside + k, u + k, v + k, base_u + k, base_v + k, ix + k, iy + k, it + k,
                               ixx + k, ixy + k, iyy + k, ixt + k, iyt + k, inv11 + k, a12 + k, inv22 + k, c1 + k, c2 + k);
            const float* up = y > 0 ? smooth + k - w : nullptr;
            const float* down = y + 1 < h ? smooth + k + w : nullptr;
            if (up && down)
                detail::links_row<true, true>(w, smooth + k, up, down, wh + k, wv + k, inv11 + k, inv22 + k);
            else if (up)
                detail::links_row<true, false>(w, smooth + k, up, down, wh + k, wv + k, inv11 + k, inv22 + k);
            else if (down)
                detail::links_row<false, true>(w, smooth + k, up, down, wh + k, wv + k, inv11 + k, inv22 + k);
            else
                detail::links_row<false, false>(w, smooth + k, up, down, wh + k, wv + k, inv11 + k, inv22 + k);
        });
        // border pixels take the general path, interior runs of a row the vectorised one
        auto sor_pixel = [=](std::ptrdiff_t y, std::ptrdiff_t x) {
            const std::ptrdiff_t k = y * w + x;
            float su = 0.0f, sv = 0.0f;
            if (x > 0) {
                su += wh[k - 1] * u[k - 1];
                sv += wh[k - 1] * v[k - 1];
            }
            if (x + 1 < w) {
                su += wh[k] * u[k + 1];
                sv += wh[k] * v[k + 1];
            }
            if (y > 0) {
                su += wv[k - w] * u[k - w];
                sv += wv[k - w] * v[k - w];
            }
            if (y + 1 < h) {
                su += wv[k] * u[k + w];
                sv += wv[k] * v[k + w];
            }
            u[k] += omega * ((su - c1[k] - a12[k] * v[k]) * inv11[k] - u[k]);
            v[k] += omega * ((sv - c2[k] - a12[k] * u[k]) * inv22[k] - v[k]);
        };
        for (std::ptrdiff_t sweep = 0; sweep < settings.sor; ++sweep)
            for (std::ptrdiff_t colour = 0; colour < 2; ++colour)
                rows([=](std::ptrdiff_t y) {
                    const std::ptrdiff_t first = (y + colour) & 1;
                    if (y == 0 || y + 1 == h || w < 3) {
                        for (std::ptrdiff_t x = first; x < w; x += 2) sor_pixel(y, x);
                        return;
                    }
                    if (first == 0) sor_pixel(y, 0);
                    const std::ptrdiff_t x0 = first == 0 ? 2 : 1;
                    const std::ptrdiff_t k = y * w;
                    detail::sor_row(x0, w - 1, omega, u + k, v + k, u + k - w, v + k - w, u + k + w, v + k + w, wh + k,
                                    wv + k, wv + k - w, a12 + k, c1 + k, c2 + k, inv11 + k, inv22 + k);
                    if ((w - 1 - first) % 2 == 0) sor_pixel(y, w - 1);
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

// ---- forward-backward consistency ---------------------------------------------------------------

// The forward-backward check (Sundaram, Brox & Keutzer 2010) of `forward` (A -> B) against
// `backward` (B -> A), as a ratio per pixel of A:
//   |f(x) + b(x + f(x))|^2 / max(alpha (|f(x)|^2 + |b(x + f(x))|^2) + beta, 1e-12)
// (below 1: consistent), with b sampled bilinearly (edge border); +inf where x + f(x) leaves the
// frame and, with `motion_boundaries`, where |grad f|^2 > 0.01 |f|^2 + 0.002 (gradients by
// central differences, one-sided at the border).
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
    const std::ptrdiff_t h = flow.height, w = flow.width;
    auto component = [&](std::ptrdiff_t yy, std::ptrdiff_t xx, std::ptrdiff_t c) {
        return flow.pixel(yy, xx)[c * flow.stride_c];
    };
    const std::ptrdiff_t ya = y > 0 ? y - 1 : 0, yb = y + 1 < h ? y + 1 : h - 1;
    const std::ptrdiff_t xa = x > 0 ? x - 1 : 0, xb = x + 1 < w ? x + 1 : w - 1;
    const float sx = xb - xa == 2 ? 0.5f : 1.0f, sy = yb - ya == 2 ? 0.5f : 1.0f;
    const float fu = component(y, x, 0), fv = component(y, x, 1);
    const float gxu = (component(y, xb, 0) - component(y, xa, 0)) * sx;
    const float gyu = (component(yb, x, 0) - component(ya, x, 0)) * sy;
    const float gxv = (component(y, xb, 1) - component(y, xa, 1)) * sx;
    const float gyv = (component(yb, x, 1) - component(ya, x, 1)) * sy;
    return gxu * gxu + gyu * gyu + gxv * gxv + gyv * gyv > 0.01f * (fu * fu + fv * fv) + 0.002f;
}

inline PlaneView<const float> flow_component(const ImageView<const float>& flow, std::ptrdiff_t c) noexcept {
    return {flow.data + c * flow.stride_c, flow.height, flow.width, flow.stride_y, flow.stride_x};
}

}  // namespace detail

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

// ---- pyramid helpers -----------------------------------------------------------------------------

// The estimator's input plane: Rec. 709 luma of the first three channels (or the only channel),
// in 0..1 for integer pixels.
template <class T>
void flow_luma(const ImageView<const T>& image, const PlaneView<float>& out, std::size_t workers = 1) {
    if (!out.same_size(image.height, image.width) || (image.channels != 1 && image.channels < 3))
        throw std::invalid_argument("flow_luma: out must match the image, which must have 1, 3 or 4 channels");
    const float scale = 1.0f / pixel_traits<T>::max_value;
    constexpr float weights[3] = {0.2126f, 0.7152f, 0.0722f};
    // 8-bit colour: the three weighted channel values from tables (the same products), which
    // costs a third of converting and multiplying every channel of every pixel
    const bool tables = std::is_same_v<T, std::uint8_t> && image.channels >= 3;
    std::vector<float> table(tables ? 3 * 256 : 0);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = weights[i / 256] * static_cast<float>(i % 256);
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            float* o = out.row(y);
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const T* p = image.pixel(y, x);
                float value;
                if (image.channels == 1) {
                    value = static_cast<float>(p[0]);
                } else if (tables) {
                    value = table[static_cast<std::size_t>(p[0])] + table[256 + static_cast<std::size_t>(p[image.stride_c])] +
                            table[512 + static_cast<std::size_t>(p[2 * image.stride_c])];
                } else {
                    value = weights[0] * static_cast<float>(p[0]) + weights[1] * static_cast<float>(p[image.stride_c]) +
                            weights[2] * static_cast<float>(p[2 * image.stride_c]);
                }
                o[x * out.stride_x] = value * scale;
            }
        }
    });
}

// 2x2 box average into a plane of half the size (an odd last row or column is dropped).
inline void halve_plane(const PlaneView<const float>& src, const PlaneView<float>& dst, std::size_t workers = 1) {
    if (!dst.same_size(src.height / 2, src.width / 2) || dst.height < 1 || dst.width < 1)
        throw std::invalid_argument("halve_plane: dst must be half the size of src");
    threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const float* a = src.row(2 * y);
            const float* b = src.row(2 * y + 1);
            float* o = dst.row(y);
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                const std::ptrdiff_t left = 2 * x * src.stride_x, right = (2 * x + 1) * src.stride_x;
                o[x * dst.stride_x] = (a[left] + b[left] + a[right] + b[right]) * 0.25f;
            }
        }
    });
}

// Bilinear resize of a flow field (pixel centres aligned, edge border), vectors scaled with the
// size.
inline void resize_flow(const ImageView<const float>& src, const ImageView<float>& dst, std::size_t workers = 1) {
    if (src.channels != 2 || dst.channels != 2 || src.height < 1 || src.width < 1)
        throw std::invalid_argument("resize_flow: flows must be (H, W, 2)");
    const float ratio_x = static_cast<float>(src.width) / static_cast<float>(dst.width);
    const float ratio_y = static_cast<float>(src.height) / static_cast<float>(dst.height);
    const float scale_u = static_cast<float>(dst.width) / static_cast<float>(src.width);
    const float scale_v = static_cast<float>(dst.height) / static_cast<float>(src.height);
    auto locate = [](std::ptrdiff_t i, float ratio, std::ptrdiff_t size, std::ptrdiff_t& i0, std::ptrdiff_t& i1,
                     float& t) {
        float c = (static_cast<float>(i) + 0.5f) * ratio - 0.5f;
        const float top = static_cast<float>(size - 1);
        c = c < 0.0f ? 0.0f : (c > top ? top : c);
        i0 = static_cast<std::ptrdiff_t>(c);
        i1 = std::min(i0 + 1, size - 1);
        t = c - static_cast<float>(i0);
    };
    std::vector<std::ptrdiff_t> x0(dst.width), x1(dst.width);
    std::vector<float> fx(dst.width);
    for (std::ptrdiff_t x = 0; x < dst.width; ++x) locate(x, ratio_x, src.width, x0[x], x1[x], fx[x]);
    // Rows of the source interpolated along x once each (upsampling reuses them for several
    // output rows), then blended along y by a loop that vectorises; the arithmetic is the
    // per-pixel bilinear formula's, x first.
    threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> rows_x[2] = {std::vector<float>(2 * dst.width), std::vector<float>(2 * dst.width)};
        std::ptrdiff_t held[2] = {-1, -1};
        auto along_x = [&](std::ptrdiff_t source_row) -> const float* {
            for (int slot = 0; slot < 2; ++slot)
                if (held[slot] == source_row) return rows_x[slot].data();
            // output rows go down, so the held row with the smaller index is no longer needed
            const int slot = held[0] < held[1] ? 0 : 1;
            float* out = rows_x[slot].data();
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                const float* a = src.pixel(source_row, x0[x]);
                const float* b = src.pixel(source_row, x1[x]);
                out[2 * x] = a[0] + fx[x] * (b[0] - a[0]);
                out[2 * x + 1] = a[src.stride_c] + fx[x] * (b[src.stride_c] - a[src.stride_c]);
            }
            held[slot] = source_row;
            return out;
        };
        std::vector<float> blended(2 * dst.width);
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            std::ptrdiff_t y0, y1;
            float fy;
            locate(y, ratio_y, src.height, y0, y1, fy);
            const float* __restrict top = along_x(y0);
            const float* __restrict bottom = along_x(y1);
            float* __restrict out = blended.data();
            for (std::ptrdiff_t q = 0; q < 2 * dst.width; ++q) out[q] = top[q] + fy * (bottom[q] - top[q]);
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                float* o = dst.pixel(y, x);
                o[0] = out[2 * x] * scale_u;
                o[dst.stride_c] = out[2 * x + 1] * scale_v;
            }
        }
    });
}

}  // namespace framefix
