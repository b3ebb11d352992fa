"""The Docker deployment, checked offline (CI runs no Docker engine).

docker-compose.yml must be valid under the official Compose Specification JSON schema (vendored in compose_spec/,
see its README), and hold what this project relies on that no schema knows: every long-running service has a
healthcheck, the worker scales, the app services run the project's entry points with settings that
stack/settings.py knows, and temporal-setup registers every search attribute. The Dockerfile copies every package
that pyproject.toml installs. Each mutation below (a plausible broken edit, applied to a copy) must be reported.
"""

import copy
import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from stack.settings import Settings
from stack.temporal import search_attribute_flags
from worker import GRACEFUL_SHUTDOWN

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = Path(__file__).with_name("compose_spec") / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"  # check-jsonschema 0.39.0's copy

APP_SERVICES = ("migrate", "api", "worker")
REQUIRED_SERVICES = ("postgres", "temporal", "temporal-ui", "temporal-setup", *APP_SERVICES)
RUNS = {"api": "api.app:create_app", "worker": "worker.py", "migrate": "stack.migrate"}
HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"
MIN_WORKERS = 2
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}

Compose = dict[str, Any]  # parsed YAML: the schema vouches for its shape before the checks below read it


def _schema() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


COMPOSE_SCHEMA = _schema()


def schema_problems(compose: Compose) -> list[str]:
    errors = sorted(COMPOSE_SCHEMA.iter_errors(compose), key=lambda error: error.json_path)
    paths = [tuple(error.path) for error in errors]
    # A property that fails its own subschema also counts as "unevaluated" for its parent: only the first is news.
    return [
        f"schema: {error.json_path}: {error.message}"
        for error, path in zip(errors, paths, strict=True)
        if error.validator != "unevaluatedProperties"
        or not any(len(other) > len(path) and other[: len(path)] == path for other in paths)
    ]


# --- what compose makes of a value, as far as the checks need it ---------------------------------------------------

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{\w+(?:(?P<op>:?[-?+])(?P<default>[^}]*))?\}|\w+)")


def interpolate(value: object) -> str:
    """`value` as compose reads it where no variable is set (`${VAR:-default}` gives the default, `$$` is `$`), so
    that the checks do not depend on the caller's shell or `.env`."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        return match["default"] if match["op"] in ("-", ":-") else ""

    return _VARIABLE.sub(replace, str(value))


def environment(service: Compose) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", "KEY"]
        raw = dict(str(item).partition("=")[::2] for item in raw)
    return {key: "" if value is None else interpolate(value) for key, value in raw.items()}


def depends_on(service: Compose) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: config["condition"] for name, config in raw.items()}


def has_healthcheck(service: Compose) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return not check.get("disable") and bool(test) and test not in ("NONE", ["NONE"])


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def duration(value: str) -> timedelta | None:
    """A compose duration (`30s`, `1m30s`, `500ms`), or None when `value` is not one."""
    parts = _DURATION_PART.findall(value)
    if "".join(number + unit for number, unit in parts) != value:
        return None
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def entry_point_missing(target: str) -> bool:
    """Whether `worker.py`, `package.module` or `package.module:attribute` does not exist in the project."""
    if target.endswith(".py"):
        return not (ROOT / target).is_file()
    module, _, attribute = target.partition(":")
    if find_spec(module) is None:
        return True
    return bool(attribute) and not hasattr(import_module(module), attribute)


# --- the project's own rules ---------------------------------------------------------------------------------------


def _wiring_problems(services: Compose) -> list[str]:
    problems = [f"service {name} is missing" for name in REQUIRED_SERVICES if name not in services]
    one_shots = {dep for service in services.values() for dep, cond in depends_on(service).items() if cond == COMPLETED}
    for name, service in services.items():
        if name not in one_shots and not has_healthcheck(service):
            problems.append(f"{name}: a long-running service without a healthcheck")
        for dep, condition in depends_on(service).items():
            if dep not in services:
                problems.append(f"{name}: depends on {dep}, which is not a service")
            elif condition == HEALTHY and not has_healthcheck(services[dep]):
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
    for name in ("api", "worker"):
        if depends_on(services.get(name, {})).get("migrate") != COMPLETED:
            problems.append(f"{name}: must wait for migrate to complete")
    return problems


def _app_problems(services: Compose) -> list[str]:
    """The API, the worker and the migrations: the project's entry points, with settings Settings knows."""
    problems = []
    for name in [name for name in APP_SERVICES if name in services]:
        service = services[name]
        command = [interpolate(arg) for arg in service.get("command") or []]
        if RUNS[name] not in command:
            problems.append(f"{name}: must run {RUNS[name]}, runs {command}")
        elif entry_point_missing(RUNS[name]):
            problems.append(f"{name}: runs {RUNS[name]}, which does not exist")
        env = environment(service)
        problems += [
            f"{name}: {variable} is not a setting of stack.settings.Settings (a typo?)"
            for variable in sorted(set(env) - SETTINGS_VARIABLES)
        ]
        try:
            url = make_url(env.get("DATABASE_URL", ""))
        except ArgumentError:
            problems.append(f"{name}: DATABASE_URL is missing or not a database URL")
            continue
        server = environment(services.get(url.host or "", {}))
        if (url.username, url.password, url.database) != tuple(
            server.get(key) for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
        ):
            problems.append(f"{name}: DATABASE_URL does not match the user, password and database of a service")
        if name != "migrate" and env.get("TEMPORAL_ADDRESS", "").rpartition(":")[0] not in services:
            problems.append(f"{name}: TEMPORAL_ADDRESS {env.get('TEMPORAL_ADDRESS')!r} is not a compose service")
    if "/health" not in json.dumps(services.get("api", {}).get("healthcheck")):
        problems.append("api: the healthcheck must ask /health")
    return problems


def _worker_problems(worker: Compose) -> list[str]:
    problems = []
    replicas = (worker.get("deploy") or {}).get("replicas", 1)
    if not isinstance(replicas, int) or replicas < MIN_WORKERS:
        problems.append(f"worker: deploy.replicas is {replicas!r}, at least {MIN_WORKERS} are needed")
    grace = duration(str(worker.get("stop_grace_period", "10s")))  # Docker's default: 10s
    if grace is None or grace <= GRACEFUL_SHUTDOWN:
        problems.append(
            f"worker: stop_grace_period must exceed the worker's graceful shutdown "
            f"({GRACEFUL_SHUTDOWN.total_seconds():g}s), or Docker kills in-flight activities"
        )
    if "container_name" in worker or worker.get("ports"):
        problems.append("worker: container_name or published ports stop it from scaling to several replicas")
    return problems


def _search_attribute_problems(setup: Compose) -> list[str]:
    """temporal-setup registers every key of workflows/search_attributes.py with its type."""
    script = json.dumps([setup.get("entrypoint"), setup.get("command")])
    problems = []
    for flag in search_attribute_flags()[1::2]:  # ["--search-attribute", "Name=Type", ...]
        name, type_ = flag.split("=")
        if not re.search(rf"\b{name}\b[\s=:]+(?:--type\s+)?{type_}\b", script):
            problems.append(f"temporal-setup: does not register {name} ({type_})")
    return problems


def compose_problems(compose: Compose) -> list[str]:
    """Every problem of a parsed docker-compose.yml: the schema's first, and the project's only on a valid file."""
    if problems := schema_problems(compose):
        return problems
    services: Compose = compose["services"]
    return [
        *_wiring_problems(services),
        *_app_problems(services),
        *_worker_problems(services.get("worker", {})),
        *_search_attribute_problems(services.get("temporal-setup", {})),
    ]


def dockerfile_problems(dockerfile: str) -> list[str]:
    """The image holds every package pyproject.toml installs, and no extra (embedded servers, dev tools), and does
    not run as root."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.split(".")[0].rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", dockerfile, re.MULTILINE))
    sources = {source.strip("./") for line in copied for source in line.split()}
    needed = sorted(packages | {f"{module}.py" for module in setuptools.get("py-modules", [])} | {"migrations"})
    problems = [f"Dockerfile: {entry} is not copied into the image" for entry in needed if entry not in sources]
    problems += [
        f"Dockerfile: installs an extra ({extra})" for extra in re.findall(r"pip install [^\n]*(\.\[.*?\])", dockerfile)
    ]
    users = re.findall(r"^USER\s+([^:\s]+)", dockerfile, re.MULTILINE)
    if not users or users[-1] in ("root", "0"):
        problems.append("Dockerfile: the processes run as root (no USER, or USER root)")
    return problems


# --- tests ---------------------------------------------------------------------------------------------------------

COMPOSE: Compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_vendored_schema_is_the_one_its_readme_names() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_the_deployment_has_no_problems() -> None:
    assert compose_problems(COMPOSE) == []
    assert dockerfile_problems(DOCKERFILE) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${SEED_DEMO_DATA:-true}", "true"),
        ("${NAME-fallback}/x", "fallback/x"),
        ("$UNSET and ${ALSO_UNSET}", " and "),
        ('grep -q "@$$HOSTNAME"', 'grep -q "@$HOSTNAME"'),
    ],
)
def test_interpolate_reads_compose_defaults_and_escapes(value: str, expected: str) -> None:
    assert interpolate(value) == expected


Change = Callable[[Compose], None]


def _set(*keys: str, value: Any) -> Change:
    def change(compose: Compose) -> None:
        target = compose
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    return change


def _delete(*keys: str) -> Change:
    def change(compose: Compose) -> None:
        target = compose
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _rename(*keys: str, to: str) -> Change:
    def change(compose: Compose) -> None:
        target = compose
        for key in keys[:-1]:
            target = target[key]
        target[to] = target.pop(keys[-1])

    return change


def _drop_from_command(service: str, text: str) -> Change:
    def change(compose: Compose) -> None:
        command = compose["services"][service]["command"]
        assert any(text in line for line in command), f"{text!r} is not in {service}'s command: update this mutation"
        compose["services"][service]["command"] = [line.replace(text, "") for line in command]

    return change


S = "services"
# Each mutation of docker-compose.yml and a fragment of the problem it must cause. The schema reports the first
# group (they prove the validator bites); the project's own rules the rest.
COMPOSE_MUTATIONS: dict[str, tuple[Change, str]] = {
    "misspelt service key": (_rename(S, "api", "healthcheck", to="helthcheck"), "schema: $.services.api"),
    "misspelt healthcheck key": (_rename(S, "worker", "healthcheck", "interval", to="intervall"), "intervall"),
    "unknown dependency condition": (
        _set(S, "temporal-ui", "depends_on", "temporal", "condition", value="service_ready"),
        "schema: $.services['temporal-ui'].depends_on",
    ),
    "ports not a list": (_set(S, "temporal", "ports", value="7233:7233"), "schema: $.services.temporal.ports"),
    "restart not a string": (_set(S, "postgres", "restart", value=True), "schema: $.services.postgres.restart"),
    "unknown top-level key": (_rename("volumes", to="volume"), "schema: $: 'volume' does not match"),
    "environment as one string": (
        _set(S, "postgres", "environment", value="POSTGRES_DB=orderflow"),
        "schema: $.services.postgres.environment",
    ),
    # what only the project knows
    "api healthcheck removed": (_delete(S, "api", "healthcheck"), "api: a long-running service"),
    "temporal healthcheck removed": (_delete(S, "temporal", "healthcheck"), "temporal has no healthcheck"),
    "typo in an env var": (
        _rename(S, "worker", "environment", "PAYMENT_TIMEOUT_SECONDS", to="PAYMENT_TIMEOUT_SECOND"),
        "PAYMENT_TIMEOUT_SECOND is not a setting",
    ),
    "one worker": (_set(S, "worker", "deploy", "replicas", value=1), "deploy.replicas"),
    "grace period shorter than the shutdown": (_set(S, "worker", "stop_grace_period", value="5s"), "stop_grace_period"),
    "worker pinned to a container name": (_set(S, "worker", "container_name", value="worker"), "container_name"),
    "database password out of step": (
        _set(S, "postgres", "environment", "POSTGRES_PASSWORD", value="changed"),
        "does not match",
    ),
    "typo in the temporal address": (
        _set(S, "worker", "environment", "TEMPORAL_ADDRESS", value="temporall:7233"),
        "TEMPORAL_ADDRESS",
    ),
    "api no longer waits for the migrations": (_delete(S, "api", "depends_on", "migrate"), "api: must wait"),
    "dependency on a missing service": (
        _set(S, "worker", "depends_on", "temporal-setupp", value={"condition": COMPLETED}),
        "temporal-setupp, which is not a service",
    ),
    "search attribute setup removed": (_delete(S, "temporal-setup"), "service temporal-setup is missing"),
    "search attribute forgotten": (
        _drop_from_command("temporal-setup", "register OrderTotalMinor Int"),
        "does not register OrderTotalMinor (Int)",
    ),
    "worker script renamed": (_set(S, "worker", "command", value=["python", "workers.py"]), "must run worker.py"),
    "api factory renamed": (
        _set(S, "api", "command", value=["uvicorn", "api.app:make_app", "--factory"]),
        "must run api.app:create_app",
    ),
    "api health path changed": (
        _set(S, "api", "healthcheck", "test", value=["CMD", "curl", "-f", "http://127.0.0.1:8000/"]),
        "must ask /health",
    ),
}


@pytest.mark.parametrize("mutation", COMPOSE_MUTATIONS.values(), ids=COMPOSE_MUTATIONS.keys())
def test_a_broken_compose_file_is_reported(mutation: tuple[Change, str]) -> None:
    change, expected = mutation
    broken = copy.deepcopy(COMPOSE)  # a deep copy also unshares what YAML anchors share
    change(broken)
    problems = compose_problems(broken)
    assert any(expected in problem for problem in problems), problems


def test_the_schema_reports_where_the_file_is_broken() -> None:
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["worker"]["deploy"]["replicas"] = [2]
    broken["services"]["api"]["stop_grace_period"] = 30
    assert [problem.split(":")[1].strip() for problem in schema_problems(broken)] == [
        "$.services.api.stop_grace_period",
        "$.services.worker.deploy.replicas",
    ]


DOCKERFILE_MUTATIONS = {
    "migrations not copied": ("COPY migrations/ migrations/\n", "", "migrations is not copied"),
    "a package not copied": ("COPY workflows/ workflows/\n", "", "workflows is not copied"),
    "worker.py not copied": ("README.md worker.py", "README.md", "worker.py is not copied"),
    "runs as root": ("USER 10001:10001", "USER root", "run as root"),
    "the embedded servers installed": ("pip install .", "pip install '.[embedded]'", "installs an extra"),
}


@pytest.mark.parametrize("mutation", DOCKERFILE_MUTATIONS.values(), ids=DOCKERFILE_MUTATIONS.keys())
def test_a_broken_dockerfile_is_reported(mutation: tuple[str, str, str]) -> None:
    old, new, expected = mutation
    assert old in DOCKERFILE, f"{old!r} is not in the Dockerfile: update this mutation"
    problems = dockerfile_problems(DOCKERFILE.replace(old, new, 1))
    assert any(expected in problem for problem in problems), problems
