"""Types of framefix._core_avx2: framefix._core built for CPUs with AVX2, the same functions."""

from framefix._core import *  # noqa: F403
