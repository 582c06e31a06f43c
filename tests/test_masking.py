"""Credentials given inside a URL never reach an error line (issue 27 #10)."""

from __future__ import annotations

import pytest

from ecad.cli.errors import EXIT_USAGE, run_cli
from ecad.cli.main import cli
from ecad.masking import mask_credentials


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://user:pw@h:6379/0", "redis://user:***@h:6379/0"),
        ("redis://:pw@h", "redis://:***@h"),
        ("bucket 'KEY:hunter2@bucket'", "bucket 'KEY:***@bucket'"),
        ("ECAD_S3_ENDPOINT=user:secret@host:9000", "ECAD_S3_ENDPOINT=user:***@host:9000"),
        ("https://token@host/x", "https://***@host/x"),
        ("at 10:30 in s3://ecad at http://localhost:9000, mail a@b.c", None),
    ],
)
def test_mask_credentials(text, masked):
    assert mask_credentials(text) == (text if masked is None else masked)


def _s3_env(monkeypatch, endpoint: str) -> None:
    monkeypatch.delenv("ECAD_CONFIG", raising=False)
    for name, value in (("ECAD_S3_ENDPOINT", endpoint), ("ECAD_S3_ACCESS_KEY", "a"),
                        ("ECAD_S3_SECRET_KEY", "b"), ("ECAD_S3_RETRY_SECONDS", "0")):
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("store", "endpoint", "needle"),
    [
        ("s3://KEY:hunter2@bucket", "127.0.0.1:9", "invalid S3 bucket name 'KEY:***@bucket'"),
        ("s3://ecad", "user:hunter2@127.0.0.1:9", "ECAD_S3_ENDPOINT='user:***@127.0.0.1:9'"),
        ("s3://ecad", "127.0.0.1:hunter2", "S3 endpoint '127.0.0.1:hunter2'"),
    ],
)
def test_s3_settings_errors_mask_the_secret(monkeypatch, capsys, store, endpoint, needle):
    _s3_env(monkeypatch, endpoint)
    code = run_cli(cli, ["pareto", "--store", store, "x-0123456789"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == EXIT_USAGE and len(lines) == 1, err
    assert needle in lines[0] and "bug" not in lines[0], lines[0]
    if "hunter2" not in needle:
        assert "hunter2" not in err
