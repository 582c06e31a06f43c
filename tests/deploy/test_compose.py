"""Static checks of docker-compose.yml (no Docker engine needed)."""

from __future__ import annotations

import shlex

import jsonschema
import pytest
import yaml

from tests.deploy.compose import (
    COMPOSE_FILE,
    ROOT,
    compose_schema,
    interpolate,
    load_compose,
    read_env_file,
    variables_used,
)


@pytest.fixture(scope="module")
def validator():
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose():
    return load_compose()


def test_compose_file_matches_the_compose_specification(validator, compose):
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_the_schema_check_is_not_vacuous(validator, compose):
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["worker"]["comand"] = ["typo"]
    broken["services"]["redis"]["ports"] = "6379"
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("comand" in m for m in messages) and len(messages) >= 2


def test_services(compose):
    services = compose["services"]
    assert set(services) == {"redis", "minio", "minio-init", "scheduler", "worker", "flower"}
    missing = [name for name, service in services.items() if not service.get("command")]
    assert not missing, f"services without a command: {missing}"


def test_the_cluster_commands(compose):
    services = compose["services"]
    assert services["scheduler"]["command"] == ["ecad", "scheduler"]
    assert services["worker"]["command"] == ["ecad", "worker", "--gpu", "0"]
    broker = read_env_file()["ECAD_BROKER_URL"]
    assert shlex.split(services["flower"]["command"]) == ["celery", f"--broker={broker}", "flower"]
    for name in ("scheduler", "worker"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        assert services[name]["env_file"] == ".env"


def test_the_cli_has_those_commands():
    from ecad.cli.main import cli

    assert {"scheduler", "worker"} <= set(cli.commands)
    assert "gpu" in {param.name for param in cli.commands["worker"].params}


def test_worker_scales_and_reserves_one_nvidia_gpu(compose):
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_cluster_services_wait_for_redis_and_the_bucket(compose):
    for name in ("scheduler", "worker"):
        depends = compose["services"][name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    for name in ("redis", "minio"):
        assert compose["services"][name]["healthcheck"]["test"]


def test_every_variable_the_compose_file_uses_is_in_the_env_example():
    used = variables_used(COMPOSE_FILE.read_text())
    listed = set(read_env_file())
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
