"""Numba fallbacks: the same private functions, with the same arguments, as framefix._core."""

from framefix._numba.color import (
    apply_affine3,
    apply_lut,
    channel_histograms,
    channel_moments,
    lab_to_srgb,
    match_float_channels,
    sorted_channel_values,
    srgb_to_lab,
)
from framefix._numba.deflicker import apply_gain_field, apply_tone_curves, shrink_area
from framefix._numba.flow import (
    consistency_ratio,
    flow_from_frames,
    flow_from_luma,
    flow_luma,
    halve_plane,
    patch_flow_level,
    refine_flow_level,
    resize_flow,
)
from framefix._numba.stats import frame_sums
from framefix._numba.temporal import compare_along_flow
from framefix._numba.warp import remap, warp

__all__ = [
    "apply_affine3",
    "apply_gain_field",
    "apply_lut",
    "apply_tone_curves",
    "channel_histograms",
    "channel_moments",
    "compare_along_flow",
    "consistency_ratio",
    "flow_from_frames",
    "flow_from_luma",
    "flow_luma",
    "frame_sums",
    "halve_plane",
    "lab_to_srgb",
    "match_float_channels",
    "patch_flow_level",
    "refine_flow_level",
    "remap",
    "resize_flow",
    "shrink_area",
    "sorted_channel_values",
    "srgb_to_lab",
    "warp",
]
