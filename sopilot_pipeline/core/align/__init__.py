"""Room 4 of the core. Dynamic time warping and the edit totals (CPU and CuPy kernels)
step alignment is built on.
"""
