"""Room 0 of the core. The floor: atomic file writes, row blocks for large matrices,
the compute device.
"""
