"""deploy/.env.example lists every setting, with placeholders only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.deploy.compose import (
    ENV_EXAMPLE,
    ROOT,
    SECRET_VARIABLES,
    read_env_file,
    secret_examples,
)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|_TOKEN$")
LOOKS_LIKE_A_CREDENTIAL = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"hf_[A-Za-z0-9]{20,}"),  # Hugging Face token
    re.compile(r"://[^/\s:@]*:[^/\s@]+@"),  # a URL with a password in it
    re.compile(r"[A-Za-z0-9+/]{32,}"),  # a long random-looking string
]


def _settings_read_by_the_code() -> set[str]:
    """Every ``ECAD_*`` / ``HF_*`` name that appears as a whole string literal in the packages."""
    names = set()
    for package in ("ecad",):
        for path in Path(ROOT, package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and re.fullmatch(r"(ECAD|HF)_[A-Z0-9_]+", node.value)
                ):
                    names.add(node.value)
    return names


def test_every_setting_the_code_reads_is_documented():
    text = ENV_EXAMPLE.read_text()
    documented = set(read_env_file()) | set(
        re.findall(r"^# ((?:ECAD|HF)_[A-Z0-9_]+)(?:, (?:ECAD|HF)_[A-Z0-9_]+)*:", text, re.M))
    documented |= set(re.findall(r"^# (?:ECAD|HF)_[A-Z0-9_]+, ((?:ECAD|HF)_[A-Z0-9_]+):", text,
                                 re.M))
    missing = _settings_read_by_the_code() - documented
    assert not missing, f"document in deploy/.env.example: {sorted(missing)}"


def test_every_variable_has_a_comment():
    # A block of settings (lines between blank lines) starts with its comment.
    for block in ENV_EXAMPLE.read_text().split("\n\n"):
        assignments = [ln for ln in block.splitlines() if ln and not ln.startswith("#")]
        if assignments:
            assert block.lstrip().startswith("#"), f"uncommented settings: {assignments}"


def secrets_examples() -> dict[str, str]:
    """The example secrets, by the variable each file holds."""
    return {SECRET_VARIABLES[name]: value for name, value in secret_examples().items()}


def test_no_secrets_in_the_settings_and_placeholders_only_in_the_secret_examples():
    settings = read_env_file()
    assert not any(SECRET_NAME.search(key) for key in settings), "secrets belong in secrets/"
    for key, value in {**settings, **secrets_examples()}.items():
        if SECRET_NAME.search(key):
            assert value == "" or value.startswith("change-me"), f"{key} must be a placeholder"
        for pattern in LOOKS_LIKE_A_CREDENTIAL:
            assert not pattern.search(value), f"{key}={value!r} looks like a real credential"
    env = {**settings, **secrets_examples()}
    # MinIO refuses passwords and secret keys shorter than 8 characters.
    assert len(env["MINIO_ROOT_PASSWORD"]) >= 8 and len(env["ECAD_S3_SECRET_KEY"]) >= 8
    assert env["ECAD_S3_ACCESS_KEY"] != env["MINIO_ROOT_USER"]


def test_cluster_addresses_use_the_compose_service_names():
    env = read_env_file()
    assert env["ECAD_BROKER_URL"].startswith("redis://redis:")
    assert env["ECAD_S3_ENDPOINT"] == "minio:9000"
    assert env["ECAD_STORE"] == f"s3://{env['ECAD_S3_BUCKET']}"


def test_the_env_example_configures_a_working_store():
    from ecad.errors import TransientError
    from ecad.store.s3 import S3Store

    env = {**read_env_file(), **secrets_examples()}
    # Every ECAD_S3_* value parses (a ConfigError would fail here); only the server is missing:
    # nothing listens on port 9 of this host, so the first request fails as a transient error.
    env.update(ECAD_S3_ENDPOINT="127.0.0.1:9", ECAD_S3_RETRY_SECONDS="0", ECAD_S3_TIMEOUT="1")
    with pytest.raises(TransientError, match=re.escape("127.0.0.1:9")):
        S3Store.from_env(env=env)
