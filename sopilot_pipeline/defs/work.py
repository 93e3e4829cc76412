"""What each ready watch-folder video still needs: one answer for the sensor and ``process``.

A video is done when the last asset of its chain recorded the data version wanted now
(``core.store.provenance``: this content, this embedder, the task's golds and adapter as they
are) and its outputs are still under the data root. Nothing else is consulted: not run
keys, not a ledger. So work done by the daemon, a UI materialisation, a backfill or
``process`` is never redone by another path, and content put back (A→B→A), deleted
outputs or a fresh data root with an old instance are redone.

What is not done becomes runs over contiguous partition ranges of one job and asset
selection, up to ``MAX_PARTITIONS_PER_RUN`` each, the shape a backfill from the UI takes:
Dagster's cost is per run, not per partition.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterEventType, DagsterInstance, RunRequest, RunsFilter

from sopilot_pipeline.core.segment.authored_steps import sidecar_digest, sidecar_path
from sopilot_pipeline.core.store.layout import DataLayout, read_json, task_id_problem
from sopilot_pipeline.core.store.provenance import (
    adapter_version,
    gold_version,
    gold_versions_by_task,
    outputs_present,
    redo_reason,
    trainee_version,
)
from sopilot_pipeline.core.watch.scan import ReadyFile
from sopilot_pipeline.defs.asset_keys import (
    GOLD_CLIP_EMBEDDINGS,
    GOLD_STEPS,
    GOLD_VIDEO,
    REJECTED_VIDEOS,
    TRAINEE_ALIGNMENT,
    TRAINEE_CLIP_EMBEDDINGS,
    TRAINEE_SCORE,
    TRAINEE_VIDEO,
)
from sopilot_pipeline.defs.checks import (
    SCORE_CHECK,
    trainee_alignment_is_a_valid_path,
    trainee_embeddings_are_finite,
)
from sopilot_pipeline.defs.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    DATA_VERSION_TAG,
    IN_PROGRESS_RUN_STATUSES,
)
from sopilot_pipeline.defs.partitions import PARTITIONS_BY_ROLE, rejected_video_partitions
from sopilot_pipeline.defs.resources import SopilotSettings

GOLD_INGEST = (GOLD_VIDEO, GOLD_CLIP_EMBEDDINGS)
GOLD_CHAIN = GOLD_INGEST + (GOLD_STEPS,)
TRAINEE_INGEST = (TRAINEE_VIDEO, TRAINEE_CLIP_EMBEDDINGS)
TRAINEE_SCORING = (TRAINEE_ALIGNMENT, TRAINEE_SCORE)
TRAINEE_CHAIN = TRAINEE_INGEST + TRAINEE_SCORING
GOLD_JOB = "ingest_gold_video"
TRAINEE_JOB = "score_trainee_video"
JOB_OF_ROLE = {"gold": GOLD_JOB, "trainee": TRAINEE_JOB}
FINAL_ASSET = {"gold": GOLD_STEPS, "trainee": TRAINEE_SCORE}
REASON_TAG = "sopilot/reason"  # why the run's videos are (re)done, with counts when mixed
REASONS_TAG = "sopilot/reasons"  # partition -> reason, when the run's reasons differ
PARTITIONS_OF_JOB = {JOB_OF_ROLE[role]: p.name for role, p in PARTITIONS_BY_ROLE.items()}


@dataclass(frozen=True)
class Need:
    """A video whose chain must run (``selection``) to reach data version ``version``."""

    ready: ReadyFile
    selection: tuple[str, ...]
    version: str
    latest_version: str | None  # recorded by the partition's last materialisation
    latest_id: int  # that materialisation's storage id (0: never materialised)
    reason: str = "new video"  # why it is (re)done, in words (``redo_reason``)

    @property
    def key(self) -> str:
        return self.ready.file.partition_key

    @property
    def job_name(self) -> str:
        return JOB_OF_ROLE[self.ready.file.role]

    @property
    def mark(self) -> str:
        """What this need was asked for: a version, after a given materialisation."""
        return f"{self.version}@{self.latest_id}"


@dataclass
class WorkPlan:
    needs: list[Need] = field(default_factory=list)
    done: list[ReadyFile] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)  # task -> trainees without a gold
    new_partitions: dict[str, list[str]] = field(default_factory=dict)  # partitions def -> keys
    # rejected videos leave their role's partitions (once no run of the role is in
    # flight), and fixed ones leave the rejected videos' partitions
    removed_partitions: dict[str, list[str]] = field(default_factory=dict)
    known_partitions: dict[str, list[str]] = field(default_factory=dict)  # in instance order
    errors: dict[str, str] = field(default_factory=dict)  # rel path -> why it was not planned
    first_adapter: list[str] = field(default_factory=list)  # golds to train it on, if due


def latest_versions(instance: DagsterInstance, asset: str) -> dict[str, tuple[str | None, int]]:
    """partition -> (data version, storage id) of its latest materialisation: two queries
    however many partitions there are."""
    storage = instance.event_log_storage
    key = AssetKey(asset)
    kind = DagsterEventType.ASSET_MATERIALIZATION
    ids = storage.get_latest_storage_id_by_partition(key, kind)
    tags = storage.get_latest_tags_by_partition(key, kind, [DATA_VERSION_TAG])
    return {p: (tags.get(p, {}).get(DATA_VERSION_TAG), i) for p, i in ids.items()}


def rejected(layout: DataLayout, r: ReadyFile) -> bool:
    """Rejected already, and not changed since: a newer video (or, for a gold, a newer
    steps sidecar) is tried again."""
    rejection = layout.table_file(REJECTED_VIDEOS, r.file.task_id, r.file.partition_key)
    try:
        rejected_at = rejection.stat().st_mtime_ns
    except OSError:
        return False
    changed_at = r.file.mtime_ns
    if r.file.role == "gold":
        with contextlib.suppress(OSError):  # no sidecar
            changed_at = max(changed_at, sidecar_path(r.file.path).stat().st_mtime_ns)
    return rejected_at > changed_at


def _rejection_row(layout: DataLayout, key: str) -> bool:
    return any((layout.tables / REJECTED_VIDEOS).glob(f"*/{key}.parquet"))


def _role_busy(instance: DagsterInstance, role: str) -> bool:
    """A run of the role's job is queued or running: its partition range must keep the
    keys it was asked for until it ends."""
    runs = instance.get_runs(
        RunsFilter(job_name=JOB_OF_ROLE[role], statuses=IN_PROGRESS_RUN_STATUSES), limit=1
    )
    return bool(runs)


def _embedded(layout: DataLayout, r: ReadyFile, embedder: str, privacy_mask: str) -> bool:
    """The video's clip embeddings are of this content and embedder, and its raw copy is
    masked as asked (ingest can be skipped)."""
    role, key = r.file.role, r.file.partition_key
    try:
        meta = read_json(layout.clip_meta(role, key))
    except (OSError, ValueError):
        return False
    return (
        meta.get("sha256") == r.sha256
        and meta.get("embedder") == embedder
        and meta.get("privacy_mask", "none") == privacy_mask
        and layout.clip_vectors(role, key).exists()
    )


def plan_work(
    instance: DagsterInstance, settings: SopilotSettings, ready: list[ReadyFile]
) -> WorkPlan:
    """Every ready video is done, needed, rejected (nothing to do), or waiting for a gold."""
    layout = settings.layout
    plan = WorkPlan()
    refused = {r.file.partition_key for r in ready if rejected(layout, r)}
    for role, pdef in PARTITIONS_BY_ROLE.items():
        known = instance.get_dynamic_partitions(pdef.name)
        plan.known_partitions[pdef.name] = known
        keys = {r.file.partition_key for r in ready if r.file.role == role}
        if new := sorted(keys - refused - set(known)):
            plan.new_partitions[pdef.name] = new
        if (gone := sorted(refused & set(known))) and not _role_busy(instance, role):
            plan.removed_partitions[pdef.name] = gone
    shown = instance.get_dynamic_partitions(rejected_video_partitions.name)
    if fixed := sorted(k for k in shown if not _rejection_row(layout, k)):
        plan.removed_partitions[rejected_video_partitions.name] = fixed
    usable = []
    for r in ready:
        if r.file.partition_key in refused:
            continue
        if r.rejected_unread or task_id_problem(r.file.task_id):
            # registration alone, which rejects it with the reason; no gold to wait for
            need = Need(r, (f"{r.file.role}_video",), "rejected", None, 0, "to be rejected")
            plan.needs.append(need)
        else:
            usable.append(r)
    planner = _Planner(
        instance, settings, plan, {r.file.task_id for r in ready if r.file.role == "gold"}
    )
    with_gold, gold_pending = planner.golds([r for r in usable if r.file.role == "gold"])
    planner.trainees([r for r in usable if r.file.role == "trainee"], with_gold, gold_pending)
    return plan


@dataclass
class _Planner:
    instance: DagsterInstance
    settings: SopilotSettings
    plan: WorkPlan
    golds_in_watch: set[str]  # tasks with a gold video in the watch folder

    def golds(self, golds: list[ReadyFile]) -> tuple[set[str], set[str]]:
        """Plans the golds; returns the tasks with a gold done, and those with one on its
        way (their trainees wait for it)."""
        embedder = self.settings.embedder.name
        with_gold: set[str] = set()
        pending: set[str] = set()
        latest = latest_versions(self.instance, GOLD_STEPS) if golds else {}
        for r in golds:
            try:
                version = gold_version(
                    r.sha256, embedder, sidecar_digest(r.file.path), self.settings.privacy_mask
                )
                done = self._consider(r, version, latest, GOLD_INGEST, (GOLD_STEPS,))
            except Exception as exc:  # noqa: BLE001 - one file must never stop the others
                self.plan.errors[r.file.rel] = f"{type(exc).__name__}: {exc}"
                done = False
            (with_gold if done else pending).add(r.file.task_id)
        return with_gold, pending

    def trainees(self, trainees: list[ReadyFile], with_gold: set[str], pending: set[str]) -> None:
        layout, embedder = self.settings.layout, self.settings.embedder.name
        golds_now = gold_versions_by_task(layout, embedder)
        adapter_file = layout.latest_adapter(embedder)
        if adapter_file is None and with_gold:
            # trainees wait for the first adapter, trained on the golds there are, rather
            # than being scored twice (in their task's own fallback, then in the adapter)
            self.plan.first_adapter = sorted(k for golds in golds_now.values() for k in golds)
            return
        latest = latest_versions(self.instance, TRAINEE_SCORE) if trainees else {}
        adapter = adapter_version(adapter_file)
        if self.settings.delete_originals:  # golds whose originals were deleted still count
            with_gold = with_gold | (set(golds_now) - pending - self.golds_in_watch)
        for r in trainees:
            task = r.file.task_id
            if task in pending or task not in with_gold or not golds_now.get(task):
                self.plan.waiting[task] = self.plan.waiting.get(task, 0) + 1
                continue
            try:
                version = trainee_version(
                    r.sha256, embedder, golds_now[task], adapter, self.settings.privacy_mask
                )
                self._consider(r, version, latest, TRAINEE_INGEST, TRAINEE_SCORING)
            except Exception as exc:  # noqa: BLE001 - one file must never stop the others
                self.plan.errors[r.file.rel] = f"{type(exc).__name__}: {exc}"

    def _consider(
        self, r: ReadyFile, version: str, latest: dict, ingest: tuple, rest: tuple
    ) -> bool:
        """Adds a need unless the video is done at ``version``; True when done."""
        layout, key = self.settings.layout, r.file.partition_key
        latest_version, latest_id = latest.get(key, (None, 0))
        present = outputs_present(layout, r.file.role, r.file.task_id, key)
        if latest_version == version and present:
            self.plan.done.append(r)
            return True
        embedded = _embedded(layout, r, self.settings.embedder.name, self.settings.privacy_mask)
        selection = rest if embedded else ingest + rest
        why = redo_reason(r.file.role, version, latest_version, present)
        self.plan.needs.append(Need(r, selection, version, latest_version, latest_id, why))
        return False


def partition_order(plan: WorkPlan) -> dict[str, dict[str, int]]:
    """partitions def -> key -> position, the keys this plan adds coming last (as adding
    them appends them), from the lists the plan read: no second query."""
    return {
        name: {k: i for i, k in enumerate(known + plan.new_partitions.get(name, []))}
        for name, known in plan.known_partitions.items()
    }


def batch_needs(
    needs: list[Need], order: dict[str, dict[str, int]], max_partitions: int
) -> list[list[Need]]:
    """Needs grouped into contiguous partition ranges of one job and asset selection
    (a key not needed splits a range), golds first, at most ``max_partitions`` each."""
    groups: dict[tuple[str, tuple[str, ...]], list[Need]] = {}
    for n in needs:
        groups.setdefault((n.job_name, n.selection), []).append(n)
    batches: list[list[Need]] = []
    for (job_name, _), members in sorted(groups.items(), key=lambda g: g[0][0] != GOLD_JOB):
        position = order[PARTITIONS_OF_JOB[job_name]]
        members.sort(key=lambda n: position[n.key])
        current: list[Need] = []
        for n in members:
            contiguous = current and position[n.key] == position[current[-1].key] + 1
            if current and (not contiguous or len(current) >= max_partitions):
                batches.append(current)
                current = []
            current.append(n)
        if current:
            batches.append(current)
    return batches


def redo_reason_of(tags: Mapping[str, str], key: str) -> str | None:
    """Why a run (re)did partition ``key``, from the run's tags."""
    if REASONS_TAG in tags:
        return json.loads(tags[REASONS_TAG]).get(key)
    return tags.get(REASON_TAG)


def partition_reason(tags: Mapping[str, str], key: str) -> str:
    """Why a run (re)did partition ``key``: the sensor's or ``process``'s reason, else a
    materialisation someone asked for (the UI, a backfill)."""
    return redo_reason_of(tags, key) or "asked for in the UI or a backfill"


def _reason_tags(batch: list[Need]) -> dict[str, str]:
    """Why the batch's videos are (re)done: one line, and per video when they differ."""
    reasons = Counter(n.reason for n in batch)
    tags = {
        "sopilot/videos": str(len(batch)),
        REASON_TAG: "; ".join(
            why if len(reasons) == 1 else f"{why} ×{count}" for why, count in reasons.items()
        ),
    }
    if len(reasons) > 1:
        tags[REASONS_TAG] = json.dumps({n.key: n.reason for n in batch})
    return tags


def run_request(batch: list[Need], keyed: bool = True) -> RunRequest:
    """One run for a batch: a single partition, or a range by Dagster's range tags.

    The run key names what is asked for (versions, and the materialisation each
    replaces), so the daemon launches it once; the same request after that
    materialisation changed (content put back, outputs deleted) is a new key."""
    first, last = batch[0], batch[-1]
    tags = _reason_tags(batch)
    digest = hashlib.sha1("\n".join(f"{n.key}@{n.mark}" for n in batch).encode()).hexdigest()
    prefix = first.ready.file.role
    if len(batch) == 1:
        tags |= {
            "sopilot/task_id": first.ready.file.task_id[:200],
            "sopilot/video": first.ready.file.file_name[:200],
        }
        run_key = f"{prefix}:{first.key}:{first.version}@{first.latest_id}"
        partition_key: str | None = first.key
    else:
        tags |= {
            ASSET_PARTITION_RANGE_START_TAG: first.key,
            ASSET_PARTITION_RANGE_END_TAG: last.key,
        }
        run_key = f"{prefix}:{len(batch)} videos:{digest[:20]}"
        partition_key = None
    selection = [AssetKey(a) for a in first.selection]
    return RunRequest(
        run_key=run_key if keyed else None,
        job_name=first.job_name,
        partition_key=partition_key,
        asset_selection=selection,
        asset_check_keys=[c for c in GUARD_CHECKS if c.asset_key in selection],
        tags=tags,
    )


GUARD_CHECKS = (
    trainee_embeddings_are_finite.check_key,
    trainee_alignment_is_a_valid_path.check_key,
    SCORE_CHECK.key,
)
"""The checks a pipeline run executes. The per-video ``video_is_readable`` and
``video_decodes`` are evaluated by their assets for each partition (defs/ingest.py)."""
