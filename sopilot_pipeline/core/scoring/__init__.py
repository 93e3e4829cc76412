"""Room 6 of the core. A trainee against its golds: step alignment with edits,
deviations, the score, and the task's golds as one model.
"""
