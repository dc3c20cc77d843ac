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
from framefix._numba.flow import patch_flow_level
from framefix._numba.stats import frame_sums
from framefix._numba.warp import remap, warp

__all__ = [
    "apply_affine3",
    "apply_lut",
    "channel_histograms",
    "channel_moments",
    "frame_sums",
    "lab_to_srgb",
    "match_float_channels",
    "patch_flow_level",
    "remap",
    "sorted_channel_values",
    "srgb_to_lab",
    "warp",
]
