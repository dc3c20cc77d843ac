#pragma once
// The few SSE2 operations the kernels use to work on all channels of a pixel at once. SSE2 is
// part of every x86-64 CPU, so this needs no runtime dispatch; elsewhere the scalar code runs.
// Lane arithmetic is IEEE float32 exactly like the scalar code, so both give identical results.

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define FRAMEFIX_HAVE_SSE2 1
#include <emmintrin.h>

#include <cstdint>
#include <cstring>

namespace framefix::simd {

// Four consecutive elements as floats (reads all four: callers make sure the fourth exists).
inline __m128 load4(const float* p) noexcept { return _mm_loadu_ps(p); }

inline __m128 load4(const std::uint8_t* p) noexcept {
    std::int32_t bytes;
    std::memcpy(&bytes, p, 4);
    const __m128i zero = _mm_setzero_si128();
    const __m128i words = _mm_unpacklo_epi8(_mm_cvtsi32_si128(bytes), zero);
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(words, zero));
}

// Two horizontally adjacent taps of a packed pixel row (pixel stride = channels = 3 or 4) with
// one 8-byte read: `left` gets the pixel at p, `right` the next one (lane 3 is don't-care for
// 3 channels). Reads 8 bytes: callers make sure they exist.
template <int channels>
inline void load_pair(const std::uint8_t* p, __m128& left, __m128& right) noexcept {
    const __m128i zero = _mm_setzero_si128();
    const __m128i words = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), zero);
    left = _mm_cvtepi32_ps(_mm_unpacklo_epi16(words, zero));
    right = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_srli_si128(words, 2 * channels), zero));
}

inline __m128 load4(const std::uint16_t* p) noexcept {
    const __m128i words = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(words, _mm_setzero_si128()));
}

// The first `count` lanes to consecutive elements, converted as pixel_traits<T>::from_work does:
// saturate, then round to nearest even (cvtps2dq under the default rounding mode).
template <int count>
inline void store(float* o, __m128 v) noexcept {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, v);
    std::memcpy(o, lanes, count * sizeof(float));
}

template <int count>
inline void store(std::uint8_t* o, __m128 v) noexcept {
    v = _mm_min_ps(_mm_max_ps(v, _mm_setzero_ps()), _mm_set1_ps(255.0f));
    __m128i i = _mm_cvtps_epi32(v);
    i = _mm_packs_epi32(i, i);
    i = _mm_packus_epi16(i, i);
    const auto bytes = static_cast<std::uint32_t>(_mm_cvtsi128_si32(i));
    if constexpr (count == 4) {
        std::memcpy(o, &bytes, 4);
    } else {
        static_assert(count == 3, "1 channel never takes the SIMD path");
        // straight from the register: a 3-byte memcpy goes through the stack and stalls
        const auto low = static_cast<std::uint16_t>(bytes);
        std::memcpy(o, &low, 2);
        o[2] = static_cast<std::uint8_t>(bytes >> 16);
    }
}

template <int count>
inline void store(std::uint16_t* o, __m128 v) noexcept {
    v = _mm_min_ps(_mm_max_ps(v, _mm_setzero_ps()), _mm_set1_ps(65535.0f));
    alignas(16) std::int32_t lanes[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), _mm_cvtps_epi32(v));
    for (int c = 0; c < count; ++c) o[c] = static_cast<std::uint16_t>(lanes[c]);
}

inline __m128 lerp(__m128 a, __m128 b, __m128 t) noexcept {
    return _mm_add_ps(a, _mm_mul_ps(t, _mm_sub_ps(b, a)));
}

}  // namespace framefix::simd
#endif
