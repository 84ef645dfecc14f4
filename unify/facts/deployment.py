"""Which environment variables the deployment files set: compose, .env, Kubernetes, Dockerfile."""

from __future__ import annotations

from pathlib import Path

import yaml

from unify.dsn import MASK, SECRET_NAME, redact
from unify.facts.model import DeploymentSetting, FileProblem, Location

_K8S_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Pod", "Job", "CronJob", "ReplicaSet", "ConfigMap", "Secret"}


def read_deployment_file(path: Path, rel: str) -> tuple[str | None, list[DeploymentSetting], FileProblem | None]:
    """Return (file kind or None if not a deployment file, settings, problem)."""
    name = path.name.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [], FileProblem(rel, f"cannot read deployment file: {exc}")
    if name.endswith((".yml", ".yaml")):
        try:
            documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            return None, [], FileProblem(rel, f"YAML does not parse{where}: {getattr(exc, 'problem', exc)}")
        if name.startswith(("docker-compose", "compose")):
            settings = [s for doc in documents if doc is not None for s in _compose(doc, rel)]
            return "compose", settings, None
        k8s = [s for doc in documents if doc is not None for s in _kubernetes(doc, rel)]
        if any(_is_k8s(doc) for doc in documents if doc is not None):
            return "kubernetes", k8s, None
        return None, [], None
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile", _dockerfile(text, rel), None
    return "dotenv", _dotenv(text, rel), None


def _setting(rel: str, line: int, kind: str, name: str, value: str | None) -> DeploymentSetting:
    if value is not None and SECRET_NAME.search(name):
        value = MASK  # POSTGRES_PASSWORD=... and the like: secret whatever the value looks like
    return DeploymentSetting(Location(rel, line), kind, name.strip(), None if value is None else redact(value.strip()))


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _env_entries(env: yaml.Node, rel: str, kind: str) -> list[DeploymentSetting]:
    out: list[DeploymentSetting] = []
    if isinstance(env, yaml.MappingNode):
        for k, v in env.value:
            value = v.value if isinstance(v, yaml.ScalarNode) and v.value != "" else None
            out.append(_setting(rel, k.start_mark.line + 1, kind, str(k.value), value))
    elif isinstance(env, yaml.SequenceNode):
        for item in env.value:
            if isinstance(item, yaml.ScalarNode):
                name, _, value = item.value.partition("=")
                out.append(_setting(rel, item.start_mark.line + 1, kind, name, value if _ else None))
            elif isinstance(item, yaml.MappingNode):  # Kubernetes: {name: X, value: Y | valueFrom: ...}
                name = _mapping_get(item, "name")
                value = _mapping_get(item, "value")
                if isinstance(name, yaml.ScalarNode):
                    out.append(_setting(rel, name.start_mark.line + 1, kind, name.value,
                                        value.value if isinstance(value, yaml.ScalarNode) else None))
    return out


def _compose(doc: yaml.Node, rel: str) -> list[DeploymentSetting]:
    services = _mapping_get(doc, "services")
    out: list[DeploymentSetting] = []
    if not isinstance(services, yaml.MappingNode):
        return out
    for _, service in services.value:
        env = _mapping_get(service, "environment")
        if env is not None:
            out.extend(_env_entries(env, rel, "compose"))
    return out


def _is_k8s(doc: yaml.Node) -> bool:
    kind = _mapping_get(doc, "kind")
    return _mapping_get(doc, "apiVersion") is not None and isinstance(kind, yaml.ScalarNode) and kind.value in _K8S_WORKLOADS


def _kubernetes(doc: yaml.Node, rel: str) -> list[DeploymentSetting]:
    if not _is_k8s(doc):
        return []
    kind = _mapping_get(doc, "kind").value  # type: ignore[union-attr]
    if kind in ("ConfigMap", "Secret"):
        out = []
        for key in ("data", "stringData"):
            data = _mapping_get(doc, key)
            if isinstance(data, yaml.MappingNode):
                for k, v in data.value:
                    value = v.value if kind == "ConfigMap" and isinstance(v, yaml.ScalarNode) else None
                    out.append(_setting(rel, k.start_mark.line + 1, "kubernetes", str(k.value), value))
        return out
    out = []

    def visit(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "env" and isinstance(v, yaml.SequenceNode):
                    out.extend(_env_entries(v, rel, "kubernetes"))
                else:
                    visit(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                visit(item)

    visit(doc)
    return out


def _dotenv(text: str, rel: str) -> list[DeploymentSetting]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):]
        name, _, value = stripped.partition("=")
        out.append(_setting(rel, number, "dotenv", name, value.strip().strip("'\"")))
    return out


def _dockerfile(text: str, rel: str) -> list[DeploymentSetting]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].upper() == "ENV":
            body = words[1]
            if "=" in body.split(None, 1)[0]:
                for pair in body.split():
                    name, _, value = pair.partition("=")
                    out.append(_setting(rel, number, "dockerfile", name, value.strip("'\"")))
            else:
                name, _, value = body.partition(" ")
                out.append(_setting(rel, number, "dockerfile", name, value))
    return out
