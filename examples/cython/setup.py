"""Build the Cython consumer in place: ``python setup.py build_ext --inplace``.

Cython finds ``framefix/cython_kernels.pxd`` in the installed framefix; in an editable install
of framefix the package is not on sys.path, so its folder is named explicitly here.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

import framefix

package_parent = os.path.dirname(os.path.dirname(os.path.abspath(framefix.__file__)))
setup(
    name="clip_kernels",
    ext_modules=cythonize([Extension("clip_kernels", ["clip_kernels.pyx"])], include_path=[package_parent]),
)
