"""Dynamic partitions: one key per watch-folder video, filled by the watch sensor."""

from dagster import DynamicPartitionsDefinition

gold_videos = DynamicPartitionsDefinition(name="gold_videos")
trainee_videos = DynamicPartitionsDefinition(name="trainee_videos")

PARTITIONS_BY_ROLE = {"gold": gold_videos, "trainee": trainee_videos}
