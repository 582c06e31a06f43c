"""docker-compose.yml and deploy/compose.workers.yml: the Compose Specification schema, a real
compose implementation's ``config``, which service sees which secret, and the shell guards that
refuse placeholder secrets."""

from __future__ import annotations

import os
import shutil
import subprocess

import jsonschema
import pytest
import yaml

from tests.deploy.compose import (
    COMPOSE_FILE,
    ROOT,
    SECRETS_EXAMPLES,
    WORKERS_COMPOSE_FILE,
    compose_schema,
    interpolate,
    load_compose,
    project_dir,
    read_env_file,
    variables_used,
)

CENTRAL = {**read_env_file(), "CENTRAL_HOST": "10.0.0.5"}


@pytest.fixture(scope="module")
def validator():
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose():
    return load_compose()


@pytest.mark.parametrize("path", [COMPOSE_FILE, WORKERS_COMPOSE_FILE], ids=["main", "workers"])
def test_compose_files_match_the_compose_specification(validator, path):
    errors = sorted(validator.iter_errors(load_compose(CENTRAL, path)),
                    key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_the_schema_check_is_not_vacuous(validator, compose):
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["worker"]["comand"] = ["typo"]
    broken["services"]["redis"]["ports"] = "6379"
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("comand" in m for m in messages) and len(messages) >= 2


def test_services_and_their_commands(compose):
    services = compose["services"]
    assert set(services) == {"redis", "minio", "minio-init", "scheduler", "weights", "worker",
                             "cli", "flower"}
    assert services["scheduler"]["command"] == ["ecad", "scheduler"]
    assert services["worker"]["command"] == ["ecad", "worker", "--gpu", "auto"]
    assert services["weights"]["command"] == ["ecad", "weights", "fetch"]
    assert services["cli"]["profiles"] == ["tools"]  # started only by `docker compose run cli`
    for name in ("scheduler", "weights"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_the_cli_has_those_commands():
    from ecad.cli.main import cli

    assert {"scheduler", "worker", "weights"} <= set(cli.commands)
    assert "fetch" in cli.commands["weights"].commands
    assert {"gpu", "warm"} <= {param.name for param in cli.commands["worker"].params}


def test_every_worker_sees_all_gpus_and_claims_one(compose):
    workers = load_compose(CENTRAL, WORKERS_COMPOSE_FILE)
    for worker in (compose["services"]["worker"], workers["services"]["worker"]):
        assert "container_name" not in worker and "ports" not in worker
        devices = worker["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
        assert worker["command"] == ["ecad", "worker", "--gpu", "auto"]
        assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "worker.health"]
        assert worker["depends_on"]["weights"]["condition"] == "service_completed_successfully"
        assert worker["environment"]["HF_HUB_OFFLINE"] == "1"
    central = workers["services"]["worker"]["environment"]
    assert central["ECAD_BROKER_URL"] == "redis://10.0.0.5:6379/0"
    assert central["ECAD_S3_ENDPOINT"] == "10.0.0.5:9000"


def test_cluster_services_wait_for_redis_and_the_bucket_and_have_healthchecks(compose):
    for name in ("scheduler", "worker"):
        depends = compose["services"][name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    for name in ("redis", "minio", "scheduler", "worker"):
        assert compose["services"][name]["healthcheck"]["test"]


def test_ports_bind_to_the_publish_address(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith(read_env_file()["PUBLISH_ADDRESS"] + ":"), (name, port)
    assert read_env_file()["PUBLISH_ADDRESS"] == "127.0.0.1"


def test_every_variable_the_compose_files_use_is_in_the_env_example():
    listed = set(read_env_file())
    for path in (COMPOSE_FILE, WORKERS_COMPOSE_FILE):
        used = variables_used(path.read_text())
        assert used, "no ${...} found: the interpolation pattern is broken"
        assert not used - listed, f"add to deploy/.env.example: {sorted(used - listed)}"


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("$$HOME ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", env) == (
        "$HOME v v d d "
    )
    assert interpolate("${SET:+alt}${UNSET:+alt}", env) == "alt"
    with pytest.raises(AssertionError, match="UNSET"):
        interpolate("${UNSET:?needed}", env)
    assert variables_used("$$NOT ${A} $B ${C:-x}") == {"A", "B", "C"}


# --- a real compose implementation ---------------------------------------------------------------

def compose_cli() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("no compose implementation installed (apt-get install docker-compose)")


def compose_config(project, *args: str, env: dict | None = None) -> dict:
    out = subprocess.run([*compose_cli(), "--project-directory", str(project), *args, "config"],
                         cwd=project, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


SECRET_OWNERS = {
    # secret -> the services that may see it
    "MINIO_ROOT_PASSWORD": {"minio", "minio-init"},
    "ECAD_S3_SECRET_KEY": {"minio-init", "scheduler", "worker", "cli"},
    "REDIS_PASSWORD": {"redis", "scheduler", "worker", "cli", "flower"},
    "HF_TOKEN": {"weights"},
    "FLOWER_BASIC_AUTH": {"flower"},
}


def test_compose_config_accepts_the_files_and_secrets_reach_only_their_services(tmp_path):
    project = project_dir(tmp_path)
    config = compose_config(project, "--profile", "tools")
    services = config["services"]
    assert set(services) == set(load_compose()["services"])
    for secret, owners in SECRET_OWNERS.items():
        seen = {name for name, s in services.items() if secret in (s.get("environment") or {})}
        assert seen == owners, f"{secret} reaches {sorted(seen)}, expected {sorted(owners)}"
    assert services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] in (
        "all", -1)

    workers = compose_config(project, "-f", str(project / "deploy" / "compose.workers.yml"),
                             env={"CENTRAL_HOST": "10.0.0.5"})
    assert set(workers["services"]) == {"weights", "worker"}
    assert workers["services"]["worker"]["environment"]["ECAD_BROKER_URL"] == (
        "redis://10.0.0.5:6379/0")
    assert "HF_TOKEN" not in workers["services"]["worker"]["environment"]


def test_every_secret_file_has_an_example_with_placeholders_only(compose):
    referenced = {f for s in compose["services"].values() for f in s.get("env_file", [])
                  if f.startswith("secrets/")}
    examples = {f"secrets/{p.name.removesuffix('.example')}"
                for p in SECRETS_EXAMPLES.glob("*.env.example")}
    assert referenced == examples
    for path in SECRETS_EXAMPLES.glob("*.env.example"):
        for key, value in read_env_file(path).items():
            if key not in ("MINIO_ROOT_USER", "ECAD_S3_ACCESS_KEY"):
                assert value == "" or "change-me" in value, f"{path.name}: {key}={value!r}"


@pytest.mark.parametrize("service,secret,real", [
    ("redis", "REDIS_PASSWORD", {}),
    ("minio", "MINIO_ROOT_PASSWORD", {}),
    ("minio-init", "MINIO_ROOT_PASSWORD", {}),
    ("minio-init", "ECAD_S3_SECRET_KEY", {"MINIO_ROOT_PASSWORD": "a-real-root-password"}),
    ("flower", "REDIS_PASSWORD", {}),
    ("flower", "FLOWER_BASIC_AUTH", {"REDIS_PASSWORD": "a-real-redis-password"}),
])
def test_the_infrastructure_services_refuse_placeholder_secrets(compose, service, secret, real):
    """The services whose images are not ours check their secrets in their shell entrypoint:
    run that script with the example's placeholders (it stops before starting the server)."""
    script = compose["services"][service]["command"][0]
    env = {"PATH": os.environ["PATH"]}
    for path in SECRETS_EXAMPLES.glob("*.env.example"):
        env.update(read_env_file(path))
    env.update(real)
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert f"{secret} is unset or still a change-me placeholder" in out.stderr


def test_init_secrets_replaces_every_placeholder_and_keeps_existing_files(tmp_path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    run = subprocess.run(["sh", "deploy/init-secrets.sh"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    made = {p.name: read_env_file(p) for p in (tmp_path / "secrets").glob("*.env")}
    assert set(made) == {p.name.removesuffix(".example")
                         for p in SECRETS_EXAMPLES.glob("*.env.example")}
    values = [v for env in made.values() for v in env.values()]
    assert not any("change-me" in v for v in values)
    assert made["flower.env"]["FLOWER_BASIC_AUTH"].startswith("ecad:")
    assert len(made["redis.env"]["REDIS_PASSWORD"]) == 48
    assert made["redis.env"]["REDIS_PASSWORD"] != made["app.env"]["ECAD_S3_SECRET_KEY"]
    assert made["hf.env"]["HF_TOKEN"] == ""
    again = subprocess.run(["sh", "deploy/init-secrets.sh"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert "kept secrets/redis.env" in again.stdout
    assert read_env_file(tmp_path / "secrets" / "redis.env") == made["redis.env"]
