"""Which environment variables the deployment files set: compose, .env, Kubernetes, Dockerfile."""

from __future__ import annotations

from pathlib import Path

import yaml

from pgunify.dsn import MASK, SECRET_NAME, redact
from pgunify.facts.model import DeploymentSetting, FileProblem, Location

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
    """Through python-dotenv's parser, as the application's loader reads the file: quotes,
    `export`, trailing comments and values over several lines included. Lines it cannot
    parse are skipped, as the loader skips them."""
    from io import StringIO

    from dotenv.parser import parse_stream

    out = []
    for binding in parse_stream(StringIO(text)):
        if binding.error or binding.key is None:
            continue
        out.append(_setting(rel, binding.original.line, "dotenv", binding.key, binding.value))
    return out


def _dockerfile(text: str, rel: str) -> list[DeploymentSetting]:
    """Every ENV instruction through dockerfile-parse: continued lines, quoted values with
    spaces and the legacy `ENV NAME value` form. `$VAR` references stay as written."""
    from io import BytesIO

    from dockerfile_parse import DockerfileParser
    from dockerfile_parse.util import extract_key_values

    try:
        instructions = DockerfileParser(fileobj=BytesIO(text.encode("utf-8")), env_replace=False).structure
    except Exception:  # a file Docker would reject too; nothing reliable to report from it
        return []
    out = []
    for instruction in instructions:
        if instruction["instruction"] != "ENV":
            continue
        try:
            pairs = extract_key_values(env_replace=False, args={}, envs={}, instruction_value=instruction["value"])
        except Exception:
            continue
        lines = instruction["content"].splitlines()
        for name, value in pairs:
            offset = next((i for i, line in enumerate(lines)
                           if line.lstrip().startswith((f"{name}=", f"{name} ")) or f" {name}=" in line
                           or line.split()[1:2] == [name]), 0)
            out.append(_setting(rel, instruction["startline"] + offset + 1, "dockerfile", name, value))
    return out
