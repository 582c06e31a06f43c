"""deploy/k8s: every core resource validated against the Kubernetes API schemas
(kubernetes-validate, strict: unknown fields fail), and what the manifests promise: one GPU per
worker pod, a grace period longer than a task, weights fetched by an init container onto a shared
volume, KEDA scaling on the Celery queue's Redis list. KEDA's own resources have no schema in
kubernetes-validate: they are checked field by field here, and no cluster runs them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from ecad.worker.names import GPU_QUEUE
from tests.deploy.compose import ROOT

K8S = ROOT / "deploy" / "k8s"
kubernetes_validate = pytest.importorskip("kubernetes_validate")


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def resource(kind: str, name: str) -> dict:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_core_resources_match_the_kubernetes_api_schemas():
    checked = 0
    for doc in documents():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        checked += 1
    assert checked >= 10


def test_the_validator_is_not_vacuous():
    worker = resource("Deployment", "ecad-worker")
    broken = yaml.safe_load(yaml.safe_dump(worker))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 10  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_worker_pods_have_one_gpu_a_long_grace_period_and_weights_first():
    config = resource("ConfigMap", "ecad-config")["data"]
    pod = resource("Deployment", "ecad-worker")["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["command"] == ["ecad", "worker", "--gpu", "auto"]
    assert pod["terminationGracePeriodSeconds"] > int(config["ECAD_TASK_TIME_LIMIT"])
    fetch = pod["initContainers"][0]
    assert fetch["command"] == ["ecad", "weights", "fetch"]
    mounted = {c["name"]: {m["name"] for m in c["volumeMounts"]} for c in (fetch, worker)}
    assert "hf-secret" in mounted["fetch-weights"]
    assert "hf-secret" not in mounted["worker"]  # HF_TOKEN: fetch only
    cache = next(v for v in pod["volumes"] if v["name"] == "model-cache")
    claim = resource("PersistentVolumeClaim", cache["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # shared by every worker pod
    assert all({"name": "model-cache", "mountPath": "/cache"} in c["volumeMounts"]
               for c in (fetch, worker))
    for probe in ("startupProbe", "readinessProbe"):
        assert worker[probe]["exec"]["command"] == ["python", "-m", "ecad.worker.health"]


def test_keda_scales_the_worker_deployment_on_the_celery_queue():
    scaled = resource("ScaledObject", "ecad-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == resource("Deployment", "ecad-worker")[
        "metadata"]["name"]
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == GPU_QUEUE  # the Redis list Celery queues into
    assert trigger["metadata"]["address"].startswith(
        resource("Service", "redis")["metadata"]["name"] + ".")
    auth = resource("TriggerAuthentication", trigger["authenticationRef"]["name"])["spec"]
    assert auth["secretTargetRef"] == [
        {"parameter": "password", "name": "ecad-redis", "key": "REDIS_PASSWORD"}]
    assert 0 <= scaled["minReplicaCount"] < scaled["maxReplicaCount"]


def test_secret_examples_hold_placeholders_only():
    for doc in documents():
        if doc["kind"] == "Secret":
            for key, value in doc["stringData"].items():
                assert value in ("", "ecad-app") or "change-me" in value, (key, value)


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed")
def test_kustomize_builds_every_listed_resource():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out.stdout) if d}
    assert {("Deployment", "ecad-worker"), ("Deployment", "ecad-scheduler"),
            ("ScaledObject", "ecad-worker"), ("Service", "redis")} <= kinds
    assert ("Secret", "ecad-redis") not in kinds  # secrets are applied from the user's copy


def pods() -> list[tuple[str, dict]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in documents()
            if d["kind"] == "Deployment"]


def test_secrets_reach_pods_as_files_never_as_environment_values():
    secret_names = {d["metadata"]["name"] for d in documents() if d["kind"] == "Secret"}
    for name, pod in pods():
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            text = yaml.safe_dump(container)
            assert "secretRef" not in text and "secretKeyRef" not in text, (name, container)
            for env in container.get("env", []):
                if env["value"].startswith("/run/secrets/"):  # NAME_FILE: a mounted secret key
                    mount = next(m for m in container["volumeMounts"]
                                 if env["value"].startswith(m["mountPath"] + "/"))
                    assert volumes[mount["name"]]["secret"]["secretName"] in secret_names


def test_every_pod_has_memory_requests_and_limits_and_runs_as_non_root():
    for name, pod in pods():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in pod.get("initContainers", []) + pod["containers"]:
            resources = container["resources"]
            assert resources["requests"]["memory"] and resources["limits"]["memory"], (
                name, container["name"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    redis = dict(pods())["redis"]
    assert redis["securityContext"]["runAsUser"] == 999  # the image's redis user
    assert "--requirepass" not in redis["containers"][0]["command"][-1]
