"""deploy/: the Slurm and Kubernetes recipes of docs/clusters.md, checked without a cluster.

The manifests are parsed with PyYAML and checked for what the workers rely on: a GPU and a
grace period per worker pod, the exit codes the Job must tell apart, one shared artifact
volume, the storage URLs from one Secret, and the proxy's Service where the workers' grpc://
URL points. The Slurm script runs under plain bash with a stub ``tuner`` on PATH: SIGTERM
to the script must reach tuner, and tuner's exit code must be the task's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from tuner.cli import app

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
SBATCH = ROOT / "deploy" / "slurm" / "tuner-array.sbatch"
MANIFESTS = {path.name: list(yaml.safe_load_all(path.read_text()))
             for path in sorted(K8S.glob("*.yaml"))}
SECRET = MANIFESTS["secret.example.yaml"][0]
ARTIFACTS_CLAIM = "tuner-artifacts"
DATA_CLAIM = "tuner-data"  # the user's dataset claim: not made by these manifests


def _object(kind: str, name: str) -> dict:
    (found,) = [doc for docs in MANIFESTS.values() for doc in docs
                if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def _workloads() -> list[dict]:
    return [doc for docs in MANIFESTS.values() for doc in docs
            if doc["kind"] in ("Job", "Deployment")]


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _container(workload: dict) -> dict:
    (container,) = _pod(workload)["containers"]
    return container


def _env(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def _secret_value(container: dict, name: str) -> str:
    ref = _env(container)[name]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == SECRET["metadata"]["name"]
    return SECRET["stringData"][ref["key"]]


def _mount_of(workload: dict, path: str) -> tuple[dict, dict]:
    """(volumeMount, volume) of the volume mounted at ``path``."""
    (mount,) = [m for m in _container(workload)["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in _pod(workload)["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def _tuner_command(container: dict) -> list[str]:
    return [*container["command"], *container["args"]]


def _option_value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


# Kubernetes


def test_every_manifest_is_a_list_of_objects():
    assert set(MANIFESTS) == {"workers-job.yaml", "proxy.yaml", "dashboard.yaml",
                              "artifacts-pvc.yaml", "secret.example.yaml",
                              "kustomization.yaml"}
    for file, docs in MANIFESTS.items():
        assert docs and all(isinstance(doc, dict) for doc in docs), file
        for doc in docs:
            assert doc["apiVersion"] and doc["kind"], file
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"].startswith("tuner-"), file
                assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "tuner", file


def test_kustomization_applies_everything_but_the_secret_example():
    (kustomization,) = MANIFESTS["kustomization.yaml"]
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(
        set(MANIFESTS) - {"kustomization.yaml", "secret.example.yaml"})
    (image,) = kustomization["images"]
    assert {c["image"] for w in _workloads() for c in _pod(w)["containers"]} == {image["name"]}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_recipe():
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    docs = list(yaml.safe_load_all(built))
    assert sorted(doc["kind"] for doc in docs) == [
        "Deployment", "Deployment", "Job", "PersistentVolumeClaim", "Service", "Service"]
    (image,) = MANIFESTS["kustomization.yaml"][0]["images"]
    for doc in docs:
        pod = doc["spec"]["template"]["spec"] if "template" in doc.get("spec", {}) else {}
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            assert container["image"] == f"{image['newName']}:{image['newTag']}"


def test_pods_refer_to_what_exists():
    claims = {doc["metadata"]["name"] for doc in MANIFESTS["artifacts-pvc.yaml"]}
    for workload in _workloads():
        pod, name = _pod(workload), workload["metadata"]["name"]
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in pod["containers"] + pod.get("initContainers", []):
            assert {m["name"] for m in container.get("volumeMounts", [])} <= set(volumes), name
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in SECRET["stringData"], (name, item["name"])
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert claim in claims | {DATA_CLAIM}, name
        labels = workload["spec"]["template"]["metadata"]["labels"]
        if workload["kind"] == "Deployment":
            assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_services_select_one_deployment_and_its_named_port():
    services = [doc for docs in MANIFESTS.values() for doc in docs if doc["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"tuner-proxy", "tuner-dashboard"}
    for service in services:
        selector = service["spec"]["selector"].items()
        (target,) = [w for w in _workloads()
                     if selector <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert target["kind"] == "Deployment"
        ports = {p["name"]: p["containerPort"] for p in _container(target)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
            argv = _tuner_command(_container(target))
            assert int(_option_value(argv, "--port")) == ports[port["targetPort"]]
            assert _option_value(argv, "--host") == "0.0.0.0"  # inside its pod only


def test_worker_job():
    job = _object("Job", "tuner-workers")
    spec, pod, worker = job["spec"], _pod(job), _container(job)
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] >= 1 and spec["completions"] == spec["parallelism"]
    assert pod["restartPolicy"] == "Never"  # what podFailurePolicy requires
    # SIGTERM -> the trial back in the queue at the next batch, exit 143: seconds.
    assert pod["terminationGracePeriodSeconds"] >= 30
    for container in pod["containers"]:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    argv = _tuner_command(worker)
    assert argv[:2] == ["tuner", "run"] and _option_value(argv, "--workers") == "1"


def test_worker_exit_codes():
    rules = _object("Job", "tuner-workers")["spec"]["podFailurePolicy"]["rules"]
    by_code = {code: rule["action"] for rule in rules if "onExitCodes" in rule
               for code in rule["onExitCodes"]["values"]
               if rule["onExitCodes"]["operator"] == "In"}
    assert by_code[2] == "FailJob"  # a mistake found before anything ran: every pod meets it
    assert by_code[143] == "Ignore" and by_code[130] == "Ignore"  # stopped cleanly: resumable
    assert 0 not in by_code and 1 not in by_code
    assert any(rule["action"] == "Ignore" and rule["onPodConditions"][0]["type"]
               == "DisruptionTarget" for rule in rules if "onPodConditions" in rule)


def test_worker_storage_artifacts_data_and_cache():
    job = _object("Job", "tuner-workers")
    worker, env = _container(job), _env(_container(job))
    assert _secret_value(worker, "TUNER_STORAGE") == SECRET["stringData"]["worker-url"]
    _, artifacts = _mount_of(job, env["TUNER_ARTIFACTS"]["value"])
    claim = artifacts["persistentVolumeClaim"]["claimName"]
    pvc = _object("PersistentVolumeClaim", claim)
    assert claim == ARTIFACTS_CLAIM and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    mount, data = _mount_of(job, "/data")
    assert mount["readOnly"] and data["persistentVolumeClaim"]["readOnly"]
    assert _option_value(_tuner_command(worker), "--data").startswith("folder:/data/")
    _, cache = _mount_of(job, env["TUNER_DATA_CACHE"]["value"])
    assert "emptyDir" in cache  # per machine, never the shared volume


def test_proxy_serves_the_workers_grpc_url():
    proxy = _container(_object("Deployment", "tuner-proxy"))
    assert _tuner_command(proxy)[:2] == ["tuner", "proxy"]
    assert _secret_value(proxy, "TUNER_STORAGE").startswith("postgresql+psycopg://")
    url = urlsplit(SECRET["stringData"]["worker-url"])
    service = _object("Service", "tuner-proxy")
    (port,) = service["spec"]["ports"]
    assert (url.scheme, url.hostname, url.port) == (
        "grpc", service["metadata"]["name"], port["port"])


def test_dashboard_reads_postgres_and_the_shared_artifacts():
    deployment = _object("Deployment", "tuner-dashboard")
    dashboard = _container(deployment)
    assert _tuner_command(dashboard)[:2] == ["tuner", "dashboard"]
    assert _secret_value(dashboard, "TUNER_STORAGE").startswith("postgresql+psycopg://")
    _, artifacts = _mount_of(deployment, _env(dashboard)["TUNER_ARTIFACTS"]["value"])
    assert artifacts["persistentVolumeClaim"]["claimName"] == ARTIFACTS_CLAIM


def test_secret_example_holds_no_real_password():
    url = urlsplit(SECRET["stringData"]["postgres-url"])
    assert url.password == "CHANGE-ME"


def _recipe_argvs() -> list[list[str]]:
    """Every tuner command line of the recipes (the Slurm script's as its options)."""
    argvs = [_tuner_command(c) for w in _workloads() for c in _pod(w)["containers"]]
    return [*argvs, ["tuner", "run", "--workers", "--set"]]


@pytest.mark.parametrize("command", ["run", "dashboard", "proxy"])
def test_recipes_use_only_options_tuner_has(command):
    assert command in {argv[1] for argv in _recipe_argvs()}
    commands = typer.main.get_command(app).commands
    if command not in commands:
        pytest.skip(f"tuner has no {command!r} command yet: its options are unchecked")
    params = commands[command].params
    options = {opt for param in params for opt in param.opts}
    for argv in _recipe_argvs():
        if argv[1] == command:
            assert {arg for arg in argv[2:] if arg.startswith("--")} <= options, argv
    (storage,) = [param for param in params if "--storage" in param.opts]
    assert storage.envvar == "TUNER_STORAGE"  # the recipes set it, never --storage


def _wait_for_storage(url: str, wait_s: str) -> subprocess.CompletedProcess:
    """The worker pods' init container, run here with this Python."""
    (init,) = _pod(_object("Job", "tuner-workers"))["initContainers"]
    assert init["command"][:2] == ["python", "-c"]
    env = {**os.environ, "TUNER_STORAGE": url, "WAIT_S": wait_s}
    return subprocess.run([sys.executable, *init["command"][1:]], env=env,
                          capture_output=True, text=True, timeout=30)


def test_init_container_waits_for_the_storage():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert _wait_for_storage(f"grpc://127.0.0.1:{port}", "5").returncode == 0
    # Nothing listens there now: it gives up after WAIT_S, naming the host, not the password.
    done = _wait_for_storage(f"postgresql+psycopg://tuner:secret@127.0.0.1:{port}/db", "0")
    assert done.returncode == 1
    assert f"127.0.0.1:{port} unreachable" in done.stderr and "secret" not in done.stderr


# Slurm

STUB_TUNER = """#!/bin/bash
# tuner as the test sees it: records its arguments, answers SIGTERM like tuner (exit 143)
printf '%s\\n' "$@" > "$STUB_DIR/args"
printf '%s\\n' "$TUNER_DATA_CACHE" > "$STUB_DIR/cache"
trap 'echo TERM > "$STUB_DIR/signal"; exit 143' TERM
touch "$STUB_DIR/ready"
for _ in $(seq "${STUB_WAIT_TICKS:-0}"); do sleep 0.05; done
exit "${STUB_EXIT:-0}"
"""


def _sbatch_options() -> list[tuple[str, str]]:
    """(option, value) of the #SBATCH lines, checked to stand above the first command."""
    lines = SBATCH.read_text().splitlines()
    first_command = next(i for i, line in enumerate(lines)
                         if line.strip() and not line.startswith("#"))
    options = []
    for i, line in enumerate(lines):
        if line.startswith("#SBATCH"):
            assert i < first_command, f"sbatch ignores {line!r} below the first command"
            option, _, value = line.split(maxsplit=1)[1].partition("=")
            options.append((option, value))
    return options


def test_sbatch_options():
    options = dict(_sbatch_options())
    assert re.fullmatch(r"\d+-\d+(%\d+)?", options["--array"])
    assert options["--gres"] == "gpu:1"
    # B: the batch shell, which exec made tuner; at least a minute before the time limit
    when = re.fullmatch(r"B:TERM@(\d+)", options["--signal"])
    assert when and int(when.group(1)) >= 60
    assert "--requeue" not in options  # optional: commented out, explained


def _start_task(tmp_path: Path, *args: str, **env: str | None) -> subprocess.Popen:
    """The script under bash, with the stub tuner first on PATH; ``env`` None unsets."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "tuner").write_text(STUB_TUNER)
    (stubs / "tuner").chmod(0o755)
    base = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    base.update(PATH=f"{stubs}{os.pathsep}{os.environ['PATH']}", STUB_DIR=str(tmp_path),
                TUNER_STORAGE="postgresql+psycopg://tuner@db.example.lan:5432/tuner",
                TUNER_ARTIFACTS=str(tmp_path / "artifacts"), TMPDIR=str(tmp_path),
                USER="someone", SLURM_CPUS_PER_TASK="3")
    base.pop("TUNER_DATA_CACHE", None)
    base.update(env)
    base = {key: value for key, value in base.items() if value is not None}
    return subprocess.Popen(["bash", str(SBATCH), *args], env=base, stderr=subprocess.PIPE,
                            text=True)


def test_sigterm_reaches_tuner_and_the_task_exits_143(tmp_path):
    task = _start_task(tmp_path, "studies/weight_decay.py", "--data", "folder:/d/lungs",
                       STUB_WAIT_TICKS="200")  # 10 s at most
    deadline = time.monotonic() + 10
    while not (tmp_path / "ready").exists():
        assert task.poll() is None and time.monotonic() < deadline, task.stderr.read()
        time.sleep(0.02)
    task.send_signal(signal.SIGTERM)  # what --signal=B:TERM@120 does
    assert task.wait(timeout=10) == 143
    task.stderr.close()
    assert (tmp_path / "signal").read_text() == "TERM\n"
    assert (tmp_path / "args").read_text().split() == [
        "run", "studies/weight_decay.py", "--workers", "1", "--set", "threads=3",
        "--data", "folder:/d/lungs"]
    assert (tmp_path / "cache").read_text() == f"{tmp_path}/tuner-cache-someone\n"


@pytest.mark.parametrize("code", [0, 1, 2])
def test_the_task_exits_with_tuners_code(tmp_path, code):
    task = _start_task(tmp_path, "studies/weight_decay.py", STUB_EXIT=str(code))
    assert task.wait(timeout=10) == code
    task.stderr.close()


@pytest.mark.parametrize("missing", ["TUNER_STORAGE", "TUNER_ARTIFACTS", "study"])
def test_a_missing_setting_ends_the_task_with_2_before_tuner(tmp_path, missing):
    if missing == "study":
        task, expected = _start_task(tmp_path), "usage"
    else:
        task = _start_task(tmp_path, "studies/weight_decay.py", **{missing: None})
        expected = missing
    assert task.wait(timeout=10) == 2
    assert expected in task.stderr.read()
    task.stderr.close()
    assert not (tmp_path / "args").exists()
