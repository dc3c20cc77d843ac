#pragma once
// Umbrella header: everything framefix's kernels offer to C++ code.

#include "border.hpp"
#include "color.hpp"
#include "deflicker.hpp"
#include "flow.hpp"
#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"
#include "simd.hpp"
#include "stats.hpp"
#include "warp.hpp"
