import pytest

from ecad.environment import env_float, env_int
from ecad.errors import ConfigError


def test_numbers_from_the_environment(monkeypatch):
    monkeypatch.delenv("ECAD_X", raising=False)
    assert env_int("ECAD_X", 3) == 3 and env_float("ECAD_X", 1.5) == 1.5
    monkeypatch.setenv("ECAD_X", "12")
    assert env_int("ECAD_X", 3) == 12 and env_float("ECAD_X", 1.5) == 12.0


def test_bad_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("ECAD_X", "ten")
    with pytest.raises(ConfigError, match="ECAD_X='ten' must be an integer"):
        env_int("ECAD_X", 3)
    with pytest.raises(ConfigError, match="ECAD_X='ten' must be a number"):
        env_float("ECAD_X", 1.0)
