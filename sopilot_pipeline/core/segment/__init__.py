"""Room 5 of the core. A gold video's steps: detected (returns to rest, change points)
or authored in a sidecar.
"""
