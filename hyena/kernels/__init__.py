"""numba kernels: arrays in, arrays or scalars out; no engine imports, no I/O.

Each kernel has a plain-numpy twin in `hyena.kernels.reference` that the tests compare against.
"""
