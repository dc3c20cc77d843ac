# framefix's kernels as C functions for other compiled code, in the manner of
# scipy.linalg.cython_blas: `from framefix.cython_kernels cimport warp_u8` in Cython (no linking:
# the functions are found through the module's __pyx_capi__ when it is imported), or
# numba.extending.get_cython_function_address("framefix.cython_kernels", "warp_u8") in Numba.
# Each function is the kernel of the same name (README, layout table) for one pixel type
# (_u8: uint8, _u16: uint16, _f32: float32), with the semantics of the Python function that uses it.
#
# Conventions of every function:
#   - noexcept nogil: call them without the GIL, from any thread; they never raise;
#   - images are (height, width, channels) with channels 1..4; planes (height, width); flows
#     (height, width, 2) float32 (dx, dy); every array is a data pointer and strides counted in
#     ELEMENTS, not bytes (numpy's strides divided by the itemsize), negative allowed;
#   - an output has the shape its description gives, of the input's pixel type unless stated;
#     nothing is allocated for the caller;
#   - workers: threads to use (1: the calling thread only; below 1: every core); the result does
#     not depend on it;
#   - the return value is a status: FRAMEFIX_OK (0) when the output was written, else one of the
#     codes below, and the outputs' contents are then unspecified.

from libc.stdint cimport int64_t, uint8_t, uint16_t

cpdef enum Status:
    FRAMEFIX_OK = 0
    FRAMEFIX_NULL_POINTER = 1  # a required pointer is NULL
    FRAMEFIX_BAD_SIZE = 2      # a size is below 1, or a table has fewer bins than the pixel type's values
    FRAMEFIX_BAD_ARGUMENT = 3  # the kernel refused an argument: a code out of range, sizes that disagree, ...
    FRAMEFIX_NO_MEMORY = 4
    FRAMEFIX_FAILED = 5        # anything else: a bug, please report it

# --- warp: out[y, x] = image[y + dy, x + dx] (framefix.warp) -----------------------------------
# image (height, width, channels); flow (out_height, out_width, 2); out (out_height, out_width,
# channels); mask NULL, or an (out_height, out_width) uint8 plane set to 1 where the sample point
# lies inside the image, else 0; interpolation 0 nearest, 1 linear, 2 cubic; border 0 constant
# (cval, in code values), 1 edge, 2 reflect, 3 symmetric, 4 wrap (framefix.warp.INTERPOLATIONS
# and BORDERS in order).
cdef int warp_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                 Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                 const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                 uint8_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                 Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                 uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                 int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil
cdef int warp_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                  uint16_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil
cdef int warp_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                  float* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil

# --- remap: out[y, x] = image[map_y[y, x], map_x[y, x]] (framefix.remap) ------------------------
# map_x, map_y (out_height, out_width) float32 absolute sample points; the rest as for warp.
cdef int remap_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                  const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                  uint8_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil
cdef int remap_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                   Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                   const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                   const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                   uint16_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                   Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                   uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                   int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil
cdef int remap_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                   Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                   const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                   const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                   float* out, Py_ssize_t out_height, Py_ssize_t out_width,
                   Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                   uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                   int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil

# --- channel_histograms: counts[c * bins + v] = pixels whose channel c is v ---------------------
# (histogram matching: framefix.match_histograms builds its tables from these.) mask NULL or an
# (height, width) uint8 plane, nonzero where counted; counts int64, channels * bins of them,
# C-contiguous, overwritten; bins at least 256 (uint8) or 65536 (uint16).
cdef int channel_histograms_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                               int64_t* counts, Py_ssize_t bins, Py_ssize_t workers) noexcept nogil
cdef int channel_histograms_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                                Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                                const uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                                int64_t* counts, Py_ssize_t bins, Py_ssize_t workers) noexcept nogil

# --- apply_lut: out[y, x, c] = lut[c * bins + image[y, x, c]] -----------------------------------
# lut (channels, bins) C-contiguous of the pixel type, bins as for channel_histograms; out of the
# image's shape.
cdef int apply_lut_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                      Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                      const uint8_t* lut, Py_ssize_t bins,
                      uint8_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                      Py_ssize_t workers) noexcept nogil
cdef int apply_lut_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       const uint16_t* lut, Py_ssize_t bins,
                       uint16_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                       Py_ssize_t workers) noexcept nogil

# --- frame_sums: the per-frame sums behind framefix.frame_statistics, in code values ------------
# Over a tiles_y x tiles_x grid (1..height rows, 1..width columns), C-contiguous outputs: sum and
# sum_squares (channels,) float64; luma_histogram (256,) int64, or NULL to skip it (most of the
# cost); tile_sums (tiles_y, tiles_x, channels) float64; tile_counts (tiles_y, tiles_x) int64.
cdef int frame_sums_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                       int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                       Py_ssize_t workers) noexcept nogil
cdef int frame_sums_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                        Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                        Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                        int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                        Py_ssize_t workers) noexcept nogil
cdef int frame_sums_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                        Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                        Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                        int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                        Py_ssize_t workers) noexcept nogil

# --- apply_tone_curves: the deflicker's per-frame correction (framefix.deflicker) ---------------
# knots_x, knots_y (curves, knots) float32 C-contiguous, in 0..1 units, knots_x increasing per
# curve, knots >= 2; curve c maps channel c (1 <= curves <= channels; later channels, an alpha,
# are copied); out of the image's shape. Integers are rounded to nearest and saturated.
cdef int apply_tone_curves_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                              Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                              const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                              uint8_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                              Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil
cdef int apply_tone_curves_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                               uint16_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                               Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil
cdef int apply_tone_curves_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                               float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                               Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil

# --- flow estimation (framefix.estimate_flow = flow_luma of both frames, then flow_from_luma) ----
# flow_luma: the estimator's input, an (height, width) float32 plane (Rec. 709 luma, 0..1 for
# integer pixels) of an image with 1, 3 or 4 channels.
cdef int flow_luma_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                      Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                      float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil
cdef int flow_luma_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil
cdef int flow_luma_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil

# flow_from_luma: the (height, width, 2) flow from plane i0 to plane i1 (both (height, width),
# each side at least `patch`); init NULL (start from zero) or an (init_height, init_width, 2)
# flow to start from. The settings are framefix.flow.kernel_settings(preset, ...)'s, in its order.
cdef int flow_from_luma(const float* i0, Py_ssize_t height, Py_ssize_t width,
                        Py_ssize_t i0_stride_y, Py_ssize_t i0_stride_x,
                        const float* i1, Py_ssize_t i1_stride_y, Py_ssize_t i1_stride_x,
                        const float* init, Py_ssize_t init_height, Py_ssize_t init_width,
                        Py_ssize_t init_stride_y, Py_ssize_t init_stride_x, Py_ssize_t init_stride_c,
                        float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                        Py_ssize_t patch, Py_ssize_t stride, Py_ssize_t iterations, Py_ssize_t finest_level,
                        int propagation, float alpha, float gamma, float delta, Py_ssize_t fixed_point, Py_ssize_t sor,
                        Py_ssize_t refine_levels, Py_ssize_t full_refine_iterations, int fill_occlusions,
                        Py_ssize_t presmooth, float omega, Py_ssize_t radius, float epsilon, Py_ssize_t workers) noexcept nogil
