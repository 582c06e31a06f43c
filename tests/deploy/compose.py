"""Helpers for the deployment tests: the env file, Compose interpolation and the schema."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
WORKERS_COMPOSE_FILE = ROOT / "deploy" / "compose.workers.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
SECRETS_EXAMPLES = ROOT / "deploy" / "secrets"
#: secret file (compose secret name) -> the variable it holds
SECRET_VARIABLES = {
    "redis_password": "REDIS_PASSWORD",
    "s3_secret_key": "ECAD_S3_SECRET_KEY",
    "minio_root_password": "MINIO_ROOT_PASSWORD",
    "flower_basic_auth": "FLOWER_BASIC_AUTH",
    "hf_token": "HF_TOKEN",
}


def secret_examples() -> dict[str, str]:
    """Secret name -> its example value (the file's first line)."""
    return {p.name.removesuffix(".example"): (p.read_text().splitlines() or [""])[0]
            for p in SECRETS_EXAMPLES.glob("*.example")}

# Compose interpolation: $$ (a literal $), $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}, ${VAR:+alternative}, ${VAR+alternative}.
_TOKEN = re.compile(
    r"\$(?:(?P<escape>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """``KEY=VALUE`` lines (comments and blank lines skipped); a repeated key is an error."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise AssertionError(f"{path}:{number}: not a KEY=VALUE line: {line!r}")
        if key in env:
            raise AssertionError(f"{path}:{number}: {key} is set twice")
        env[key] = value
    return env


def variables_used(text: str) -> set[str]:
    """Names of the variables that Compose interpolates in ``text`` (``$$`` escapes excluded)."""
    return {m["bare"] or m["name"] for m in _TOKEN.finditer(text) if not m["escape"]}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Resolve ``${...}`` in every string of a loaded Compose document, as Compose does."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m["escape"]:
            return "$"
        name, op, arg = m["bare"] or m["name"], m["op"], m["arg"] or ""
        current = env.get(name)
        unset_or_empty = not current if op and op.startswith(":") else current is None
        if op in ("-", ":-"):
            return arg if unset_or_empty else current
        if op in ("?", ":?"):
            if unset_or_empty:
                raise AssertionError(f"required variable {name} is missing: {arg}")
            return current
        if op in ("+", ":+"):
            return "" if unset_or_empty else arg
        return current or ""

    return _TOKEN.sub(one, value)


def load_compose(env: dict[str, str] | None = None, path: Path = COMPOSE_FILE) -> dict:
    """A compose file as Compose sees it: YAML merge keys resolved, variables interpolated
    with ``env`` (default: the values of deploy/.env.example)."""
    raw = yaml.safe_load(path.read_text())
    return interpolate(raw, read_env_file() if env is None else env)


def project_dir(tmp: Path) -> Path:
    """A compose project as a user sets it up: the compose files, .env from the example and
    secrets/<name> from deploy/secrets/<name>.example, under ``tmp``."""
    import shutil

    shutil.copy(COMPOSE_FILE, tmp / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy", tmp / "deploy")
    shutil.copy(ENV_EXAMPLE, tmp / ".env")
    (tmp / "secrets").mkdir()
    for example in SECRETS_EXAMPLES.glob("*.example"):
        shutil.copy(example, tmp / "secrets" / example.name.removesuffix(".example"))
    return tmp


def compose_schema() -> dict:
    """The Compose Specification JSON schema (compose-spec/compose-spec, Apache-2.0), as shipped
    in the check-jsonschema wheel (a dev dependency), so the tests never download it."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())
