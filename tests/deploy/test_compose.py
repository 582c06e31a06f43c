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
    SECRET_VARIABLES,
    WORKERS_COMPOSE_FILE,
    compose_schema,
    interpolate,
    load_compose,
    project_dir,
    read_env_file,
    secret_examples,
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
        assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "ecad.worker.health"]
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
    "minio_root_password": {"minio", "minio-init"},
    "s3_secret_key": {"minio-init", "scheduler", "worker", "cli"},
    "redis_password": {"redis", "scheduler", "worker", "cli", "flower"},
    "hf_token": {"weights"},
    "flower_basic_auth": {"flower"},
}


def _secret_names(service: dict) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_compose_config_accepts_the_files_and_secrets_reach_only_their_services(tmp_path):
    project = project_dir(tmp_path)
    config = compose_config(project, "--profile", "tools")
    services = config["services"]
    assert set(services) == set(load_compose()["services"])
    assert set(config["secrets"]) == set(SECRET_OWNERS)
    for secret, owners in SECRET_OWNERS.items():
        seen = {name for name, s in services.items() if secret in _secret_names(s)}
        assert seen == owners, f"{secret} reaches {sorted(seen)}, expected {sorted(owners)}"
    # files, not values: no service has a secret's variable in its environment (docker inspect)
    for name, service in services.items():
        env = service.get("environment") or {}
        assert not set(env) & set(SECRET_VARIABLES.values()), (name, sorted(env))
    assert services["scheduler"]["environment"]["REDIS_PASSWORD_FILE"] == (
        "/run/secrets/redis_password")
    assert services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] in (
        "all", -1)

    workers = compose_config(project, "-f", str(project / "deploy" / "compose.workers.yml"),
                             env={"CENTRAL_HOST": "10.0.0.5"})
    assert set(workers["services"]) == {"weights", "worker"}
    assert workers["services"]["worker"]["environment"]["ECAD_BROKER_URL"] == (
        "redis://10.0.0.5:6379/0")
    assert _secret_names(workers["services"]["worker"]) == {"redis_password", "s3_secret_key"}
    assert _secret_names(workers["services"]["weights"]) == {"hf_token"}


def test_every_secret_file_has_an_example_with_placeholders_only(compose):
    referenced = {s["file"] for s in compose["secrets"].values()}
    assert referenced == {f"./secrets/{name}" for name in secret_examples()}
    assert set(secret_examples()) == set(SECRET_VARIABLES)
    for name, value in secret_examples().items():
        assert value == "" or "change-me" in value, f"{name}: {value!r}"
    assert not [f for s in compose["services"].values() for f in s.get("env_file", [])
                if f.startswith("secrets/")], "secrets are files, not env_file values"


def _secrets_dir(tmp_path, **real: str):
    """The example secrets as files (what the services read from /run/secrets)."""
    folder = tmp_path / "run-secrets"
    folder.mkdir()
    for name, value in {**secret_examples(), **real}.items():
        (folder / name).write_text(value + "\n")
    return folder


def _run_entrypoint(compose, service, secrets_dir, path=None, **extra: str):
    script = compose["services"][service]["command"][0]
    env = {**read_env_file(), "PATH": path or os.environ["PATH"],
           "SECRETS_DIR": str(secrets_dir), **extra}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("service,secret,real", [
    ("redis", "REDIS_PASSWORD", {}),
    ("minio", "MINIO_ROOT_PASSWORD", {}),
    ("minio-init", "MINIO_ROOT_PASSWORD", {}),
    ("minio-init", "ECAD_S3_SECRET_KEY", {"minio_root_password": "a-real-root-password"}),
    ("flower", "REDIS_PASSWORD", {}),
    ("flower", "FLOWER_BASIC_AUTH", {"redis_password": "a-real-redis-password"}),
])
def test_the_infrastructure_services_refuse_placeholder_secrets(compose, tmp_path, service,
                                                                 secret, real):
    """The services whose images are not ours read and check their secret files in their shell
    entrypoint: run it with the example's placeholders (it stops before starting the server)."""
    out = _run_entrypoint(compose, service, _secrets_dir(tmp_path, **real))
    assert out.returncode == 1
    assert f"{secret} is unset or still a change-me placeholder" in out.stderr


_RECORDER = """#!/bin/sh
# stands in for the server: records its command line, stdin and environment
printf '%s\\n' "$0" "$@" > "$RECORD.argv"
cat > "$RECORD.stdin"
env > "$RECORD.env"
"""


def _recorded(compose, tmp_path, service, program, **real):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / program
    fake.write_text(_RECORDER)
    fake.chmod(0o755)
    record = tmp_path / "record"
    out = _run_entrypoint(compose, service, _secrets_dir(tmp_path, **real),
                          path=f"{bin_dir}:{os.environ['PATH']}", RECORD=str(record))
    assert out.returncode == 0, out.stderr
    return (record.with_suffix(".argv").read_text(), record.with_suffix(".stdin").read_text(),
            record.with_suffix(".env").read_text())


def test_redis_gets_its_password_on_stdin_not_its_command_line(compose, tmp_path):
    password = "a0b1c2d3e4f5-real-redis-password"
    argv, stdin, _ = _recorded(compose, tmp_path, "redis", "redis-server",
                                 redis_password=password)
    assert password not in argv and "redis-server\n-\n--appendonly\nyes" in argv
    assert f'requirepass "{password}"' in stdin
    assert compose["services"]["redis"]["user"] == "redis"  # the image's non-root user


def test_flower_gets_its_secrets_from_its_environment_not_its_command_line(compose, tmp_path):
    login, password = "ecad:real-flower-password", "real-redis-password"
    argv, _, env = _recorded(compose, tmp_path, "flower", "celery",
                             redis_password=password, flower_basic_auth=login)
    assert password not in argv and login not in argv
    assert argv.splitlines()[0].endswith("/celery") and argv.splitlines()[1:] == ["flower"]
    assert f"FLOWER_BASIC_AUTH={login}" in env.splitlines()
    assert f"CELERY_BROKER_URL=redis://:{password}@redis:6379/0" in env.splitlines()
    health = compose["services"]["flower"]["healthcheck"]["test"]
    assert health[:3] == ["CMD", "python", "-c"] and "5555" in health[3]


def test_a_worker_that_cannot_start_is_not_restarted_for_ever(compose):
    for worker in (compose["services"]["worker"],
                   load_compose(CENTRAL, WORKERS_COMPOSE_FILE)["services"]["worker"]):
        policy, _, tries = worker["restart"].partition(":")
        assert policy == "on-failure" and 1 <= int(tries) <= 5


def test_init_secrets_replaces_every_placeholder_and_keeps_existing_files(tmp_path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    run = subprocess.run(["sh", "deploy/init-secrets.sh"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    made = {p.name: p.read_text().strip() for p in (tmp_path / "secrets").iterdir()}
    assert set(made) == set(secret_examples())
    assert not any("change-me" in v for v in made.values())
    assert made["flower_basic_auth"].startswith("ecad:")
    assert len(made["redis_password"]) == 48
    assert made["redis_password"] != made["s3_secret_key"]
    assert made["hf_token"] == ""
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    again = subprocess.run(["sh", "deploy/init-secrets.sh"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert "kept secrets/redis_password" in again.stdout
    assert (tmp_path / "secrets" / "redis_password").read_text().strip() == made["redis_password"]
