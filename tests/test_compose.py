"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine.

The compose file is parsed with PyYAML (merge keys resolved, as compose does) and checked
for what the scale-out story relies on: one storage URL for every tuner service, workers
that wait for a healthy database, shared artifacts, and credentials only in the git-ignored
``.env`` whose every variable ``.env.example`` documents.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
TUNER_SERVICES = ("dashboard", "worker")
#: ${NAME}, ${NAME:-default}, ${NAME:?error}; "$${NAME}" is the container's own variable
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def _mounts(service: str) -> dict[str, str]:
    """{source: target} of a service's short-syntax volumes."""
    return dict(v.split(":")[:2] for v in SERVICES[service].get("volumes", []))


def test_services():
    assert set(SERVICES) == {"postgres", "dashboard", "worker"}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    for name in TUNER_SERVICES:
        assert SERVICES[name]["build"] == "."


def test_every_tuner_service_uses_one_storage_url():
    urls = {SERVICES[name]["environment"]["TUNER_STORAGE"] for name in TUNER_SERVICES}
    (url,) = urls
    assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
    for part in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert "${" + part in url  # from .env, never written in the compose file


def test_tuner_services_wait_for_a_healthy_database():
    healthcheck = SERVICES["postgres"]["healthcheck"]
    assert "pg_isready" in " ".join(healthcheck["test"])
    for name in TUNER_SERVICES:
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_commands():
    assert SERVICES["dashboard"]["command"][:3] == ["dashboard", "--host", "0.0.0.0"]
    assert SERVICES["dashboard"]["ports"] == ["${DASHBOARD_BIND:-127.0.0.1}:8080:8080"]
    run = SERVICES["worker"]["command"]
    assert run[:2] == ["run", "${TUNER_STUDY:-studies/weight_decay.py}"]
    # Scalable: no fixed name and no published port, which `--scale worker=4` would clash on.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]


def test_volumes():
    assert _mounts("postgres") == {"pgdata": "/var/lib/postgresql/data"}
    for name in TUNER_SERVICES:
        target = SERVICES[name]["environment"]["TUNER_ARTIFACTS"]
        assert _mounts(name)["artifacts"] == target == "/artifacts"
    assert set(COMPOSE["volumes"]) == {"pgdata", "artifacts"}


def test_credentials_live_in_the_ignored_env_file():
    assert SERVICES["postgres"]["env_file"] == ".env"
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
        assert ignored.returncode == 0, ".env must be git-ignored"
        assert subprocess.run(["git", "check-ignore", "-q", ".env.example"],
                              cwd=ROOT).returncode == 1
    else:
        assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_env_example_has_every_variable_the_compose_file_uses():
    used = set(VARIABLE.findall(COMPOSE_TEXT))
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "TUNER_STUDY"} <= used
    example = _env_example()
    assert used - set(example) == set()
    assert all(example[name] for name in used)


@pytest.mark.parametrize("line", [
    "FROM python:3.11-slim",
    "--index-url https://download.pytorch.org/whl/cpu",
    "RUN pip install .",
    'ENTRYPOINT ["tuner"]',
])
def test_dockerfile(line):
    assert line in (ROOT / "Dockerfile").read_text()


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "storage", ".git"} <= set(ignored)
