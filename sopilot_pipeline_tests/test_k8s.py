"""Kubernetes without a cluster: the step Job of a clip-embedding step, built by
dagster-k8s's own functions the way its step handler builds it (the launcher's API
clients mocked), asks for one GPU on the GPU node pool; a CPU step's Job does not; the
manifests validate against Kubernetes' schemas offline (kubernetes-validate); and the
Helm values and data volume under deploy/ agree with the code location."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from unittest import mock

import kubernetes_validate
import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_user_defined_k8s_config
from kubernetes.client import ApiClient

from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.resources import ENV_NAMES, SopilotSettings

REPO = Path(__file__).resolve().parents[1]
SCHEMA_VERSION = "1.33.0"
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture
def gpu_settings(
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SopilotSettings:
    values = {
        "SOPILOT_DATA_DIR": str(tmp_path / "data"),
        "SOPILOT_EXECUTOR": "k8s",
        "SOPILOT_EMBEDDER": "vjepa2",
        "SOPILOT_VJEPA2_MODEL": str(tiny_model),
        "SOPILOT_DEVICE": "auto",
        "SOPILOT_K8S_GPU_NODE_SELECTOR": '{"sopilot/pool": "gpu"}',
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return SopilotSettings.from_env()


def _step_job(tags: dict[str, str], step: str, tmp_path: Path) -> dict:
    """What ``K8sStepHandler.launch_step`` sends to the API for a step with these tags."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    launcher = K8sRunLauncher(
        service_account_name="dagster",
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        k8s_client_batch_api=mock.MagicMock(),
        k8s_client_core_api=mock.MagicMock(),
    )
    context = K8sContainerContext(namespace="sopilot").merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags))
    )
    config = context.get_k8s_job_config("registry.example.com/sopilot-pipeline:0.1.0", launcher)
    job = construct_dagster_k8s_job(
        job_config=config,
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-0123456789abcdef",
        pod_name="dagster-step-0123456789abcdef",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": step},
    )
    return ApiClient().sanitize_for_serialization(job)


def _tags(settings: SopilotSettings, asset: str) -> dict[str, str]:
    return dict(build_definitions(settings).get_assets_def(asset).op.tags or {})


def test_the_embedding_step_job_asks_for_a_gpu_node(
    gpu_settings: SopilotSettings, tmp_path: Path
) -> None:
    assert build_definitions(gpu_settings).executor.name == "k8s"
    manifest = _step_job(_tags(gpu_settings, "trainee_clip_embeddings"), "embed", tmp_path)
    kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert pod["nodeSelector"] == {"sopilot/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_a_cpu_step_job_stays_off_the_gpu_pool(
    gpu_settings: SopilotSettings, tmp_path: Path
) -> None:
    manifest = _step_job(_tags(gpu_settings, "trainee_alignment"), "align", tmp_path)
    kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)
    pod = manifest["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in json.dumps(pod)
    assert not pod.get("nodeSelector")


def test_the_data_volume_manifest_is_valid_and_shared() -> None:
    manifest = yaml.safe_load((REPO / "deploy/k8s/sopilot-data-pvc.yaml").read_text())
    kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)
    assert manifest["spec"]["accessModes"] == ["ReadWriteMany"]
    broken = {**manifest, "spec": {**manifest["spec"], "accessModes": "ReadWriteMany"}}
    with pytest.raises(kubernetes_validate.ValidationError):  # the validation can fail
        kubernetes_validate.validate(broken, SCHEMA_VERSION, strict=True)


def test_the_helm_values_run_this_code_location_on_postgresql() -> None:
    values = yaml.safe_load((REPO / "deploy/helm/values.yaml").read_text())
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == [
        "--module-name",
        pyproject["tool"]["dagster"]["module_name"],
    ]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    known = set(ENV_NAMES.values()) | {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"}
    assert set(env) <= known, set(env) - known
    assert env["SOPILOT_EXECUTOR"] == "k8s"
    json.loads(env["SOPILOT_K8S_GPU_NODE_SELECTOR"])
    claim = yaml.safe_load((REPO / "deploy/k8s/sopilot-data-pvc.yaml").read_text())
    (volume,) = deployment["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert deployment["volumeMounts"][0]["mountPath"] == env["SOPILOT_DATA_DIR"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlHost"]
