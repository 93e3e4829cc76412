"""Room 6 of the core. A trainee against its golds: step alignment with edits,
deviations, the score, and the task's golds as one model.

One name per thing: a ``WarpPath`` (``align.dtw``) is a plain DTW path; a
``StepSequencePath`` (``step_alignment``) runs through the gold's steps in the trainee's
order; an ``Explanation`` (``explain``) is the trainee against one gold (costs, path,
edits); a ``SavedAlignment`` (``store.embeddings``) is what the ``trainee_alignment``
asset keeps, the best gold's explanation.
"""
