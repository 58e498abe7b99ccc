"""The Dockerfile, parsed (no Docker engine here): multi-stage, non-root, health-checked,
pinned base images, and the same `pip install` of this project that CI runs."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.helm.chart_util import CHART, ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; comments dropped, continuations joined."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        parsed.append((keyword.upper(), args.strip()))
    return parsed


def parse() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the stages."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = words[0]
            for name, value in args.items():
                image = image.replace(f"${{{name}}}", value).replace(f"${name}", value)
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, alias))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM, got {keyword}"
            name, _, default = rest.partition("=")
            args[name] = default.strip('"')
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse()[1]


def test_multi_stage_build(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    copies = runtime.all("COPY")
    assert any(c.startswith("--from=builder") and "/opt/venv" in c for c in copies), copies
    # The runtime stage installs nothing itself: it gets the builder's venv.
    assert not any("pip" in run for run in runtime.all("RUN"))


def test_base_images_are_pinned_python_311_slim(stages: list[Stage]) -> None:
    for stage in stages:
        repo, sep, tag = stage.image.rpartition(":")
        assert sep and repo and tag, f"untagged base image {stage.image}"
        assert tag != "latest", stage.image
        assert repo.endswith("python") and tag.startswith("3.11-slim"), stage.image
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_runtime_runs_as_non_root_uid_10001(stages: list[Stage]) -> None:
    runtime = stages[-1]
    user = runtime.last("USER")
    uid = user.split(":", 1)[0]
    assert uid not in {"root", "0"}
    assert uid == "10001"
    # The chart's podSecurityContext uses the same uid.
    assert "runAsUser: 10001" in (CHART / "values.yaml").read_text()
    # USER comes after every RUN of the stage, so nothing later runs as root.
    keywords = [kw for kw, _ in runtime.instructions]
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_healthcheck_hits_admin_healthz(stages: list[Stage]) -> None:
    check = stages[-1].last("HEALTHCHECK")
    assert "CMD" in check
    command = exec_form(check.split("CMD", 1)[1].strip())
    assert command[0] == "python"
    assert "http://127.0.0.1:9464/healthz" in command[-1]
    compile(command[-1], "<healthcheck>", "exec")  # the one-liner is valid Python


def test_entrypoint_cmd_and_ports(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert exec_form(runtime.last("ENTRYPOINT")) == ["extproc-router"]
    assert exec_form(runtime.last("CMD"))[0] == "serve"
    exposed = {port for line in runtime.all("EXPOSE") for port in line.split()}
    assert {"50051", "9464"} <= exposed


def test_install_is_pip_install_of_this_project(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = " && ".join(builder.all("RUN"))
    assert "python -m venv /opt/venv" in runs
    # `pip install .`, or `pip install ".[semantic]"` with EXTRAS=semantic: the install CI
    # does (scripts/bootstrap.sh adds -e and the dev extra for development).
    assert 'target="."' in runs and 'target=".[$EXTRAS]"' in runs
    assert re.search(r'python -m pip install "\$target"', runs), runs
    assert 'ARG EXTRAS=""' in DOCKERFILE.read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "semantic" in extras


def test_envoy_templates_ship_in_the_image(stages: list[Stage]) -> None:
    copied = [shlex.split(c) for stage in stages for c in stage.all("COPY")]
    assert any(args[0].rstrip("/") == "envoy" for args in copied if args)
    assert "envoy/*.yaml" in " ".join(stages[0].all("RUN"))  # into extproc/assets


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".git", ".venv", ".tools"} <= ignored
    for needed in ("pyproject.toml", "README.md", "extproc", "envoy"):
        assert needed not in ignored
