#pragma once
// Color kernels: per-channel histograms, lookup tables, 3x3 affine maps and sRGB <-> CIELAB.
// As everywhere, float32 arithmetic in the order written (the Numba twin in
// python/framefix/_numba/color.py does the same), integers rounded to nearest and saturated.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"
#include "simd.hpp"

namespace framefix {

// counts[c * bins + v] = number of pixels (where mask is nonzero, if given) whose channel c is v.
// bins must exceed the largest value present (256 for uint8, 65536 for uint16).
template <class T>
void channel_histograms(const ImageView<const T>& image, const PlaneView<const std::uint8_t>* mask,
                        std::int64_t* counts, std::ptrdiff_t bins, std::size_t workers = 1) {
    static_assert(pixel_traits<T>::is_integer, "histograms are for integer pixels");
    if (bins <= static_cast<std::ptrdiff_t>(pixel_traits<T>::max_value))
        throw std::invalid_argument("channel_histograms: bins must cover every value of the pixel type");
    if (mask && !mask->same_size(image.height, image.width))
        throw std::invalid_argument("channel_histograms: mask must have the image's height and width");
    const std::ptrdiff_t channels = image.channels;
    std::fill(counts, counts + channels * bins, std::int64_t{0});
    std::mutex merge;
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        // 64-bit partial counts per chunk (a chunk may hold more than 2^32 pixels of one value)
        std::vector<std::uint64_t> local(static_cast<std::size_t>(channels * bins), 0);
        std::uint64_t* h = local.data();
        const bool packed = image.stride_c == 1 && image.stride_x == channels;
        std::vector<std::uint64_t> spare(sizeof(T) == 1 && packed && !mask && channels == 3 ? 3 * bins : 0, 0);
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            const std::uint8_t* mask_row = mask ? mask->row(y) : nullptr;
            const T* row = image.data + y * image.stride_y;
            if (packed && mask_row == nullptr && channels == 3) {  // the common case, kept tight
                std::uint64_t* h1 = h + bins;
                std::uint64_t* h2 = h + 2 * bins;
                std::ptrdiff_t x = 0;
                if (spare.size()) {
                    // neighbours often share a value: alternate pixels count into a second set
                    // of tables so consecutive increments do not wait on one another
                    std::uint64_t* g0 = spare.data();
                    std::uint64_t* g1 = g0 + bins;
                    std::uint64_t* g2 = g0 + 2 * bins;
                    for (; x + 6 <= 3 * image.width; x += 6) {
                        ++h[row[x]];
                        ++h1[row[x + 1]];
                        ++h2[row[x + 2]];
                        ++g0[row[x + 3]];
                        ++g1[row[x + 4]];
                        ++g2[row[x + 5]];
                    }
                }
                for (; x < 3 * image.width; x += 3) {
                    ++h[row[x]];
                    ++h1[row[x + 1]];
                    ++h2[row[x + 2]];
                }
                continue;
            }
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                if (mask_row && !mask_row[x * mask->stride_x]) continue;
                const T* p = row + x * image.stride_x;
                for (std::ptrdiff_t c = 0; c < channels; ++c) ++h[c * bins + p[c * image.stride_c]];
            }
        }
        std::lock_guard<std::mutex> lock(merge);
        for (std::size_t i = 0; i < local.size(); ++i) counts[i] += static_cast<std::int64_t>(local[i]);
        for (std::size_t i = 0; i < spare.size(); ++i) counts[i] += static_cast<std::int64_t>(spare[i]);
    }, 16);
}

// First and second moments of 3-channel pixels (where mask is nonzero): count, sums[c] and
// products[3 * c + k] = sum of p_c * p_k, in code values. Integer pixels sum exactly in int64;
// float pixels in double, over fixed stripes of rows added in order, so the result does not
// depend on the number of workers (and matches the Numba twin bit for bit).
template <class T>
void channel_moments(const ImageView<const T>& image, const PlaneView<const std::uint8_t>* mask, double* count,
                     double sums[3], double products[9], std::size_t workers = 1) {
    if (image.channels != 3) throw std::invalid_argument("channel_moments: image must have 3 channels");
    if (mask && !mask->same_size(image.height, image.width))
        throw std::invalid_argument("channel_moments: mask must have the image's height and width");
    using Acc = std::conditional_t<pixel_traits<T>::is_integer, std::int64_t, double>;
    constexpr std::ptrdiff_t kStripes = 64;
    const std::ptrdiff_t stripes = std::min<std::ptrdiff_t>(kStripes, image.height);
    struct Partial {
        std::int64_t n = 0;
        Acc s[3] = {0, 0, 0};
        Acc p[6] = {0, 0, 0, 0, 0, 0};  // rr rg rb gg gb bb
    };
    std::vector<Partial> partial(static_cast<std::size_t>(stripes));
    threading::parallel_for(0, stripes, workers, [&](std::ptrdiff_t s0, std::ptrdiff_t s1) {
        for (std::ptrdiff_t stripe = s0; stripe < s1; ++stripe) {
            Partial acc;
            const std::ptrdiff_t y_end = image.height * (stripe + 1) / stripes;
            for (std::ptrdiff_t y = image.height * stripe / stripes; y < y_end; ++y) {
                const std::uint8_t* mask_row = mask ? mask->row(y) : nullptr;
                for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                    if (mask_row && !mask_row[x * mask->stride_x]) continue;
                    const T* q = image.pixel(y, x);
                    const Acc r = static_cast<Acc>(q[0]), g = static_cast<Acc>(q[image.stride_c]),
                              b = static_cast<Acc>(q[2 * image.stride_c]);
                    ++acc.n;
                    acc.s[0] += r;
                    acc.s[1] += g;
                    acc.s[2] += b;
                    acc.p[0] += r * r;
                    acc.p[1] += r * g;
                    acc.p[2] += r * b;
                    acc.p[3] += g * g;
                    acc.p[4] += g * b;
                    acc.p[5] += b * b;
                }
            }
            partial[static_cast<std::size_t>(stripe)] = acc;
        }
    });
    Partial total;
    for (const Partial& part : partial) {
        total.n += part.n;
        for (int i = 0; i < 3; ++i) total.s[i] += part.s[i];
        for (int i = 0; i < 6; ++i) total.p[i] += part.p[i];
    }
    *count = static_cast<double>(total.n);
    for (int i = 0; i < 3; ++i) sums[i] = static_cast<double>(total.s[i]);
    const int index[9] = {0, 1, 2, 1, 3, 4, 2, 4, 5};
    for (int i = 0; i < 9; ++i) products[i] = static_cast<double>(total.p[index[i]]);
}

// out[y, x, c] = lut[c * bins + image[y, x, c]].
template <class T>
void apply_lut(const ImageView<const T>& image, const T* lut, std::ptrdiff_t bins, const ImageView<T>& out,
               std::size_t workers = 1) {
    static_assert(pixel_traits<T>::is_integer, "lookup tables are for integer pixels");
    if (bins <= static_cast<std::ptrdiff_t>(pixel_traits<T>::max_value))
        throw std::invalid_argument("apply_lut: the table must cover every value of the pixel type");
    if (!out.same_size(image.height, image.width) || out.channels != image.channels)
        throw std::invalid_argument("apply_lut: out must have the image's shape");
    const bool packed = image.stride_c == 1 && image.stride_x == image.channels && out.stride_c == 1 &&
                        out.stride_x == image.channels;
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            const T* row = image.data + y * image.stride_y;
            T* out_row = out.data + y * out.stride_y;
            if (packed && image.channels == 3) {  // the common case, kept tight
                const T* l0 = lut;
                const T* l1 = lut + bins;
                const T* l2 = lut + 2 * bins;
                for (std::ptrdiff_t x = 0; x < 3 * image.width; x += 3) {
                    out_row[x] = l0[row[x]];
                    out_row[x + 1] = l1[row[x + 1]];
                    out_row[x + 2] = l2[row[x + 2]];
                }
                continue;
            }
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const T* p = row + x * image.stride_x;
                T* o = out_row + x * out.stride_x;
                for (std::ptrdiff_t c = 0; c < image.channels; ++c)
                    o[c * out.stride_c] = lut[c * bins + p[c * image.stride_c]];
            }
        }
    });
}

// out = matrix @ pixel + offset for 3-channel pixels, in the code values of In and Out
// (callers fold any scaling between them into matrix and offset).
template <class In, class Out>
void apply_affine3(const ImageView<const In>& image, const float matrix[9], const float offset[3],
                   const ImageView<Out>& out, std::size_t workers = 1) {
    if (image.channels != 3 || out.channels != 3)
        throw std::invalid_argument("apply_affine3: image and out must have 3 channels");
    if (!out.same_size(image.height, image.width))
        throw std::invalid_argument("apply_affine3: out must have the image's shape");
    const float m[9] = {matrix[0], matrix[1], matrix[2], matrix[3], matrix[4], matrix[5], matrix[6], matrix[7], matrix[8]};
    const float b[3] = {offset[0], offset[1], offset[2]};
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        const std::ptrdiff_t isx = image.stride_x, isc = image.stride_c, osx = out.stride_x, osc = out.stride_c;
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            const In* p = image.data + y * image.stride_y;
            Out* o = out.data + y * out.stride_y;
            std::ptrdiff_t x = 0;
#ifdef FRAMEFIX_HAVE_SSE2
            if (osc == 1) {
                // the three output channels of a pixel in SIMD lanes: lane c computes
                // ((m[c][0] r + m[c][1] g) + m[c][2] b) + b[c], the scalar code's order
                const __m128 c0 = _mm_setr_ps(m[0], m[3], m[6], 0.0f), c1 = _mm_setr_ps(m[1], m[4], m[7], 0.0f);
                const __m128 c2 = _mm_setr_ps(m[2], m[5], m[8], 0.0f), bias = _mm_setr_ps(b[0], b[1], b[2], 0.0f);
                for (; x < image.width; ++x, p += isx, o += osx) {
                    const __m128 r = _mm_set1_ps(static_cast<float>(p[0]));
                    const __m128 g = _mm_set1_ps(static_cast<float>(p[isc]));
                    const __m128 bl = _mm_set1_ps(static_cast<float>(p[2 * isc]));
                    const __m128 v = _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_mul_ps(c0, r), _mm_mul_ps(c1, g)), _mm_mul_ps(c2, bl)), bias);
                    simd::store<3>(o, v);
                }
            }
#endif
            for (; x < image.width; ++x, p += isx, o += osx) {
                const float r = static_cast<float>(p[0]), g = static_cast<float>(p[isc]), bl = static_cast<float>(p[2 * isc]);
                const float v0 = m[0] * r + m[1] * g + m[2] * bl + b[0];
                const float v1 = m[3] * r + m[4] * g + m[5] * bl + b[1];
                const float v2 = m[6] * r + m[7] * g + m[8] * bl + b[2];
                o[0] = pixel_traits<Out>::from_work(v0);
                o[osc] = pixel_traits<Out>::from_work(v1);
                o[2 * osc] = pixel_traits<Out>::from_work(v2);
            }
        }
    });
}

namespace detail {

// sRGB (IEC 61966-2-1) and CIELAB with the D65 white point, in float32.
inline float srgb_to_linear(float v) noexcept {
    return v <= 0.04045f ? v / 12.92f : std::pow((v + 0.055f) / 1.055f, 2.4f);
}
inline float linear_to_srgb(float v) noexcept {
    return v <= 0.0031308f ? 12.92f * v : 1.055f * std::pow(v, 1.0f / 2.4f) - 0.055f;
}
constexpr float kLabEpsilon = 216.0f / 24389.0f;  // (6/29)^3
constexpr float kLabKappa = 24389.0f / 27.0f;     // (29/3)^3
// cbrt in double, rounded once: cbrtf implementations differ in the last bit, the rounded
// double result does not (the Numba twin computes it the same way).
inline float lab_f(float t) noexcept {
    return t > kLabEpsilon ? static_cast<float>(std::cbrt(static_cast<double>(t))) : (kLabKappa * t + 16.0f) / 116.0f;
}
inline float lab_f_inverse(float f) noexcept {
    const float cube = f * f * f;
    return cube > kLabEpsilon ? cube : (116.0f * f - 16.0f) / kLabKappa;
}
constexpr float kWhiteX = 0.95047f, kWhiteZ = 1.08883f;

}  // namespace detail

// CIELAB (L in 0..100) of sRGB pixels whose nominal range is 0..pixel_traits<T>::max_value
// (0..1 for float32). Values outside the nominal range are extrapolated, not clipped.
template <class T>
void srgb_to_lab(const ImageView<const T>& image, const ImageView<float>& lab, std::size_t workers = 1) {
    if (image.channels != 3 || lab.channels != 3 || !lab.same_size(image.height, image.width))
        throw std::invalid_argument("srgb_to_lab: image and lab must be (H, W, 3) of the same size");
    // Integer pixels: decode each code value once (the same float32 operations, so identical).
    std::vector<float> table;
    if constexpr (pixel_traits<T>::is_integer) {
        table.resize(static_cast<std::size_t>(pixel_traits<T>::max_value) + 1);
        for (std::size_t v = 0; v < table.size(); ++v)
            table[v] = detail::srgb_to_linear(static_cast<float>(v) / pixel_traits<T>::max_value);
    }
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const T* p = image.pixel(y, x);
                float rgb[3];
                for (int c = 0; c < 3; ++c) {
                    if constexpr (pixel_traits<T>::is_integer) rgb[c] = table[p[c * image.stride_c]];
                    else rgb[c] = detail::srgb_to_linear(p[c * image.stride_c]);
                }
                const float fx = detail::lab_f((0.4124564f * rgb[0] + 0.3575761f * rgb[1] + 0.1804375f * rgb[2]) / detail::kWhiteX);
                const float fy = detail::lab_f(0.2126729f * rgb[0] + 0.7151522f * rgb[1] + 0.0721750f * rgb[2]);
                const float fz = detail::lab_f((0.0193339f * rgb[0] + 0.1191920f * rgb[1] + 0.9503041f * rgb[2]) / detail::kWhiteZ);
                float* o = lab.pixel(y, x);
                o[0] = 116.0f * fy - 16.0f;
                o[lab.stride_c] = 500.0f * (fx - fy);
                o[2 * lab.stride_c] = 200.0f * (fy - fz);
            }
        }
    });
}

// The inverse: sRGB pixels of type T (rounded and saturated for integers) from CIELAB.
template <class T>
void lab_to_srgb(const ImageView<const float>& lab, const ImageView<T>& image, std::size_t workers = 1) {
    if (image.channels != 3 || lab.channels != 3 || !lab.same_size(image.height, image.width))
        throw std::invalid_argument("lab_to_srgb: lab and image must be (H, W, 3) of the same size");
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const float* p = lab.pixel(y, x);
                const float fy = (p[0] + 16.0f) / 116.0f;
                const float fx = fy + p[lab.stride_c] / 500.0f;
                const float fz = fy - p[2 * lab.stride_c] / 200.0f;
                const float X = detail::kWhiteX * detail::lab_f_inverse(fx);
                const float Y = detail::lab_f_inverse(fy);
                const float Z = detail::kWhiteZ * detail::lab_f_inverse(fz);
                const float linear[3] = {
                    3.2404542f * X - 1.5371385f * Y - 0.4985314f * Z,
                    -0.9692660f * X + 1.8760108f * Y + 0.0415560f * Z,
                    0.0556434f * X - 0.2040259f * Y + 1.0572252f * Z,
                };
                T* o = image.pixel(y, x);
                for (int c = 0; c < 3; ++c) {
                    // negative linear light has no sRGB encoding: clamp it to black first
                    const float encoded = detail::linear_to_srgb(std::max(linear[c], 0.0f));
                    o[c * image.stride_c] = pixel_traits<T>::from_work(encoded * pixel_traits<T>::max_value);
                }
            }
        }
    });
}


// --- float32 histogram matching -------------------------------------------------------------------

namespace detail {

// float32 -> uint32 whose unsigned order is the float order (-0.0 folded onto +0.0: equal values
// must share a key). NaN is excluded by the callers.
inline std::uint32_t float_key(float v) noexcept {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (bits == 0x80000000u) bits = 0;
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

inline float key_float(std::uint32_t key) noexcept {
    const std::uint32_t bits = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}

// Least-significant-digit radix sort of 64-bit items by their high 32 bits (the key; the low
// half rides along), 4 passes of 8 bits, using `scratch` (as many items). Passes whose digit is
// the same for every key are skipped (float keys of a 0..1 image share their top byte).
inline void radix_sort_by_key(std::uint64_t* items, std::uint64_t* scratch, std::size_t n) {
    constexpr int kPasses = 4;
    std::size_t counts[kPasses][256] = {};
    for (std::size_t i = 0; i < n; ++i) {
        const auto key = static_cast<std::uint32_t>(items[i] >> 32);
        for (int p = 0; p < kPasses; ++p) ++counts[p][(key >> (8 * p)) & 0xFF];
    }
    std::uint64_t* from = items;
    std::uint64_t* to = scratch;
    for (int p = 0; p < kPasses; ++p) {
        std::size_t total = 0;
        bool single = false;
        for (std::size_t& c : counts[p]) {
            single |= c == n;
            const std::size_t here = c;
            c = total;
            total += here;
        }
        if (single) continue;
        const int shift = 32 + 8 * p;
        for (std::size_t i = 0; i < n; ++i) to[counts[p][(from[i] >> shift) & 0xFF]++] = from[i];
        std::swap(from, to);
    }
    if (from != items) std::memcpy(items, from, n * sizeof(std::uint64_t));
}

// np.interp(x, xp, fp) for x no smaller than at the previous call (xp strictly increasing): the
// segment pointer only moves forward. Same formula as NumPy: slope * (x - xp[j]) + fp[j].
struct ForwardInterp {
    const double* xp;
    const double* fp;
    std::ptrdiff_t n;
    std::ptrdiff_t j = 0;
    double operator()(double x) {
        if (x <= xp[0]) return fp[0];
        if (x >= xp[n - 1]) return fp[n - 1];
        while (xp[j + 1] <= x) ++j;
        const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
        return slope * (x - xp[j]) + fp[j];
    }
};

}  // namespace detail

// The selected values (mask nonzero, or all) of one channel of a float32 image, sorted.
inline void sorted_channel_values(const ImageView<const float>& image, std::ptrdiff_t channel,
                                  const PlaneView<const std::uint8_t>* mask, std::vector<float>& out) {
    const std::size_t capacity = static_cast<std::size_t>(image.height * image.width);
    std::unique_ptr<std::uint64_t[]> items(new std::uint64_t[capacity]), scratch(new std::uint64_t[capacity]);
    std::size_t n = 0;
    for (std::ptrdiff_t y = 0; y < image.height; ++y) {
        const std::uint8_t* mask_row = mask ? mask->row(y) : nullptr;
        const float* row = image.data + y * image.stride_y + channel * image.stride_c;
        for (std::ptrdiff_t x = 0; x < image.width; ++x)
            if (!mask_row || mask_row[x * mask->stride_x])
                items[n++] = std::uint64_t{detail::float_key(row[x * image.stride_x])} << 32;
    }
    detail::radix_sort_by_key(items.get(), scratch.get(), n);
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = detail::key_float(static_cast<std::uint32_t>(items[i] >> 32));
}

// Histogram matching of a float32 image, channel by channel, exactly as
//   q = (number of selected values <= x) / selected;  m = np.interp(q, ref_quantiles[c], ref_values[c])
//   out = float32((1 - strength) * x + strength * m)      (in double)
// with one radix sort per channel instead of a binary search per pixel. out: C-contiguous (H, W, C).
inline void match_float_channels(const ImageView<const float>& image, const PlaneView<const std::uint8_t>* mask,
                                 const std::vector<const double*>& ref_quantiles,
                                 const std::vector<const double*>& ref_values,
                                 const std::vector<std::ptrdiff_t>& ref_counts, double strength, float* out) {
    const std::size_t n = static_cast<std::size_t>(image.height * image.width);
    const std::ptrdiff_t channels = image.channels;
    if (n >= (std::size_t{1} << 31)) throw std::invalid_argument("match_float_channels: image too large");
    if (static_cast<std::ptrdiff_t>(ref_counts.size()) != channels)
        throw std::invalid_argument("match_float_channels: one reference curve per channel needed");
    constexpr std::uint64_t kSelected = std::uint64_t{1} << 31;
    std::unique_ptr<std::uint64_t[]> items(new std::uint64_t[n]), scratch(new std::uint64_t[n]);
    for (std::ptrdiff_t c = 0; c < channels; ++c) {
        if (ref_counts[c] < 1) throw std::invalid_argument("match_float_channels: empty reference");
        std::size_t selected = 0, i = 0;
        for (std::ptrdiff_t y = 0; y < image.height; ++y) {
            const std::uint8_t* mask_row = mask ? mask->row(y) : nullptr;
            const float* row = image.data + y * image.stride_y + c * image.stride_c;
            for (std::ptrdiff_t x = 0; x < image.width; ++x, ++i) {
                const bool chosen = !mask_row || mask_row[x * mask->stride_x];
                items[i] = (std::uint64_t{detail::float_key(row[x * image.stride_x])} << 32) | i | (chosen ? kSelected : 0);
                selected += chosen;
            }
        }
        if (selected == 0) throw std::invalid_argument("match_float_channels: no pixel selected");
        detail::radix_sort_by_key(items.get(), scratch.get(), n);
        detail::ForwardInterp interp{ref_quantiles[c], ref_values[c], ref_counts[c]};
        std::size_t cumulative = 0;
        for (i = 0; i < n;) {
            const std::uint64_t key = items[i] >> 32;
            std::size_t j = i;
            for (; j < n && (items[j] >> 32) == key; ++j) cumulative += (items[j] & kSelected) ? 1 : 0;
            const double x = static_cast<double>(detail::key_float(static_cast<std::uint32_t>(key)));
            const double mapped = interp(static_cast<double>(cumulative) / static_cast<double>(selected));
            const float value = static_cast<float>((1.0 - strength) * x + strength * mapped);
            for (; i < j; ++i) out[(items[i] & (kSelected - 1)) * channels + c] = value;
        }
    }
}

}  // namespace framefix
