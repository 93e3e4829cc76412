"""Dynamic partitions: one key per watch-folder video, filled by the watch sensor."""

from dagster import DynamicPartitionsDefinition

gold_videos = DynamicPartitionsDefinition(name="gold_videos")
trainee_videos = DynamicPartitionsDefinition(name="trainee_videos")

PARTITIONS_BY_ROLE = {"gold": gold_videos, "trainee": trainee_videos}

# a refused video leaves its role's partitions (so the task's lineage shows what is
# done) and becomes a partition of ``rejected_video``, whose page says why
rejected_video_partitions = DynamicPartitionsDefinition(name="rejected_videos")
