"""Where a run's steps execute: ``SOPILOT_EXECUTOR``.

``in_process`` (the default: the embedded, one-machine setup), ``multiprocess`` (a
subprocess per step), ``celery`` (a Celery task per step, on workers started with
``dagster-celery worker``, broker and result backend from ``SOPILOT_CELERY_BROKER`` and
``SOPILOT_CELERY_BACKEND``) or ``k8s`` (a Kubernetes Job per step, ``dagster-k8s``).
The two distributed engines come with the ``[celery]`` and ``[k8s]`` extras; choosing
one without its package installed is refused at start-up, as is a Celery engine
without a broker.

When the embedding steps use the GPU (``SopilotSettings.uses_gpu_pool``) they carry the
tags both engines route by: ``dagster-celery/queue: gpu`` (only workers started with
``-q gpu`` take them) and a ``dagster-k8s/config`` that asks for one
``nvidia.com/gpu`` with the node selector and tolerations of ``SOPILOT_K8S_GPU_NODE_
SELECTOR`` / ``SOPILOT_K8S_GPU_TOLERATIONS`` (JSON). Every other step goes to the default
queue and pods.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")
GPU_QUEUE = "gpu"
CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"
DEFAULT_GPU_TOLERATIONS: list[dict[str, str]] = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
]
_PACKAGES = {"celery": ("dagster_celery", "celery"), "k8s": ("dagster_k8s", "k8s")}


def check_executor(kind: str, broker: str, backend: str) -> None:
    """Refuse, with the variable to fix, an engine that cannot run here."""
    if kind not in EXECUTORS:
        raise ValueError(f"SOPILOT_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if kind in _PACKAGES:
        module, extra = _PACKAGES[kind]
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"SOPILOT_EXECUTOR={kind} needs {module.replace('_', '-')}: "
                f"pip install 'sopilot-pipeline[{extra}]'"
            )
    if kind == "celery":
        missing = [
            name
            for name, value in (
                ("SOPILOT_CELERY_BROKER", broker),
                ("SOPILOT_CELERY_BACKEND", backend),
            )
            if not value.strip()
        ]
        if missing:
            raise ValueError(
                f"SOPILOT_EXECUTOR=celery needs {' and '.join(missing)} "
                "(e.g. redis://host:6379/0 for both)"
            )


def executor_for(kind: str, broker: str = "", backend: str = "") -> ExecutorDefinition:
    """The Dagster executor of a (checked) ``SOPILOT_EXECUTOR``."""
    check_executor(kind, broker, backend)
    if kind == "multiprocess":
        return multiprocess_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured({"broker": broker, "backend": backend})
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor


def gpu_step_tags(node_selector: dict[str, str], tolerations: list[dict[str, Any]]) -> dict:
    """Op tags that send a step to GPU workers (Celery) and GPU nodes (Kubernetes)."""
    pod_spec: dict[str, Any] = {"tolerations": tolerations}
    if node_selector:
        pod_spec["node_selector"] = node_selector
    return {
        CELERY_QUEUE_TAG: GPU_QUEUE,
        K8S_CONFIG_TAG: {
            "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
            "pod_spec_config": pod_spec,
        },
    }
