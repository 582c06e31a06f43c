"""The scheduler and workers stop at start-up while a credential holds a placeholder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ecad.credentials import refuse_placeholders
from ecad.errors import ConfigError


def test_refuse_placeholders_names_the_variables_not_the_values():
    env = {"ECAD_S3_SECRET_KEY": "change-me-s3-secret-key", "REDIS_PASSWORD": "Change-Me-2",
           "ECAD_S3_ACCESS_KEY": "ecad-app", "HF_TOKEN": ""}
    with pytest.raises(ConfigError) as info:
        refuse_placeholders("ecad worker", env=env)
    message = str(info.value)
    assert "ecad worker will not start" in message
    assert "REDIS_PASSWORD, ECAD_S3_SECRET_KEY" in message
    assert "change-me-s3-secret-key" not in message and "ECAD_S3_ACCESS_KEY" not in message
    refuse_placeholders("ecad worker", env={**env, "ECAD_S3_SECRET_KEY": "x" * 20,
                                            "REDIS_PASSWORD": "y" * 20})


@pytest.mark.parametrize("command", [["scheduler"], ["worker", "--device", "cpu"]])
def test_scheduler_and_worker_stop_on_placeholder_credentials(tmp_path, command):
    env = {**os.environ, "ECAD_STORE": str(tmp_path / "store"),
           "ECAD_BROKER_URL": "redis://127.0.0.1:9/0",  # never reached: the check comes first
           "ECAD_S3_SECRET_KEY": "change-me-s3-secret-key",
           "REDIS_PASSWORD": "change-me-redis-password"}
    out = subprocess.run([sys.executable, "-m", "ecad", *command], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert f"ecad {command[0]} will not start" in out.stderr
    assert "REDIS_PASSWORD, ECAD_S3_SECRET_KEY" in out.stderr
    assert "change-me-s3-secret-key" not in out.stderr


def test_credentials_are_read_from_the_files_their_file_variables_name(tmp_path):
    from ecad.secret_files import load_secret_files

    (tmp_path / "redis_password").write_text("from-the-file\n")
    env = {"REDIS_PASSWORD_FILE": str(tmp_path / "redis_password"),
           "ECAD_S3_SECRET_KEY": "set-directly",
           "ECAD_S3_SECRET_KEY_FILE": str(tmp_path / "unused")}
    assert load_secret_files(env=env) == ["REDIS_PASSWORD"]
    assert env["REDIS_PASSWORD"] == "from-the-file"  # the trailing newline dropped
    assert env["ECAD_S3_SECRET_KEY"] == "set-directly"  # a variable set directly wins


def test_a_missing_secret_file_names_the_variable_not_a_value(tmp_path):
    from ecad.secret_files import load_secret_files

    with pytest.raises(ConfigError, match=r"REDIS_PASSWORD_FILE=.*cannot read the secret file"):
        load_secret_files(env={"REDIS_PASSWORD_FILE": str(tmp_path / "missing")})


def test_the_worker_reads_its_broker_password_from_a_file(tmp_path):
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    env = {**os.environ, "REDIS_PASSWORD_FILE": str(tmp_path / "pw"),
           "ECAD_BROKER_URL": "redis://redis:6379/0"}
    env.pop("REDIS_PASSWORD", None)
    code = "import ecad.worker.config as c; print(c.broker_url)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "redis://:s3cret-from-file@redis:6379/0", out.stderr
