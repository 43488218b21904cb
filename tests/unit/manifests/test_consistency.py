"""The manifests agree with the code and with each other: image, buckets, S3 names, ports, paths."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.common.s3_settings import BUCKET_ROLES
from components.images import SERVING_IMAGE
from pipelines.cluster import S3_CONFIG_KEYS, S3_CONFIG_MAP, S3_SECRET, S3_SECRET_KEYS

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"


def find(all_documents, kind, name, folder=None):
    found = [
        d
        for f, d in all_documents
        if d["kind"] == kind and d["metadata"]["name"] == name and (folder is None or f == folder)
    ]
    assert found, f"no {kind}/{name}" + (f" in {folder}" if folder else "")
    return found[0]


def test_serving_image_is_the_one_of_components_images(all_documents):
    kustomization = yaml.safe_load((MANIFESTS / "model/base/kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert f"{image['newName']}:{image['newTag']}" == SERVING_IMAGE
    sdep = find(all_documents, "SeldonDeployment", "mlcycle-model", "model/overlays/production")
    assert sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] == SERVING_IMAGE
    values = yaml.safe_load((MANIFESTS / "remote/seldon-core-operator/values.yaml").read_text())
    server = values["predictor_servers"][sdep["spec"]["predictors"][0]["graph"]["implementation"]]["protocols"][
        "seldon"
    ]
    assert f"{server['image']}:{server['defaultImageVersion']}" == SERVING_IMAGE


def test_model_graph_is_our_model_class_with_the_pinned_digest_parameter(all_documents):
    sdep = find(all_documents, "SeldonDeployment", "mlcycle-model", "model/base")
    predictor = sdep["spec"]["predictors"][0]
    assert [p["name"] for p in predictor["graph"]["parameters"]] == ["model_sha256"]
    assert predictor["graph"]["parameters"][0]["type"] == "STRING"
    assert predictor["graph"]["modelUri"].startswith("s3://models/")
    container = predictor["componentSpecs"][0]["spec"]["containers"][0]
    assert container["name"] == predictor["graph"]["name"]
    assert {"name": "MODEL_NAME", "value": "components.serve.model.Model"} in container["env"]


def test_bucket_job_creates_the_buckets_of_the_code(all_documents):
    job = find(all_documents, "Job", "create-buckets", "object-store/base")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert tuple(env["BUCKETS"].split()) == BUCKET_ROLES
    assert "version enable" in job["spec"]["template"]["spec"]["containers"][0]["args"][0]


def test_s3_endpoint_reaches_the_object_store_service(all_documents):
    service = find(all_documents, "Service", "object-store", "object-store/base")
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "s3")
    expected = f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local:{port}"
    for folder in ("kubeflow-pipelines", "model/overlays/staging", "model/overlays/production"):
        config = find(all_documents, "ConfigMap", S3_CONFIG_MAP, folder)
        assert set(S3_CONFIG_KEYS) <= set(config["data"])
        assert config["data"]["AWS_ENDPOINT_URL"] == expected


def test_pipeline_runner_may_read_the_pipelines_s3_secret_and_nothing_else(all_documents):
    role = find(all_documents, "Role", "mlcycle-pipeline-runner", "kubeflow-pipelines")
    assert role["metadata"]["namespace"] == "kubeflow"
    assert {(tuple(r["resources"]), tuple(r["resourceNames"]), tuple(r["verbs"])) for r in role["rules"]} == {
        (("secrets",), (S3_SECRET,), ("get",)),
        (("configmaps",), (S3_CONFIG_MAP,), ("get",)),
    }
    binding = find(all_documents, "RoleBinding", "mlcycle-pipeline-runner", "kubeflow-pipelines")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]


def test_deploy_script_creates_the_secrets_the_manifests_name():
    script = (REPO / "hack/deploy.sh").read_text()
    assert f"{S3_SECRET}" in script and "object-store-credentials" in script and "mlcycle-model-storage" in script
    for key in S3_SECRET_KEYS:
        assert key in script
    for key in ("TYPE=s3", "PROVIDER=Minio", "ENV_AUTH=false", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "ENDPOINT"):
        assert f"RCLONE_CONFIG_S3_{key}" in script


def test_kind_port_mappings_match_the_nodeports(all_documents):
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    mappings = {m["containerPort"]: m for n in config["nodes"] for m in n.get("extraPortMappings", [])}
    node_ports = {
        p["nodePort"]: (d["metadata"]["namespace"], d["metadata"]["name"])
        for f, d in all_documents
        if f == "kind"
        for p in d["spec"]["ports"]
    }
    assert set(mappings) == set(node_ports)
    assert {m["hostPort"] for m in mappings.values()} == {8080, 8081, 8082}
    assert all(m["listenAddress"] == "127.0.0.1" for m in mappings.values())
    assert node_ports[31380] == ("kubeflow", "ml-pipeline-ui-nodeport")
    assert node_ports[31381] == ("mlcycle-production", "model-nodeport")


def test_kind_nodes_pin_one_image_by_digest():
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    images = {n["image"] for n in config["nodes"]}
    assert len(images) == 1 and len(config["nodes"]) == 2
    (image,) = images
    assert image.startswith("kindest/node:v1.29.") and "@sha256:" in image
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker"]
    assert 'config_path = "/etc/containerd/certs.d"' in config["containerdConfigPatches"][0]


def test_argocd_applications_sync_the_overlays_of_this_repository(all_documents):
    apps = {d["metadata"]["name"]: d for f, d in all_documents if f == "argocd/apps" and d["kind"] == "Application"}
    assert set(apps) == {"mlcycle-model-staging", "mlcycle-model-production"}
    root = find(all_documents, "Application", "mlcycle", "argocd")
    assert (REPO / root["spec"]["source"]["path"] / "kustomization.yaml").is_file()
    for environment in ("staging", "production"):
        app = apps[f"mlcycle-model-{environment}"]
        assert app["spec"]["source"]["path"] == f"manifests/model/overlays/{environment}"
        assert app["spec"]["destination"]["namespace"] == f"mlcycle-{environment}"
        assert app["spec"]["source"]["repoURL"] == root["spec"]["source"]["repoURL"]
        assert "REPLACED" not in yaml.safe_dump(app)
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_the_argocd_project_permits_every_kind_its_applications_sync(rendered, all_documents):
    project = find(all_documents, "AppProject", "mlcycle", "argocd")
    cluster = {(entry["group"], entry["kind"]) for entry in project["spec"]["clusterResourceWhitelist"]}
    namespaced = {(entry["group"], entry["kind"]) for entry in project["spec"]["namespaceResourceWhitelist"]}
    for environment in ("staging", "production"):
        for doc in rendered[f"model/overlays/{environment}"]:
            group = doc["apiVersion"].rpartition("/")[0]
            allowed = cluster if doc["kind"] == "Namespace" else namespaced
            assert (group, doc["kind"]) in allowed, (
                f"Argo CD would refuse {doc['kind']} {doc['metadata']['name']} of {environment}"
            )


def test_only_production_feeds_monitoring(rendered):
    def model_env(environment):
        (deployment,) = [d for d in rendered[f"model/overlays/{environment}"] if d["kind"] == "SeldonDeployment"]
        container = deployment["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
        return {entry["name"]: entry.get("value") for entry in container["env"]}

    staging, production = model_env("staging"), model_env("production")
    assert staging["MLCYCLE_REQUEST_LOG_RATE"] == "0" and staging["MLCYCLE_FEEDBACK"] == "false"
    assert "MLCYCLE_REQUEST_LOG_RATE" not in production and "MLCYCLE_FEEDBACK" not in production
    assert staging["GRPC_WORKERS"] == production["GRPC_WORKERS"] == "0"
