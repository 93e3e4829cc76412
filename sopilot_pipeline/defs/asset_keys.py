"""Every asset's name, once: an asset is found by its name here, and renamed in one edit.

Per-video assets exist once per role (gold, trainee) and are looked up by role.
"""

GOLD_VIDEO = "gold_video"
TRAINEE_VIDEO = "trainee_video"
GOLD_CLIP_EMBEDDINGS = "gold_clip_embeddings"
TRAINEE_CLIP_EMBEDDINGS = "trainee_clip_embeddings"
GOLD_STEPS = "gold_steps"
FEATURE_ADAPTER = "feature_adapter"
TRAINEE_ALIGNMENT = "trainee_alignment"
TRAINEE_SCORE = "trainee_score"
REJECTED_VIDEOS = "rejected_videos"  # the table of every refused file
REJECTED_VIDEO = "rejected_video"  # one partition per refused file
CLIP_INDEX = "clip_index"
TASK_SUMMARY = "task_summary"

VIDEO: dict[str, str] = {"gold": GOLD_VIDEO, "trainee": TRAINEE_VIDEO}
CLIP_EMBEDDINGS: dict[str, str] = {"gold": GOLD_CLIP_EMBEDDINGS, "trainee": TRAINEE_CLIP_EMBEDDINGS}
