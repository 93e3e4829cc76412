"""Room 9 of the core. Rendered procedures with known truth and the grading of a run
against it (benchmarks and tests only).
"""
