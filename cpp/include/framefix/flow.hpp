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
#include <stdexcept>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"

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
                // a patch that wandered more than its own size found something else: keep its start
                if ((u - u0) * (u - u0) + (v - v0) * (v - v0) > static_cast<float>(p * p)) {
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
    std::vector<float> su(h * w, 0.0f), sv(h * w, 0.0f), sw(h * w, 0.0f), warped(n);
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

}  // namespace framefix
