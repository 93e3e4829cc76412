"""One asset step over every partition of its run: a single key, or a backfill range.

Runs, not partitions, are what Dagster pays for (about half a second each on SQLite),
so the per-video assets take ``BackfillPolicy.multi_run`` ranges and loop over the
keys. Dagster marks every partition of a range materialized when the step returns its
output, which would be a lie for a rejected video. So a step in which any partition was
rejected or failed logs one ``AssetMaterialization`` per partition that did succeed and
returns no output: downstream steps of that run are skipped, and the next sensor tick or
``process`` pass picks the good partitions up again from where they stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
)

MAX_PARTITIONS_PER_RUN = 32
"""Partitions per run for backfills and ``process`` batches: big enough that Dagster's
per-run cost is small beside the work, small enough that a failed run redoes little."""

BATCHED = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)


class Skip(Exception):
    """Raised by a per-partition function: this partition produces nothing this run."""


@dataclass
class PartitionBatch:
    context: AssetExecutionContext
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def keys(self) -> list[str]:
        return list(self.context.partition_keys)

    def run(self, fn: Callable[[str], dict[str, Any]]) -> None:
        """``fn(key)`` returns the partition's metadata, or raises :class:`Skip`."""
        for key in self.keys:
            try:
                self.done[key] = fn(key)
            except Skip as why:
                self.skipped[key] = str(why)
            except Exception as exc:  # noqa: BLE001 - recorded, then the step fails below
                self.context.log.exception(f"partition {key!r} failed")
                self.failed[key] = f"{type(exc).__name__}: {exc}"

    def results(self, summary: dict[str, Any] | None = None) -> Iterator[Any]:
        """The step's events: see the module docstring for why two shapes."""
        summary = {
            "partitions_done": len(self.done),
            "partitions_skipped": len(self.skipped),
            "step_seconds": round(time.perf_counter() - self.started, 3),
            **(summary or {}),
        }
        if len(self.done) == len(self.keys):
            if len(self.keys) == 1:
                yield MaterializeResult(metadata={**self.done[self.keys[0]], **summary})
                return
            for key, metadata in self.done.items():
                self.context.add_asset_metadata(metadata, partition_key=key)
            yield MaterializeResult(metadata={**summary, "partitions": len(self.keys)})
            return
        for key, metadata in self.done.items():
            yield AssetMaterialization(
                asset_key=self.context.asset_key, partition=key, metadata=metadata
            )
        if self.failed:
            listing = "\n".join(f"- `{k}`: {why}" for k, why in self.failed.items())
            raise Failure(
                description=f"{len(self.failed)} of {len(self.keys)} partitions failed",
                metadata={"failed": MetadataValue.md(listing)},
            )
