"""Strict stand-ins for kubectl, helm, docker and kind, for testing the hack/ scripts without a cluster.

Each stand-in refuses what the real tool refuses, as far as the scripts go: kubectl's and helm's commands
and flags (with the value sets their help states, e.g. ``--cascade``) are read from the pinned binaries'
own ``--help`` output; docker's and kind's, which are not on the build machines, are the documented ones
listed below. A refused call exits 1 with the real tool's kind of message, so a script that passes a
flag the real tool rejects fails its test.

Accepted calls are appended to a log (one JSON list per line: tool, then its arguments) and played
against a small cluster kept in a JSON state file: objects with a kind, name, namespace, labels,
finalizers, the Application that deployed them (``owner``) and the kustomization or Helm release that
made them (``source``). What is modelled is what teardown depends on: Argo CD deletes what an
Application deployed only when the Application carries the resources finalizer and Argo CD still runs;
an Application whose finalizer no controller clears stays; an Application with self-heal recreates a
namespace it deployed; deleting a namespace deletes what is in it.

Run as ``python standins.py TOOL ARGS...`` with STANDIN_STATE, STANDIN_LOG and (kubectl, helm)
STANDIN_SPEC set; :func:`install` writes the wrappers and the spec.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# The kubectl commands the hack/ scripts use; their flags come from `kubectl <command> --help`.
KUBECTL_COMMANDS = (
    "annotate",
    "apply",
    "cluster-info",
    "config current-context",
    "config use-context",
    "create namespace",
    "create secret generic",
    "delete",
    "describe",
    "get",
    "kustomize",
    "label",
    "logs",
    "patch",
    "rollout status",
    "version",
    "wait",
)
HELM_COMMANDS = ("list", "status", "uninstall", "upgrade", "version")

# docker and kind are not on the build machines: the subcommands and flags the scripts may use, as their
# references document them (docs.docker.com/reference/cli/docker/, kind.sigs.k8s.io/docs/user/quick-start).
DOCKER = {
    "info": {"--format": True, "-f": True},
    "inspect": {"--format": True, "-f": True, "--type": True},
    "run": {
        "-d": False,
        "--detach": False,
        "--restart": True,
        "-p": True,
        "--publish": True,
        "--network": True,
        "--name": True,
    },
    "rm": {"-f": False, "--force": False},
    "exec": {"-i": False, "--interactive": False},
    "network connect": {},
    "build": {"-f": True, "--file": True, "-t": True, "--tag": True, "--build-arg": True, "--platform": True},
    "push": {},
    "stop": {},
    "image inspect": {"--format": True, "-f": True},
    "manifest inspect": {"--insecure": False},
}
KIND = {
    "version": {},
    "get clusters": {},
    "get nodes": {"--name": True},
    "create cluster": {"--config": True, "--wait": True, "--name": True, "--image": True},
    "delete cluster": {"--name": True},
    "load docker-image": {"--name": True},
}


def _as_spec(table: dict[str, dict[str, bool]]) -> dict[str, dict]:
    return {command: {f: {"value": v, "choices": None} for f, v in flags.items()} for command, flags in table.items()}


DOCKER_SPEC = _as_spec(DOCKER)
KIND_SPEC = _as_spec(KIND)


def _help(binary: str, words: list[str]) -> str:
    done = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{binary} {' '.join(words)} --help failed: {done.stderr}"
    return done.stdout


def _choices(description: str) -> list[str] | None:
    match = re.search(r'Must be ((?:"[a-z-]+", )+or "[a-z-]+")', description)
    return re.findall(r'"([a-z-]+)"', match.group(1)) if match else None


def kubectl_spec(kubectl: str) -> dict:
    """Reads every command's flags from the kubectl's help: {command: {flag: {"value": bool, "choices": [...]}}}."""
    flag_line = re.compile(r"^\s+(?:-(\w), )?--([\w-]+)=(.*):$")

    def flags(text: str) -> dict:
        found, lines = {}, text.splitlines()
        for i, line in enumerate(lines):
            match = flag_line.match(line)
            if not match:
                continue
            short, name, default = match.groups()
            description = lines[i + 1] if i + 1 < len(lines) else ""
            entry = {"value": default not in ("true", "false"), "choices": _choices(description)}
            found[f"--{name}"] = entry
            if short:
                found[f"-{short}"] = entry
        return found

    spec = {"global": flags(subprocess.run([kubectl, "options"], capture_output=True, text=True).stdout)}
    for command in KUBECTL_COMMANDS:
        spec[command] = flags(_help(kubectl, command.split()))
    return spec


def helm_spec(helm: str) -> dict:
    """Reads every command's flags from helm's help (cobra's layout: ``-x, --name type  text``)."""
    flag_line = re.compile(r"^\s+(?:-(\w), )?--([\w-]+)(?: (\S+))?\s{2,}(.*)$")

    def flags(text: str) -> dict:
        found = {}
        for line in text.splitlines():
            match = flag_line.match(line)
            if not match:
                continue
            short, name, kind, description = match.groups()
            entry = {
                "value": bool(kind) and "[=" not in kind,
                "optional_value": bool(kind) and "[=" in kind,
                "choices": _choices(description),
            }
            found[f"--{name}"] = entry
            if short:
                found[f"-{short}"] = entry
        return found

    return {command: flags(_help(helm, command.split())) for command in HELM_COMMANDS}


def install(folder: Path, state: dict, kubectl: str | None = None, helm: str | None = None) -> dict[str, str]:
    """Writes the stand-ins into folder/bin, the state and the specs; returns the environment to run with."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    spec = {}
    if kubectl:
        spec["kubectl"] = kubectl_spec(kubectl)
    if helm:
        spec["helm"] = helm_spec(helm)
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "calls.log").write_text("")
    for tool in ("kubectl", "helm", "docker", "kind"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    return {
        "STANDIN_STATE": str(folder / "state.json"),
        "STANDIN_LOG": str(folder / "calls.log"),
        "STANDIN_SPEC": str(folder / "spec.json"),
        "KUBECTL": str(bin_dir / "kubectl"),
        "HELM": str(bin_dir / "helm"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }


def calls(folder: Path) -> list[list[str]]:
    """The accepted calls, in order."""
    return [json.loads(line) for line in (folder / "calls.log").read_text().splitlines()]


class Refused(Exception):
    """The real tool would reject these arguments."""


# docker run IMAGE CMD... and docker exec CONTAINER CMD...: flags after the first argument are the command's.
NOT_INTERSPERSED = {"run", "exec"}


def parse(argv: list[str], commands: dict[str, dict], global_flags: dict | None = None) -> tuple[str, list, dict]:
    """Splits argv into (command, positionals, {flag: value}) and refuses what the tool would.

    The command is the longest known one made of the leading words (the scripts put it first); its
    flags, and the tool's global ones, decide which flags take a value.
    """
    global_flags = global_flags or {}
    command = next(
        (c for c in sorted(commands, key=lambda c: -len(c.split())) if argv[: len(c.split())] == c.split()),
        None,
    )
    if command is None:
        raise Refused(f'unknown command "{" ".join(argv[:2])}"')
    allowed = commands[command] | global_flags
    positionals, given = [], {}
    rest = argv[len(command.split()) :]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--" or (positionals and command in NOT_INTERSPERSED and commands is DOCKER_SPEC):
            positionals.extend(rest[i + 1 :] if word == "--" else rest[i:])
            break
        if word.startswith("-") and word != "-":
            name, eq, value = word.partition("=")
            entry = allowed.get(name)
            if entry is None:
                raise Refused(f"unknown flag: {name} (for {command})")
            if entry.get("value") and not eq:
                if i + 1 >= len(rest):
                    raise Refused(f"flag needs an argument: {name}")
                value, i = rest[i + 1], i + 1
            given.setdefault(name, []).append(value if (eq or entry.get("value")) else "true")
        else:
            positionals.append(word)
        i += 1
    for name, values in given.items():
        choices = allowed[name].get("choices")
        for value in values:
            if choices and value not in choices:
                raise Refused(f'invalid argument "{value}" for "{name}": must be one of {", ".join(choices)}')
    return command, positionals, {name: values[-1] for name, values in given.items()}


DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
KIND_ALIASES = {
    "application": "Application",
    "applications": "Application",
    "app": "Application",
    "applications.argoproj.io": "Application",
    "appproject": "AppProject",
    "appprojects": "AppProject",
    "namespace": "Namespace",
    "namespaces": "Namespace",
    "ns": "Namespace",
    "crd": "CustomResourceDefinition",
    "crds": "CustomResourceDefinition",
    "customresourcedefinition": "CustomResourceDefinition",
    "seldondeployment": "SeldonDeployment",
    "seldondeployments": "SeldonDeployment",
    "sdep": "SeldonDeployment",
    "job": "Job",
    "deployment": "Deployment",
    "service": "Service",
    "secret": "Secret",
}
ALIAS = {
    "-n": "--namespace",
    "-l": "--selector",
    "-o": "--output",
    "-k": "--kustomize",
    "-p": "--patch",
    "-f": "--filename",
}
FINALIZER = "resources-finalizer.argocd.argoproj.io"


class Cluster:
    """The objects of the state file and the Argo CD behaviour teardown depends on."""

    def __init__(self, path: Path):
        self.path = path
        self.state = json.loads(path.read_text())
        self.state.setdefault("objects", [])
        self.state.setdefault("argocd_running", False)

    def save(self) -> None:
        self.path.write_text(json.dumps(self.state))

    @property
    def objects(self) -> list[dict]:
        return self.state["objects"]

    def find(self, kind: str, namespace: str | None, name: str | None = None, selector: str | None = None):
        found = [o for o in self.objects if o["kind"] == kind]
        if kind not in ("Namespace", "CustomResourceDefinition") and namespace is not None:
            found = [o for o in found if o.get("namespace") == namespace]
        if name is not None:
            found = [o for o in found if o["name"] == name]
        if selector:
            pairs = dict(p.split("=", 1) for p in selector.split(","))
            found = [o for o in found if all(o.get("labels", {}).get(k) == v for k, v in pairs.items())]
        return found

    def delete(self, target: dict) -> bool:
        """Deletes an object as the API server and Argo CD would; returns False when it stays (finalizer)."""
        if target not in self.objects:
            return True
        if target["kind"] == "Application" and target.get("finalizers"):
            target["deleting"] = True
            if not self.state["argocd_running"]:
                return False  # nobody clears the finalizer
            for child in [o for o in self.objects if o.get("owner") == target["name"]]:
                self.delete(child)
        if target["kind"] == "Namespace":
            reviving = [
                a
                for a in self.objects
                if a["kind"] == "Application" and not a.get("deleting") and a["name"] == target.get("owner")
            ]
            if reviving and self.state["argocd_running"]:
                return False  # self-heal recreates it at once
            for inner in [o for o in self.objects if o.get("namespace") == target["name"]]:
                self.delete(inner)
        if target in self.objects:
            self.objects.remove(target)
        if target.get("source") == "manifests/remote/argocd" and target["kind"] == "Deployment":
            self.state["argocd_running"] = False
        return target not in self.objects


def _kind(word: str) -> str:
    return KIND_ALIASES.get(word.lower(), word)


def kubectl(argv: list[str], spec: dict, cluster: Cluster) -> int:
    commands = {c: flags for c, flags in spec.items() if c != "global"}
    command, args, flags = parse(argv, commands, spec["global"])
    flags = {ALIAS.get(k, k): v for k, v in flags.items()}
    for name in ("--timeout", "--request-timeout"):
        if name in flags and not DURATION.match(flags[name]) and flags[name] != "0":
            raise Refused(f'invalid argument "{flags[name]}" for "{name}" flag: time: invalid duration')
    namespace = flags.get("--namespace")
    if command == "config current-context":
        print(cluster.state.get("context", "kind-mlcycle"))
        return 0
    if command == "wait":
        condition = flags.get("--for", "")
        if not re.match(r"^(delete|create|condition=\S+|jsonpath=.+)$", condition):
            raise Refused(f"unrecognized condition: {condition!r}")
        target = args[0] if args else ""
        status = cluster.state.get("application_status", {}).get(target.split("/")[-1], {})
        expected = re.match(r"^jsonpath=\{\.status\.(sync|health)\.status\}=(\w+)$", condition)
        if (
            target.startswith("application/")
            and expected
            and status.get(expected.group(1), expected.group(2)) != expected.group(2)
        ):
            print(f"error: timed out waiting for the condition on applications/{target.split('/')[1]}", file=sys.stderr)
            return 1
        if condition == "delete":
            kind = _kind(args[0].split("/")[0])
            name = args[0].split("/")[1] if "/" in args[0] else (args[1] if len(args) > 1 else None)
            left = cluster.find(kind, namespace, name, flags.get("--selector"))
            if left:
                print(
                    f"error: timed out waiting for the condition on {kind.lower()}s/{left[0]['name']}", file=sys.stderr
                )
                return 1
        return 0
    if command == "get" and "--raw" in flags:
        print("ok")
        return 0
    if command == "get":
        kind = _kind(args[0].split("/")[0])
        name = args[0].split("/")[1] if "/" in args[0] else (args[1] if len(args) > 1 else None)
        found = cluster.find(kind, namespace, name, flags.get("--selector"))
        if name and not found and flags.get("--ignore-not-found") != "true":
            print(f'Error from server (NotFound): {kind.lower()}s "{name}" not found', file=sys.stderr)
            return 1
        for item in found:
            print(f"{kind.lower()}/{item['name']}" if flags.get("--output") == "name" else item["name"])
        return 0
    if command == "patch":
        kind, name = _kind(args[0]), args[1]
        (target,) = cluster.find(kind, namespace, name) or [None]
        if target is None:
            print(f'Error from server (NotFound): {kind.lower()}s "{name}" not found', file=sys.stderr)
            return 1
        if flags.get("--type") not in ("merge", "json", "strategic") and "--type" in flags:
            raise Refused("--type must be json, merge or strategic")
        patch = json.loads(flags["--patch"])
        if "finalizers" in patch.get("metadata", {}):
            target["finalizers"] = patch["metadata"]["finalizers"] or []
        cluster.save()
        return 0
    if command == "delete":
        if "--kustomize" in flags:
            targets = [o for o in cluster.objects if o.get("source") == flags["--kustomize"]]
        else:
            named = (
                [(_kind(a.split("/")[0]), a.split("/")[1]) for a in args]
                if "/" in args[0]
                else [(_kind(args[0]), name) for name in args[1:]]
            )
            targets = [t for kind, name in named for t in cluster.find(kind, namespace, name)]
            missing = [name for kind, name in named if not cluster.find(kind, namespace, name)]
            if missing and flags.get("--ignore-not-found") != "true":
                print(f'Error from server (NotFound): "{missing[0]}" not found', file=sys.stderr)
                return 1
        stuck = [t for t in list(targets) if not cluster.delete(t)]
        cluster.save()
        if stuck and flags.get("--wait", "true") == "true":
            print(
                f"error: timed out waiting for the condition on {stuck[0]['kind'].lower()}s/{stuck[0]['name']}",
                file=sys.stderr,
            )
            return 1
        return 0
    return 0  # apply, create, rollout status, label, ...: accepted, nothing modelled


def helm(argv: list[str], spec: dict, cluster: Cluster) -> int:
    command, args, flags = parse(argv, spec)
    if command == "version":
        print('version.BuildInfo{Version:"v4.1.4"}')
    if command == "uninstall":
        release = args[0]
        for target in [o for o in cluster.objects if o.get("source") == f"helm:{release}"]:
            cluster.delete(target)
        cluster.save()
    return 0


def docker(argv: list[str], state: dict) -> int:
    """The Docker engine as the scripts see it: a registry container, the kind network, builds, pushes."""
    command, args, flags = parse(argv, DOCKER_SPEC)
    containers = state.setdefault("containers", {})
    if command == "info" and "--format" in flags:
        print(state.get("docker_info", "8 12884901888"))
    elif command == "run":
        containers[flags["--name"]] = {"running": True, "networks": ["bridge"]}
    elif command == "rm":
        containers.pop(args[0], None)
    elif command == "inspect":
        if args[0] not in containers:
            print(f"Error: No such object: {args[0]}", file=sys.stderr)
            return 1
        form = flags.get("-f") or flags.get("--format") or ""
        if "State.Running" in form:
            print("true" if containers[args[0]]["running"] else "false")
        elif "Networks.kind" in form:
            print("{}" if "kind" in containers[args[0]]["networks"] else "null")
    elif command == "network connect":
        containers[args[1]]["networks"].append(args[0])
    elif command == "push":
        state.setdefault("pushed", []).append(args[0])
    return 0


def kind(argv: list[str], state: dict) -> int:
    command, args, flags = parse(argv, KIND_SPEC)
    clusters = state.setdefault("clusters", [])
    if command == "version":
        print(f"kind {state.get('kind_version', 'v0.32.0')} go1.25 linux/amd64")
    elif command == "get clusters":
        print("\n".join(clusters))
    elif command == "get nodes":
        print(f"{flags['--name']}-control-plane\n{flags['--name']}-worker")
    elif command == "create cluster":
        if "--wait" in flags and not DURATION.match(flags["--wait"]):
            raise Refused(f'invalid argument "{flags["--wait"]}" for "--wait" flag')
        clusters.append("mlcycle")
    elif command == "delete cluster":
        clusters.remove(flags["--name"]) if flags["--name"] in clusters else None
    return 0


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    environ = os.environ
    try:
        if tool in ("kubectl", "helm"):
            spec = json.loads(Path(environ["STANDIN_SPEC"]).read_text())[tool]
            cluster = Cluster(Path(environ["STANDIN_STATE"]))
            code = (kubectl if tool == "kubectl" else helm)(args, spec, cluster)
        else:
            path = Path(environ["STANDIN_STATE"])
            state = json.loads(path.read_text())
            code = (docker if tool == "docker" else kind)(args, state)
            path.write_text(json.dumps(state))
    except Refused as refusal:
        with open(environ["STANDIN_LOG"], "a") as log:
            log.write(json.dumps(["REFUSED", tool, *args]) + "\n")
        print(f"Error: {refusal}", file=sys.stderr)
        return 1
    with open(environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
