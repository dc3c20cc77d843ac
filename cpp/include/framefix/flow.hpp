#pragma once
// One pyramid level of a Dense Inverse Search-class optical flow (Kroeger et al., ECCV 2016):
// square patches on a grid are aligned by inverse-compositional Gauss-Newton, each from the
// flow it is given, then the patch flows are blended into a dense field. Patches are compared
// after zero-mean, unit-variance normalisation, so a gain or offset change between the frames
// (exposure flicker) does not move the result. The Numba twin (python/framefix/_numba/flow.py)
// follows the same steps in the same order.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
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

// Bilinear sample of a plane with coordinates clamped to the image (edge border).
inline float sample_clamped(const PlaneView<const float>& image, float x, float y) noexcept {
    const float max_x = static_cast<float>(image.width - 1), max_y = static_cast<float>(image.height - 1);
    x = x < 0.0f ? 0.0f : (x > max_x ? max_x : x);
    y = y < 0.0f ? 0.0f : (y > max_y ? max_y : y);
    const auto x0 = static_cast<std::ptrdiff_t>(x), y0 = static_cast<std::ptrdiff_t>(y);
    const std::ptrdiff_t x1 = std::min(x0 + 1, image.width - 1), y1 = std::min(y0 + 1, image.height - 1);
    const float fx = x - static_cast<float>(x0), fy = y - static_cast<float>(y0);
    const float* r0 = image.row(y0);
    const float* r1 = image.row(y1);
    const float a = r0[x0 * image.stride_x], b = r0[x1 * image.stride_x];
    const float c = r1[x0 * image.stride_x], d = r1[x1 * image.stride_x];
    const float top = a + fx * (b - a), bottom = c + fx * (d - c);
    return top + fy * (bottom - top);
}

// The p x p patch of `image` at (ox + u, oy + v): every pixel shares the same fractional offset,
// so inside the image one set of bilinear weights serves the whole patch; near the border each
// pixel is sampled with clamping. Returns the patch mean.
inline float sample_patch(const PlaneView<const float>& image, std::ptrdiff_t ox, std::ptrdiff_t oy, float u, float v,
                          std::ptrdiff_t p, float* out) noexcept {
    const float bx = static_cast<float>(ox) + u, by = static_cast<float>(oy) + v;
    float sum = 0.0f;
    if (bx >= 0.0f && by >= 0.0f && bx + static_cast<float>(p) < static_cast<float>(image.width - 1) &&
        by + static_cast<float>(p) < static_cast<float>(image.height - 1)) {
        const auto x0 = static_cast<std::ptrdiff_t>(bx), y0 = static_cast<std::ptrdiff_t>(by);
        const float fx = bx - static_cast<float>(x0), fy = by - static_cast<float>(y0);
        for (std::ptrdiff_t j = 0; j < p; ++j) {
            const float* r0 = image.row(y0 + j) + x0 * image.stride_x;
            const float* r1 = image.row(y0 + j + 1) + x0 * image.stride_x;
            for (std::ptrdiff_t i = 0; i < p; ++i) {
                const float a = r0[i * image.stride_x], b = r0[(i + 1) * image.stride_x];
                const float c = r1[i * image.stride_x], d = r1[(i + 1) * image.stride_x];
                const float top = a + fx * (b - a), bottom = c + fx * (d - c);
                const float value = top + fy * (bottom - top);
                out[j * p + i] = value;
                sum += value;
            }
        }
    } else {
        for (std::ptrdiff_t j = 0; j < p; ++j)
            for (std::ptrdiff_t i = 0; i < p; ++i) {
                const float value = sample_clamped(image, bx + static_cast<float>(i), by + static_cast<float>(j));
                out[j * p + i] = value;
                sum += value;
            }
    }
    return sum / static_cast<float>(p * p);
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
    if (p < 2 || search.stride < 1 || search.iterations < 0 || h < p || w < p)
        throw std::invalid_argument("patch_flow_level: bad patch settings for this image size");
    const auto xs = detail::patch_origins(w, p, search.stride), ys = detail::patch_origins(h, p, search.stride);
    const std::ptrdiff_t nx = static_cast<std::ptrdiff_t>(xs.size()), ny = static_cast<std::ptrdiff_t>(ys.size());
    const std::ptrdiff_t n = p * p;
    const float half = static_cast<float>(p / 2);
    // per patch: flow, and the normalisation of both patches at the end (for the blend weights)
    std::vector<float> pu(nx * ny), pv(nx * ny), m0(nx * ny), s0(nx * ny), m1(nx * ny), s1(nx * ny);

    threading::parallel_for(0, ny, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> t(n), gx(n), gy(n), warped(n);
        for (std::ptrdiff_t r = r0; r < r1; ++r) {
            for (std::ptrdiff_t c = 0; c < nx; ++c) {
                const std::ptrdiff_t ox = xs[c], oy = ys[r], k = r * nx + c;
                // template, its gradients (central differences inside the image) and statistics
                float mean = 0.0f;
                for (std::ptrdiff_t j = 0; j < p; ++j) {
                    const std::ptrdiff_t y = oy + j, ya = std::max<std::ptrdiff_t>(y - 1, 0), yb = std::min(y + 1, h - 1);
                    for (std::ptrdiff_t i = 0; i < p; ++i) {
                        const std::ptrdiff_t x = ox + i, xa = std::max<std::ptrdiff_t>(x - 1, 0), xb = std::min(x + 1, w - 1);
                        const float v = i0.row(y)[x * i0.stride_x];
                        t[j * p + i] = v;
                        gx[j * p + i] = (i0.row(y)[xb * i0.stride_x] - i0.row(y)[xa * i0.stride_x]) / static_cast<float>(xb - xa);
                        gy[j * p + i] = (i0.row(yb)[x * i0.stride_x] - i0.row(ya)[x * i0.stride_x]) / static_cast<float>(yb - ya);
                        mean += v;
                    }
                }
                mean /= static_cast<float>(n);
                float var = 0.0f, mgx = 0.0f, mgy = 0.0f;
                for (std::ptrdiff_t q = 0; q < n; ++q) {
                    var += (t[q] - mean) * (t[q] - mean);
                    mgx += gx[q];
                    mgy += gy[q];
                }
                const float sd = std::sqrt(var / static_cast<float>(n)) + 1e-4f;
                mgx /= static_cast<float>(n);
                mgy /= static_cast<float>(n);
                float hxx = 1e-6f, hxy = 0.0f, hyy = 1e-6f;
                for (std::ptrdiff_t q = 0; q < n; ++q) {
                    t[q] = (t[q] - mean) / sd;
                    gx[q] = (gx[q] - mgx) / sd;
                    gy[q] = (gy[q] - mgy) / sd;
                    hxx += gx[q] * gx[q];
                    hxy += gx[q] * gy[q];
                    hyy += gy[q] * gy[q];
                }
                const float det = hxx * hyy - hxy * hxy;
                const float* f = flow.pixel(oy + p / 2, ox + p / 2);
                const float u0 = f[0], v0 = f[flow.stride_c];
                float u = u0, v = v0, wm = 0.0f, ws = 1.0f;
                for (std::ptrdiff_t it = 0; it <= search.iterations; ++it) {
                    wm = detail::sample_patch(i1, ox, oy, u, v, p, warped.data());
                    float wv = 0.0f;
                    for (std::ptrdiff_t q = 0; q < n; ++q) wv += (warped[q] - wm) * (warped[q] - wm);
                    ws = std::sqrt(wv / static_cast<float>(n)) + 1e-4f;
                    if (it == search.iterations || det <= 1e-6f) break;
                    float bx = 0.0f, by = 0.0f;
                    for (std::ptrdiff_t q = 0; q < n; ++q) {
                        const float d = (warped[q] - wm) / ws - t[q];
                        bx += gx[q] * d;
                        by += gy[q] * d;
                    }
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
    // flow explains that pixel (normalised difference), patches added in grid order
    const detail::Workspace workspace(3, static_cast<std::size_t>(h * w));
    float* su = workspace.plane(0);
    float* sv = workspace.plane(1);
    float* sw = workspace.plane(2);
    std::fill(su, su + h * w, 0.0f);
    std::fill(sv, sv + h * w, 0.0f);
    std::fill(sw, sw + h * w, 0.0f);
    std::vector<float> warped(n);
    for (std::ptrdiff_t r = 0; r < ny; ++r)
        for (std::ptrdiff_t c = 0; c < nx; ++c) {
            const std::ptrdiff_t k = r * nx + c, ox = xs[c], oy = ys[r];
            detail::sample_patch(i1, ox, oy, pu[k], pv[k], p, warped.data());
            for (std::ptrdiff_t j = 0; j < p; ++j)
                for (std::ptrdiff_t i = 0; i < p; ++i) {
                    const std::ptrdiff_t x = ox + i, y = oy + j;
                    const float a = (warped[j * p + i] - m1[k]) / s1[k];
                    const float b = (i0.row(y)[x * i0.stride_x] - m0[k]) / s0[k];
                    const float weight = 1.0f / std::max(std::fabs(a - b), 0.05f);
                    su[y * w + x] += weight * pu[k];
                    sv[y * w + x] += weight * pv[k];
                    sw[y * w + x] += weight;
                }
        }
    for (std::ptrdiff_t y = 0; y < h; ++y)
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            float* f = flow.pixel(y, x);
            f[0] = su[y * w + x] / sw[y * w + x];
            f[flow.stride_c] = sv[y * w + x] / sw[y * w + x];
        }
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
    std::ptrdiff_t radius = 4;      // window of the local normalisation: (2 radius + 1)^2 pixels
    float epsilon = 0.02f;          // added to the local standard deviation: flat areas stay flat
};

namespace detail {

// (p - local mean) / sqrt(local variance + epsilon^2) over a (2r+1)^2 window clamped at the
// border: the same for any gain and offset of the image, so the refinement's data terms do not
// see exposure flicker, even when it varies across the frame. Sums run in a fixed order
// (separable, left to right, top to bottom). row_sum and row_squares are scratch planes.
template <class Rows>
void normalise_locally(const PlaneView<const float>& image, std::ptrdiff_t radius, float epsilon, float* out,
                       float* row_sum, float* row_squares, Rows&& rows) {
    const std::ptrdiff_t h = image.height, w = image.width;
    rows([&](std::ptrdiff_t y) {
        const float* r = image.row(y);
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            float sum = 0.0f, squares = 0.0f;
            for (std::ptrdiff_t d = -radius; d <= radius; ++d) {
                const std::ptrdiff_t xx = std::min(std::max<std::ptrdiff_t>(x + d, 0), w - 1);
                const float value = r[xx * image.stride_x];
                sum += value;
                squares += value * value;
            }
            row_sum[y * w + x] = sum;
            row_squares[y * w + x] = squares;
        }
    });
    const float count = static_cast<float>((2 * radius + 1) * (2 * radius + 1));
    const float epsilon2 = epsilon * epsilon;
    rows([&](std::ptrdiff_t y) {
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            float sum = 0.0f, squares = 0.0f;
            for (std::ptrdiff_t d = -radius; d <= radius; ++d) {
                const std::ptrdiff_t yy = std::min(std::max<std::ptrdiff_t>(y + d, 0), h - 1);
                sum += row_sum[yy * w + x];
                squares += row_squares[yy * w + x];
            }
            const float mean = sum / count;
            const float variance = std::max(squares / count - mean * mean, 0.0f);
            out[y * w + x] = (image.row(y)[x * image.stride_x] - mean) / std::sqrt(variance + epsilon2);
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

}  // namespace detail

// Refines `flow` (H, W, 2, in place) between planes i0 and i1 (float32, same size, at least 2x2).
inline void refine_flow_level(const PlaneView<const float>& i0, const PlaneView<const float>& i1,
                              const ImageView<float>& flow, const Refinement& settings, std::size_t workers = 1) {
    const std::ptrdiff_t h = i0.height, w = i0.width, n = h * w;
    if (!i1.same_size(h, w) || !flow.same_size(h, w) || flow.channels != 2)
        throw std::invalid_argument("refine_flow_level: i0, i1 and flow must have the same height and width");
    if (h < 2 || w < 2 || !(settings.alpha > 0.0f) || !(settings.gamma >= 0.0f) || !(settings.delta >= 0.0f) ||
        settings.fixed_point < 0 || settings.sor < 0 || !(settings.omega > 0.0f && settings.omega < 2.0f) ||
        settings.radius < 0 || !(settings.epsilon > 0.0f))
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
    detail::normalise_locally(i0, settings.radius, settings.epsilon, f0, ix, iy, rows);
    detail::normalise_locally(i1, settings.radius, settings.epsilon, workspace.plane(21), ix, iy, rows);
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
        // per-pixel smoothness weight from the forward differences of the current flow (zero
        // past the last row and column)
        rows([=](std::ptrdiff_t y) {
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                const std::ptrdiff_t k = y * w + x;
                float ux = 0.0f, vx = 0.0f, uy = 0.0f, vy = 0.0f;
                if (x + 1 < w) {
                    ux = u[k + 1] - u[k];
                    vx = v[k + 1] - v[k];
                }
                if (y + 1 < h) {
                    uy = u[k + w] - u[k];
                    vy = v[k + w] - v[k];
                }
                smooth[k] = alpha / std::sqrt(ux * ux + uy * uy + vx * vx + vy * vy + eps2);
            }
        });
        // robust data weights at the current flow, the links to the right and lower neighbours,
        // and each pixel's system with its diagonal inverted once for all sweeps (A's diagonal
        // waits in inv11 and inv22)
        rows([=](std::ptrdiff_t y) {
            const std::ptrdiff_t k = y * w;
            detail::data_terms(w, delta, gamma, inside + k, u + k, v + k, base_u + k, base_v + k, ix + k, iy + k, it + k,
                               ixx + k, ixy + k, iyy + k, ixt + k, iyt + k, inv11 + k, a12 + k, inv22 + k, c1 + k, c2 + k);
        });
        rows([=](std::ptrdiff_t y) {
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                const std::ptrdiff_t k = y * w + x;
                wh[k] = x + 1 < w ? 0.5f * (smooth[k] + smooth[k + 1]) : 0.0f;
                wv[k] = y + 1 < h ? 0.5f * (smooth[k] + smooth[k + w]) : 0.0f;
                float sw = wh[k] + wv[k];
                if (x > 0) sw += 0.5f * (smooth[k - 1] + smooth[k]);
                if (y > 0) sw += 0.5f * (smooth[k - w] + smooth[k]);
                inv11[k] = 1.0f / (inv11[k] + sw);
                inv22[k] = 1.0f / (inv22[k] + sw);
            }
        });
        for (std::ptrdiff_t sweep = 0; sweep < settings.sor; ++sweep)
            for (std::ptrdiff_t colour = 0; colour < 2; ++colour)
                rows([=](std::ptrdiff_t y) {
                    for (std::ptrdiff_t x = (y + colour) & 1; x < w; x += 2) {
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
                    }
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

// ---- pyramid helpers -----------------------------------------------------------------------------

// The estimator's input plane: Rec. 709 luma of the first three channels (or the only channel),
// in 0..1 for integer pixels.
template <class T>
void flow_luma(const ImageView<const T>& image, const PlaneView<float>& out, std::size_t workers = 1) {
    if (!out.same_size(image.height, image.width) || (image.channels != 1 && image.channels < 3))
        throw std::invalid_argument("flow_luma: out must match the image, which must have 1, 3 or 4 channels");
    const float scale = 1.0f / pixel_traits<T>::max_value;
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            float* o = out.row(y);
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const T* p = image.pixel(y, x);
                float value;
                if (image.channels == 1) {
                    value = static_cast<float>(p[0]);
                } else {
                    value = 0.2126f * static_cast<float>(p[0]) + 0.7152f * static_cast<float>(p[image.stride_c]) +
                            0.0722f * static_cast<float>(p[2 * image.stride_c]);
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
    threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            std::ptrdiff_t y0, y1;
            float fy;
            locate(y, ratio_y, src.height, y0, y1, fy);
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                const float* a = src.pixel(y0, x0[x]);
                const float* b = src.pixel(y0, x1[x]);
                const float* c = src.pixel(y1, x0[x]);
                const float* d = src.pixel(y1, x1[x]);
                float* o = dst.pixel(y, x);
                for (std::ptrdiff_t ch = 0; ch < 2; ++ch) {
                    const std::ptrdiff_t k = ch * src.stride_c;
                    const float top = a[k] + fx[x] * (b[k] - a[k]), bottom = c[k] + fx[x] * (d[k] - c[k]);
                    o[ch * dst.stride_c] = (top + fy * (bottom - top)) * (ch == 0 ? scale_u : scale_v);
                }
            }
        }
    });
}

}  // namespace framefix
