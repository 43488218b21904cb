"""Argo CD shows the truth: the SeldonDeployment as Seldon Core 1.17.1 defaults it, normalised by the
Applications' ignoreDifferences, equals the rendered one; the list is exactly what the defaulting adds.

:func:`seldon_defaults` follows ``SeldonDeploymentSpec.DefaultSeldonDeployment`` of SeldonIO/seldon-core
at v1.17.1, operator/apis/machinelearning.seldon.io/v1/defaults.go (with the constants of
operator/constants/constants.go and seldondeployment_types.go), for what our SeldonDeployment uses: one
container per predictor named as its graph node, REST, no separate engine pod, no environment overrides
of the operator's ports.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess

import pytest

FIRST_HTTP_PORT, FIRST_GRPC_PORT, FIRST_METRICS_PORT = 9000, 9500, 6000  # operator/constants/constants.go
PODINFO = {"name": "seldon-podinfo", "mountPath": "/etc/podinfo"}  # seldondeployment_types.go
SIMPLE_IMPLEMENTATIONS = {
    "SIMPLE_MODEL",
    "SIMPLE_ROUTER",
    "RANDOM_ABTEST",
    "AVERAGE_COMBINER",
    "UNKNOWN_IMPLEMENTATION",
}


def seldon_defaults(sdep: dict) -> dict:
    """Returns the SeldonDeployment with the fields Seldon Core 1.17.1's Default() sets."""
    sdep = copy.deepcopy(sdep)
    spec = sdep["spec"]
    http_ports: dict[str, int] = {}
    grpc_ports: dict[str, int] = {}
    next_port = {"http": FIRST_HTTP_PORT, "grpc": FIRST_GRPC_PORT, "metrics": FIRST_METRICS_PORT}

    def port_for(kind: str, ports: dict, name: str) -> int:  # getUpdatePortNumMap
        if name not in ports:
            ports[name] = next_port[kind]
            next_port[kind] += 1
        return ports[name]

    def graph_defaults(unit: dict) -> None:  # addDefaultsToGraph
        if "type" not in unit and "methods" not in unit and "implementation" not in unit:
            unit["type"] = "MODEL"
        if "implementation" not in unit:
            unit["implementation"] = "UNKNOWN_IMPLEMENTATION"
        elif unit["implementation"] not in SIMPLE_IMPLEMENTATIONS:  # IsPrepack
            unit["type"] = "MODEL"
        for child in unit.get("children") or []:
            graph_defaults(child)

    def units(unit: dict) -> list[dict]:
        return [unit] + [u for child in unit.get("children") or [] for u in units(child)]

    for predictor in spec["predictors"]:
        predictor.setdefault("labels", {}).setdefault("version", predictor["name"])
        graph_defaults(predictor["graph"])
        for index, component in enumerate(predictor.get("componentSpecs") or []):
            for container in component["spec"]["containers"]:
                http = port_for("http", http_ports, container["name"])
                grpc = port_for("grpc", grpc_ports, container["name"])
                unit = next((u for u in units(predictor["graph"]) if u["name"] == container["name"]), None)
                if unit is None:
                    continue
                # setContainerPredictiveUnitDefaults
                container.setdefault("imagePullPolicy", "IfNotPresent")
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                endpoint = unit.setdefault("endpoint", {})
                http = next((p["containerPort"] for p in container.get("ports", []) if p["name"] == "http"), http)
                grpc = next((p["containerPort"] for p in container.get("ports", []) if p["name"] == "grpc"), grpc)
                if not any(m["name"] == PODINFO["name"] for m in container.get("volumeMounts", [])):
                    container.setdefault("volumeMounts", []).append(dict(PODINFO))
                if not any(p["name"] == "metrics" for p in container.get("ports", [])):
                    container.setdefault("ports", []).append(
                        {"name": "metrics", "containerPort": next_port["metrics"], "protocol": "TCP"}
                    )
                    next_port["metrics"] += 1
                assert index == 0, "a second componentSpec would name a service host, not localhost"
                endpoint["service_host"] = "localhost"
                grpc_transport = endpoint.get("type") == "GRPC" or spec.get("transport") == "grpc"
                endpoint["service_port"] = grpc if grpc_transport else http
                endpoint["httpPort"], endpoint["grpcPort"] = http, grpc
    return sdep


# --- the subset of jq the Applications use (Argo CD deletes each expression's matches) -------------
PATH_EXPRESSION = re.compile(r'^((?:\.[A-Za-z_][\w]*(?:\[\])?)+)(?: \| select\(\.(\w+) == "([^"]*)"\))?$')


def delete_matches(doc: dict, expression: str) -> int:
    """Deletes what a jqPathExpression of the form ``.a.b[].c`` (optionally ``[] | select(.k == "v")``)
    matches; returns how many values it deleted."""
    match = PATH_EXPRESSION.match(expression)
    assert match, f"{expression!r} is outside the jq subset this test evaluates"
    steps = re.findall(r"\.(\w+)(\[\])?", match.group(1))
    key, value = match.group(2), match.group(3)

    def walk(node, remaining) -> int:
        (name, each), rest = remaining[0], remaining[1:]
        if not isinstance(node, dict) or name not in node:
            return 0
        if not rest and not each:
            del node[name]
            return 1
        if not rest and each:  # the last step selects list items
            items = node[name]
            kept = [item for item in items if not (isinstance(item, dict) and item.get(key) == value)]
            node[name] = kept
            return len(items) - len(kept)
        children = node[name] if each else [node[name]]
        return sum(walk(child, rest) for child in children)

    return walk(doc, steps)


def normalised(doc: dict, expressions: list[str]) -> dict:
    doc = copy.deepcopy(doc)
    for expression in expressions:
        delete_matches(doc, expression)
    return doc


def two_way_equal(desired, live) -> bool:
    """Argo CD's comparison of what git says with what runs, where empty lists equal absent fields."""

    def clean(node):
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if v not in ([], {}, None)}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return clean(desired) == clean(live)


@pytest.fixture(scope="module")
def expressions(rendered) -> list[str]:
    found = []
    for doc in rendered["argocd/apps"]:
        (rule,) = doc["spec"]["ignoreDifferences"]
        assert (rule["group"], rule["kind"]) == ("machinelearning.seldon.io", "SeldonDeployment")
        found.append(rule["jqPathExpressions"])
    assert found and all(f == found[0] for f in found), "both environments ignore the same fields"
    return found[0]


def seldon_deployments(rendered) -> list[tuple[str, dict]]:
    found = []
    for environment in ("staging", "production"):
        (sdep,) = [d for d in rendered[f"model/overlays/{environment}"] if d["kind"] == "SeldonDeployment"]
        found.append((environment, sdep))
        canary = copy.deepcopy(sdep)  # promote --canary adds a second predictor like the main one
        second = copy.deepcopy(canary["spec"]["predictors"][0])
        second["name"], second["traffic"], canary["spec"]["predictors"][0]["traffic"] = "canary", 10, 90
        canary["spec"]["predictors"].append(second)
        found.append((f"{environment} with a canary", canary))
    return found


def test_the_defaulted_seldon_deployment_shows_no_diff(rendered, expressions):
    for name, sdep in seldon_deployments(rendered):
        live = seldon_defaults(sdep)
        assert live != sdep, "the defaulting adds fields (else this test proves nothing)"
        assert two_way_equal(normalised(sdep, expressions), normalised(live, expressions)), name


def test_each_ignored_field_is_one_the_defaulting_adds_and_none_is_superfluous(rendered, expressions):
    for name, sdep in seldon_deployments(rendered):
        live = seldon_defaults(sdep)
        for expression in expressions:
            assert delete_matches(copy.deepcopy(live), expression) > 0, f"{name}: {expression} matches nothing"
            assert delete_matches(copy.deepcopy(sdep), expression) == 0, f"{name}: {expression} hides a field we set"
            others = [e for e in expressions if e != expression]
            assert not two_way_equal(normalised(sdep, others), normalised(live, others)), (
                f"{name}: {expression} is not needed"
            )


def test_the_fields_we_set_carry_the_default_value_already(rendered):
    for name, sdep in seldon_deployments(rendered):
        live = seldon_defaults(sdep)
        for ours, defaulted in zip(sdep["spec"]["predictors"], live["spec"]["predictors"], strict=True):
            assert ours["graph"]["type"] == defaulted["graph"]["type"] == "MODEL", name
            for mine, theirs in zip(
                ours["componentSpecs"][0]["spec"]["containers"],
                defaulted["componentSpecs"][0]["spec"]["containers"],
                strict=True,
            ):
                assert mine["imagePullPolicy"] == theirs["imagePullPolicy"] == "IfNotPresent", name


@pytest.mark.skipif(shutil.which("jq") is None, reason="NOT RUN: no jq binary to cross-check the jq subset")
def test_the_jq_subset_agrees_with_jq(rendered, expressions):
    """Where a jq binary exists, its del() of each expression gives what the subset evaluator gives."""
    for _, sdep in seldon_deployments(rendered):
        live = seldon_defaults(sdep)
        for expression in expressions:
            done = subprocess.run(
                ["jq", "-c", f"del({expression})"], input=json.dumps(live), capture_output=True, text=True, check=True
            )
            mine = copy.deepcopy(live)
            delete_matches(mine, expression)
            assert json.loads(done.stdout) == mine, expression
