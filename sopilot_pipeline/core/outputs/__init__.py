"""Room 7 of the core. What a person reads: the PDF report, preview plots, the clips
cut for them.
"""
