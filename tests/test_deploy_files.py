"""Static checks of the deployment files (no Docker engine runs here).

``docker-compose config -q`` (Debian's docker-compose 1.29) validates the compose
file's structure; the checks below catch what it cannot: a service command that
is not one of our CLI verbs, a build context or Dockerfile that is missing, a
``COPY`` of a path that does not exist in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def cli_verbs() -> set[str]:
    subparsers = next(a for a in build_parser()._actions if a.dest == "verb")
    return set(subparsers.choices)


def dockerfile_sources(dockerfile: Path) -> list[str]:
    """Source paths of every COPY/ADD instruction (flags and destination dropped)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD") and "--from" not in line:
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def deployment_problems(compose_file: Path) -> list[str]:
    """Everything in a compose file that refers to something that does not exist."""
    root = compose_file.parent
    spec = yaml.safe_load(compose_file.read_text())
    problems = []
    for name, service in spec["services"].items():
        build = service.get("build")
        if build:
            context = root / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / (
                build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            )
            if not dockerfile.is_file():
                problems.append(f"{name}: no Dockerfile at {dockerfile}")
            else:
                problems += [
                    f"{name}: Dockerfile copies missing {src}"
                    for src in dockerfile_sources(dockerfile)
                    if not (context / src).exists()
                ]
        command = service.get("command")
        if build and command:
            argv = command if isinstance(command, list) else command.split()
            if argv[0] != "v2m" or len(argv) < 2 or argv[1] not in cli_verbs():
                problems.append(f"{name}: command {' '.join(argv)!r} is not a v2m verb")
        for dependency in service.get("depends_on", {}):
            if dependency not in spec["services"]:
                problems.append(f"{name}: depends on undefined service {dependency}")
    return problems


def compose_config_errors(compose_file: Path) -> str:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (Debian package) is installed by scripts/install.sh"
    result = subprocess.run(
        [binary, "-f", str(compose_file), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=compose_file.parent,
    )
    return "" if result.returncode == 0 else result.stderr.strip() or "invalid"


def test_compose_file_validates() -> None:
    assert compose_config_errors(ROOT / "docker-compose.yml") == ""


def test_every_command_and_copied_path_exists() -> None:
    assert deployment_problems(ROOT / "docker-compose.yml") == []


def test_compose_has_the_designed_services() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert all("healthcheck" in services[s] for s in ("postgres", "redis", "api", "worker"))
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]


def test_the_milvus_profile_runs_a_health_checked_pinned_milvus() -> None:
    """Milvus standalone with its etcd and object store, only under the ``milvus``
    profile, each health-checked on a pinned tag; api and worker read the index URL."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    milvus = ("milvus", "milvus-etcd", "milvus-minio")
    for name in milvus:
        service = services[name]
        assert service["profiles"] == ["milvus"] and "healthcheck" in service
        tag = service["image"].rpartition(":")[2]
        assert tag and tag != "latest" and "/" not in tag, service["image"]
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"]
    assert set(services["milvus"]["depends_on"]) == {"milvus-etcd", "milvus-minio"}
    for name in ("api", "worker"):
        assert "profiles" not in services[name]
        assert services[name]["environment"]["V2M_INDEX_URL"] == "${V2M_INDEX_URL:-}"


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (('["v2m", "worker", "--concurrency", "1"]', '["v2m", "wrker"]'), "not a v2m verb"),
        (("dockerfile: Dockerfile", "dockerfile: Dockerfile.missing"), "no Dockerfile"),
        (("COPY ml/ ml/", "COPY nonexistent/ ml/"), "copies missing nonexistent/"),
    ],
)
def test_broken_deployments_are_caught(tmp_path, mutation, expected) -> None:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    for path in ("app", "worker", "ml", "migrations", "requirements", "scripts"):
        (tmp_path / path).symlink_to(ROOT / path)
    for path in ("pyproject.toml", "README.md", "alembic.ini"):
        (tmp_path / path).symlink_to(ROOT / path)
    old, new = mutation
    for name in ("docker-compose.yml", "Dockerfile"):
        text = (tmp_path / name).read_text()
        (tmp_path / name).write_text(text.replace(old, new))
    assert any(expected in p for p in deployment_problems(tmp_path / "docker-compose.yml"))


def test_compose_config_rejects_a_wrong_type(tmp_path) -> None:
    broken = (
        (ROOT / "docker-compose.yml")
        .read_text()
        .replace('ports:\n      - "8000:8000"', "ports: 8000")
    )
    (tmp_path / "docker-compose.yml").write_text(broken)
    assert compose_config_errors(tmp_path / "docker-compose.yml")


def test_the_gpu_profile_serves_queries_on_the_gpu_and_falls_back() -> None:
    """Under the ``gpu`` profile the API itself gets a GPU (a query's analysis runs in
    the API process), with the API's command and health check, and its device left to
    "auto" so that a node without a visible GPU still answers on the CPU."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    api, gpu = services["api"], services["api-gpu"]
    assert gpu["profiles"] == ["gpu"] and "profiles" not in api
    assert gpu["command"] == api["command"] and gpu["healthcheck"] == api["healthcheck"]
    assert gpu["build"]["args"]["VARIANT"] == "gpu"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["capabilities"] == ["gpu"] and device["count"] == 1
    assert gpu["environment"]["V2M_DEVICE"] == "auto"
