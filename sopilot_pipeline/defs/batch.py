"""One asset step over every partition of its run: a single key, or a backfill range.

Runs, not partitions, are what Dagster pays for (about half a second each on SQLite),
so the per-video assets take ``BackfillPolicy.multi_run`` ranges and loop over the
keys. Dagster marks every partition of a range materialized when the step returns its
output, which would be a lie for a rejected video. So a step in which any partition was
rejected or failed logs one ``AssetMaterialization`` per partition that did succeed and
returns no output: downstream steps of that run are skipped, and the next sensor tick or
``process`` pass picks the good partitions up again from where they stopped.

Over a range, per-partition details go into one markdown table in the step's log rather
than through ``add_asset_metadata``, which costs ~12 ms a call (it lists the dynamic
partitions from the instance each time); Dagster copies the step's summary onto every
partition's event, so the summary stays small. ``work_seconds`` is the time spent in
our own per-partition code, so that ``benchmarks/pipeline_scale.py`` can tell it from
Dagster's share.

The last asset of a video's chain (``gold_steps``, ``trainee_score``) records what it
was made from as the partition's data version (``core.store.provenance``): one
``AssetMaterialization`` per partition always, since an output's data version would be
the same for every partition of a range. Nothing in those runs is downstream of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    BackfillPolicy,
    DagsterInstance,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from sopilot_pipeline.defs.dagster_internals import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
    AssetCheckEvaluationTargetMaterializationData,
)

MAX_PARTITIONS_PER_RUN = 32
"""Partitions per run for backfills and ``process`` batches: big enough that Dagster's
per-run cost is small beside the work, small enough that a failed run redoes little."""

BATCHED = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)
FAILED_PARTITIONS = "failed_partitions"  # Failure metadata: partition key -> reason


def rejection_evaluation(
    instance: DagsterInstance, asset_key: AssetKey, check_name: str, key: str, reason: str | None
) -> AssetCheckEvaluation:
    """A check's verdict on one partition: passed, or failed (warning) with the reason.

    A passed verdict names the partition's materialisation it is about, as Dagster's
    own check results do; without it the UI counts the check as not run."""
    target = None
    if reason is None:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
        ).records
        if records:
            mat = records[0]
            target = AssetCheckEvaluationTargetMaterializationData(
                run_id=mat.event_log_entry.run_id,
                storage_id=mat.storage_id,
                timestamp=mat.timestamp,
            )
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=check_name,
        passed=reason is None,
        severity=AssetCheckSeverity.WARN,
        partition=key,
        metadata={"rejected": reason} if reason else {},
        target_materialization_data=target,
    )


class Skip(Exception):
    """Raised by a per-partition function: this partition produces nothing this run."""


class Rejected(Skip):
    """Raised by a per-partition function: the video is refused, for ``reason``. The
    batch hands it to ``on_rejected`` (which records it) and skips the partition."""

    def __init__(self, reason: str, task_id: str, video: str) -> None:
        super().__init__(reason)
        self.reason, self.task_id, self.video = reason, task_id, video


@dataclass
class PartitionBatch:
    context: AssetExecutionContext
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    work: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # set by fn of a versioned asset
    # records a rejection (``defs.rejected.rejection_recorder``); one that fails is the
    # partition's failure
    on_rejected: Callable[[str, Rejected], None] | None = None
    started: float = field(default_factory=time.perf_counter)

    keys: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # each access to ``partition_keys`` lists the dynamic partitions from the instance
        self.keys = list(self.context.partition_keys)

    def run(self, fn: Callable[[str], dict[str, Any]]) -> None:
        """``fn(key)`` returns the partition's metadata, or raises :class:`Skip` (or
        :class:`Rejected`)."""
        for key in self.keys:
            t0 = time.perf_counter()
            try:
                try:
                    self.done[key] = fn(key)
                except Rejected as refused:
                    if self.on_rejected is None:  # never a rejection without its row
                        raise RuntimeError(
                            f"rejected with nothing to record it: {refused}"
                        ) from refused
                    self.on_rejected(key, refused)
                    raise
            except Skip as why:
                self.skipped[key] = str(why)
            except Exception as exc:  # noqa: BLE001 - recorded, then the step fails below
                self.context.log.exception(f"partition {key!r} failed")
                self.failed[key] = f"{type(exc).__name__}: {exc}"
            self.work[key] = time.perf_counter() - t0

    def checked_results(
        self, check_name: str, summary: dict[str, Any] | None = None
    ) -> Iterator[Any]:
        """``results`` with one evaluation of ``check_name`` per partition, on that
        partition: failed as a warning naming the reason for a rejected (skipped) video,
        passed, after its materialisation, for one that was done. So a rejected video's
        own partition says why, and a good one's check is current."""
        for key, reason in self.skipped.items():
            self.context.log_event(
                rejection_evaluation(
                    self.context.instance, self.context.asset_key, check_name, key, reason
                )
            )
        yield from self.results(summary)
        for key in self.done:
            self.context.log_event(
                rejection_evaluation(
                    self.context.instance, self.context.asset_key, check_name, key, None
                )
            )

    def results(self, summary: dict[str, Any] | None = None) -> Iterator[Any]:
        """The step's events: see the module docstring for why two shapes."""
        summary = {
            "partitions_done": len(self.done),
            "partitions_skipped": len(self.skipped),
            "work_seconds": round(sum(self.work.values()), 3),
            "step_seconds": round(time.perf_counter() - self.started, 3),
            **(summary or {}),
        }
        if len(self.done) == len(self.keys) and not self.versions:
            if len(self.keys) == 1:
                yield MaterializeResult(metadata={**self.done[self.keys[0]], **summary})
            else:
                self.context.log.info("per partition:\n" + _table(self.done))
                yield MaterializeResult(metadata={**summary, "partitions": len(self.keys)})
            return
        if self.versions:
            self.context.log.info(f"step summary: {summary}")
        yield from self._per_partition()
        if self.skipped:
            self.context.log.info(
                "not materialised: " + "; ".join(f"{k}: {why}" for k, why in self.skipped.items())
            )
        if self.failed:
            listing = "\n".join(f"- `{k}`: {why}" for k, why in self.failed.items())
            raise Failure(
                description=f"{len(self.failed)} of {len(self.keys)} partitions failed",
                metadata={
                    "failed": MetadataValue.md(listing),
                    FAILED_PARTITIONS: MetadataValue.json(self.failed),
                },
            )

    def _per_partition(self) -> Iterator[AssetMaterialization]:
        """One materialisation per partition done, with its data version if it has one."""
        for key, metadata in self.done.items():
            version = self.versions.get(key)
            yield AssetMaterialization(
                asset_key=self.context.asset_key,
                partition=key,
                metadata={**metadata, "work_seconds": round(self.work[key], 3)},
                tags={DATA_VERSION_TAG: version, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"}
                if version
                else None,
            )


def _table(done: dict[str, dict[str, Any]], max_columns: int = 6) -> str:
    """Per-partition scalar metadata as one markdown table."""
    first = next(iter(done.values()), {})
    columns = [k for k, v in first.items() if isinstance(v, (int, float, str)) and k != "task_id"][
        :max_columns
    ]
    lines = [
        "| partition | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for key, metadata in done.items():
        cells = [str(metadata.get(c, "")) for c in columns]
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
