"""Numba fallbacks: the same private functions, with the same arguments, as framefix._core."""

from framefix._numba.warp import remap, warp

__all__ = ["remap", "warp"]
