"""The Docker deployment, checked offline: CI runs no Docker engine, so docker-compose.yml, the Dockerfile and
.dockerignore are read as data and held to what a user of `docker compose up` relies on.

`deployment_problems(root)` lists every problem it finds in the deployment files under `root`. The project's own
files must have none; each mutation below (a plausible broken edit, applied to a copy) must be reported.
"""

import ast
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from stack.settings import Settings
from stack.temporal import search_attribute_flags
from worker import GRACEFUL_SHUTDOWN

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = "docker-compose.yml"
DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
DEPLOYMENT_FILES = (COMPOSE_FILE, DOCKERFILE, DOCKERIGNORE)

APP_SERVICES = ("migrate", "api", "worker")
REQUIRED_SERVICES = ("postgres", "temporal", "temporal-ui", "temporal-setup", *APP_SERVICES)
RUNS = {"api": "api.app:create_app", "worker": "worker.py", "migrate": "stack.migrate"}
HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"
CONDITIONS = {"service_started", HEALTHY, COMPLETED}
AFTER_SETUP = {"migrate": COMPLETED, "temporal": HEALTHY, "temporal-setup": COMPLETED}
REQUIRED_DEPENDS_ON = {
    "temporal": {"postgres": HEALTHY},
    "temporal-setup": {"temporal": HEALTHY},
    "migrate": {"postgres": HEALTHY},
    "api": AFTER_SETUP,
    "worker": AFTER_SETUP,
}
MIN_WORKERS = 2
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}
KEPT_OUT_OF_CONTEXT = (".git", ".venv", ".data", ".env")  # large, or local state and secrets
INSTALL_FILES = ("pyproject.toml", "README.md")  # what `pip install .` reads

Compose = dict[str, Any]  # parsed YAML: its shape is what the checks below verify


# --- compose semantics, as far as the checks need them -------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(value: str) -> str:
    """What compose makes of `value` where none of the variables is set (`${VAR:-default}` gives the default, `$$`
    a literal `$`): the checks must not depend on the caller's shell or `.env`."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        return match["default"] if match["op"] in ("-", ":-") else ""

    return _VARIABLE.sub(replace, value)


def environment(service: Compose) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", "KEY"]
        raw = {str(item).partition("=")[0]: str(item).partition("=")[2] for item in raw}
    return {str(key): "" if value is None else interpolate(str(value)) for key, value in raw.items()}


def argv(command: str | list[Any] | None) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(interpolate(command))
    return [interpolate(str(arg)) for arg in command]


def depends_on(service: Compose) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    return {str(name): (config or {}).get("condition", "service_started") for name, config in raw.items()}


def has_healthcheck(service: Compose) -> bool:
    check = service.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable"):
        return False
    test = check.get("test")
    if isinstance(test, str):
        return test.strip() not in ("", "NONE")
    return isinstance(test, list) and len(test) > 1 and test[0] in ("CMD", "CMD-SHELL")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def duration(value: object) -> timedelta | None:
    """A compose duration (`30s`, `1m30s`, `500ms`), or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    parts = _DURATION_PART.findall(value.strip())
    if not parts or "".join(number + unit for number, unit in parts) != value.strip():
        return None
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def unpinned(image: str) -> str | None:
    """Why `image` is not pinned to a version, or None."""
    if "@sha256:" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name or not name.split(":", 1)[1]:
        return "has no tag"
    return "is tagged latest" if name.split(":", 1)[1] == "latest" else None


# --- what commands run ---------------------------------------------------------------------------------------------


def project_modules(pyproject: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Top-level packages (`[tool.setuptools.packages.find] include`) and single modules (`py-modules`)."""
    setuptools = pyproject["tool"]["setuptools"]
    packages = sorted({pattern.split(".")[0].rstrip("*") for pattern in setuptools["packages"]["find"]["include"]})
    return packages, list(setuptools.get("py-modules", []))


def command_targets(args: list[str]) -> list[str]:
    """What a command runs: `-m module`, a `script.py`, a `module:attribute` (uvicorn's app)."""
    targets = []
    for index, arg in enumerate(args):
        if arg == "-m" and index + 1 < len(args):
            targets.append(args[index + 1])
        elif arg.endswith(".py") or re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", arg):
            targets.append(arg)
    return targets


def _defines(path: Path, name: str) -> bool:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def missing_target(root: Path, target: str, own_modules: set[str]) -> str | None:
    """Why `target` does not exist in the project under `root` (or, for a dependency, in the environment)."""
    if target.endswith(".py"):
        return None if (root / target).is_file() else f"{target} does not exist"
    module, _, attribute = target.partition(":")
    if module.split(".")[0] not in own_modules:
        return None if find_spec(module) else f"module {module} is not installed"
    base = root.joinpath(*module.split("."))
    path = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
    if path is None:
        return f"module {module} does not exist"
    if attribute and not _defines(path, attribute):
        return f"{module} defines no {attribute}"
    return None


# --- the Dockerfile ------------------------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _from_image(arguments: str) -> str:
    """The image of `FROM [--platform=...] image [AS stage]`."""
    return next(part for part in arguments.split() if not part.startswith("--"))


def _exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else ["/bin/sh", "-c", arguments]


def dockerfile_cmd(instructions: list[tuple[str, str]]) -> list[str]:
    return next((_exec_form(arguments) for keyword, arguments in reversed(instructions) if keyword == "CMD"), [])


def copied_sources(instructions: list[tuple[str, str]]) -> set[str]:
    """Paths of the build context that COPY/ADD take (`.` for the whole context)."""
    sources: set[str] = set()
    for keyword, arguments in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        parts = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
        if any(part.startswith("--from") for part in parts):
            continue  # from another stage or image, not from the context
        paths = [part for part in parts if not part.startswith("--")]
        sources |= {path.removeprefix("./").strip("/") or "." for path in paths[:-1]}
    return sources


def _glob_regex(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index:]:
            end = pattern.index("]", index)
            out.append("[" + pattern[index + 1 : end].replace("!", "^", 1) + "]")
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return "".join(out)


def ignored_by(dockerignore: str) -> Callable[[str], bool]:
    """Whether .dockerignore leaves a context path out: a path is out when it or a parent directory matches a
    pattern, and the last matching pattern (`!` re-includes) decides."""
    rules = []
    for line in dockerignore.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, re.compile(_glob_regex(line.removeprefix("!").strip().strip("/")))))

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
        result = False
        for negated, regex in rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                result = not negated
        return result

    return ignored


def _context_files(root: Path, entry: str) -> list[str]:
    path = root / entry
    if not path.is_dir():
        return [entry]
    files = (p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
    return [p.relative_to(root).as_posix() for p in files]


def dockerfile_problems(
    root: Path, instructions: list[tuple[str, str]], own_modules: set[str], needed: list[str]
) -> list[str]:
    problems = []
    bases = [_from_image(arguments) for keyword, arguments in instructions if keyword == "FROM"]
    if not bases or not re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:\w+)?", bases[-1]):
        problems.append(f"Dockerfile: the image must build on python:3.11-slim, not {bases[-1] if bases else None}")
    copied = copied_sources(instructions)
    for entry in needed:
        if not ({".", entry} & copied or any(entry.startswith(f"{source}/") for source in copied)):
            problems.append(f"Dockerfile: {entry} is not copied into the image")
    runs = " && ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    if not re.search(r"pip install (--?[\w-]+ )*\.(\s|$)", runs):
        problems.append("Dockerfile: the project is not installed with `pip install .`")
    users = [arguments.split(":")[0] for keyword, arguments in instructions if keyword == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("Dockerfile: the processes run as root (no USER, or USER root)")
    cmd = command_targets(dockerfile_cmd(instructions))
    if RUNS["api"] not in cmd:
        problems.append(f"Dockerfile: CMD must run the API ({RUNS['api']})")
    for target in cmd:
        if reason := missing_target(root, target, own_modules):
            problems.append(f"Dockerfile: CMD runs {target}, but {reason}")

    ignored = ignored_by((root / DOCKERIGNORE).read_text() if (root / DOCKERIGNORE).exists() else "")
    for entry in needed:
        left_out = [path for path in _context_files(root, entry) if ignored(path)]
        if left_out:
            problems.append(f".dockerignore leaves out {left_out[0]}, which the Dockerfile copies")
    for entry in KEPT_OUT_OF_CONTEXT:
        if not ignored(entry):
            problems.append(f".dockerignore must leave {entry} out of the build context")
    return problems


# --- docker-compose.yml --------------------------------------------------------------------------------------------


def _database_problems(name: str, env: dict[str, str], services: Compose) -> list[str]:
    problems = []
    try:
        url = make_url(env.get("DATABASE_URL", ""))
    except ArgumentError:
        return [f"{name}: DATABASE_URL is missing or not a database URL ({env.get('DATABASE_URL')!r})"]
    if url.drivername != "postgresql+asyncpg":
        problems.append(f"{name}: DATABASE_URL must use postgresql+asyncpg, not {url.drivername}")
    if url.host not in services:
        problems.append(f"{name}: DATABASE_URL points at {url.host}, which is not a compose service")
    else:
        server = environment(services[url.host])
        expected = (server.get("POSTGRES_USER"), server.get("POSTGRES_PASSWORD"), server.get("POSTGRES_DB"))
        if (url.username, url.password, url.database) != expected or (url.port or 5432) != 5432:
            problems.append(f"{name}: DATABASE_URL does not match the user, password and database of {url.host}")
    return problems


def _wiring_problems(services: Compose) -> list[str]:
    """Pinned images, healthchecks and a start order that can be satisfied."""
    problems = [f"service {name} is missing" for name in REQUIRED_SERVICES if name not in services]
    one_shots = {dep for service in services.values() for dep, cond in depends_on(service).items() if cond == COMPLETED}
    for name, service in services.items():
        if name not in APP_SERVICES:
            image = interpolate(str(service.get("image", "")))
            if reason := unpinned(image):
                problems.append(f"{name}: image {image!r} {reason}; pin a version")
        if name in one_shots:
            if service.get("restart") in ("always", "unless-stopped"):
                problems.append(f"{name}: a one-shot service must not restart (restart: {service['restart']})")
        elif not has_healthcheck(service):
            problems.append(f"{name}: a long-running service without a healthcheck")
        for dep, condition in depends_on(service).items():
            if dep not in services:
                problems.append(f"{name}: depends on {dep}, which is not a service")
            elif condition not in CONDITIONS:
                problems.append(f"{name}: depends on {dep} with an unknown condition {condition}")
            elif condition == HEALTHY and not has_healthcheck(services[dep]):
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
        for dep, condition in REQUIRED_DEPENDS_ON.get(name, {}).items():
            if depends_on(service).get(dep) != condition:
                problems.append(f"{name}: must wait for {dep} ({condition})")
    return problems


def _app_problems(services: Compose, root: Path, own_modules: set[str], image_cmd: list[str]) -> list[str]:
    """The API, the worker and the migrations: the project's image, the right command, the right settings."""
    problems = []
    built_images = {service.get("image") for service in services.values() if "build" in service} - {None}
    for name in [name for name in APP_SERVICES if name in services]:
        service = services[name]
        build = service.get("build")
        if build is not None:
            build = {"context": build} if isinstance(build, str) else build
            context, file = build.get("context", "."), build.get("dockerfile", DOCKERFILE)
            if (root / context / file).resolve() != (root / DOCKERFILE).resolve():
                problems.append(f"{name}: builds from {context}/{file}, not from the project's Dockerfile")
        elif service.get("image") not in built_images:
            problems.append(f"{name}: neither builds from the Dockerfile nor runs the image an app service builds")
        targets = command_targets(argv(service.get("command")) or image_cmd)
        if RUNS[name] not in targets:
            problems.append(f"{name}: must run {RUNS[name]}, runs {targets}")
        problems += [
            f"{name}: runs {target}, but {reason}"
            for target in targets
            if (reason := missing_target(root, target, own_modules))
        ]
        env = environment(service)
        problems += [
            f"{name}: {variable} is not a setting of stack.settings.Settings (a typo?)"
            for variable in sorted(set(env) - SETTINGS_VARIABLES)
        ]
        problems += _database_problems(name, env, services)
        host, _, port = env.get("TEMPORAL_ADDRESS", "").rpartition(":")
        if name != "migrate" and (host not in services or port != "7233"):
            problems.append(f"{name}: TEMPORAL_ADDRESS {env.get('TEMPORAL_ADDRESS')!r} is not <compose service>:7233")
    if "api" in services and "/health" not in json.dumps(services["api"].get("healthcheck")):
        problems.append("api: the healthcheck must ask /health")
    return problems


def _worker_problems(worker: Compose) -> list[str]:
    problems = []
    replicas = (worker.get("deploy") or {}).get("replicas", 1)
    if not isinstance(replicas, int) or replicas < MIN_WORKERS:
        problems.append(f"worker: deploy.replicas is {replicas!r}, at least {MIN_WORKERS} are needed")
    grace = duration(worker.get("stop_grace_period", "10s"))  # Docker's default: 10s
    if grace is None or grace <= GRACEFUL_SHUTDOWN:
        problems.append(
            f"worker: stop_grace_period {worker.get('stop_grace_period')!r} must exceed the worker's "
            f"graceful shutdown ({GRACEFUL_SHUTDOWN.total_seconds():g}s), or Docker kills in-flight activities"
        )
    if "container_name" in worker or worker.get("ports"):
        problems.append("worker: container_name or published ports stop it from scaling to several replicas")
    return problems


def _search_attribute_problems(setup: Compose) -> list[str]:
    """temporal-setup registers every key of workflows/search_attributes.py with its type."""
    script = json.dumps([setup.get("entrypoint"), setup.get("command")])
    problems = []
    if "search-attribute create" not in script:
        problems.append("temporal-setup: does not run `temporal operator search-attribute create`")
    for flag in search_attribute_flags()[1::2]:  # ["--search-attribute", "Name=Type", ...]
        name, type_ = flag.split("=")
        if not re.search(rf"\b{name}\b[\s=:]+(?:--type\s+)?{type_}\b", script):
            problems.append(f"temporal-setup: does not register {name} ({type_})")
    return problems


def compose_problems(compose: Compose, root: Path, own_modules: set[str], image_cmd: list[str]) -> list[str]:
    services: Compose = compose.get("services") or {}
    return [
        *_wiring_problems(services),
        *_app_problems(services, root, own_modules, image_cmd),
        *_worker_problems(services.get("worker") or {}),
        *_search_attribute_problems(services.get("temporal-setup") or {}),
    ]


def deployment_problems(root: Path) -> list[str]:
    """Every problem found in docker-compose.yml, the Dockerfile and .dockerignore under `root`."""
    packages, py_modules = project_modules(tomllib.loads((root / "pyproject.toml").read_text()))
    own_modules = set(packages) | set(py_modules)
    needed = [*INSTALL_FILES, *packages, *(f"{module}.py" for module in py_modules), "migrations", "alembic.ini"]
    instructions = dockerfile_instructions((root / DOCKERFILE).read_text())
    problems = dockerfile_problems(root, instructions, own_modules, needed)
    try:
        compose = yaml.safe_load((root / COMPOSE_FILE).read_text())
    except yaml.YAMLError as error:
        return [*problems, f"{COMPOSE_FILE} does not parse: {error}"]
    if not isinstance(compose, dict):
        return [*problems, f"{COMPOSE_FILE} is not a mapping"]
    return problems + compose_problems(compose, root, own_modules, dockerfile_cmd(instructions))


# --- tests ---------------------------------------------------------------------------------------------------------


def test_the_deployment_has_no_problems() -> None:
    assert deployment_problems(ROOT) == []


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


Mutation = Callable[[Path], None]


def edit_compose(change: Callable[[Compose], None]) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / COMPOSE_FILE
        compose = json.loads(json.dumps(yaml.safe_load(path.read_text())))  # unshare what YAML anchors share
        change(compose["services"])
        path.write_text(yaml.safe_dump(compose, sort_keys=False))

    return mutate


def edit_text(file: str, old: str, new: str) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / file
        text = path.read_text()
        assert old in text, f"{old!r} is not in {file}: update this mutation"
        path.write_text(text.replace(old, new, 1))

    return mutate


def _set(service: str, *keys: str, value: Any) -> Callable[[Compose], None]:
    def change(services: Compose) -> None:
        target = services[service]
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    return change


def _delete(*keys: str) -> Callable[[Compose], None]:
    def change(services: Compose) -> None:
        target = services
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _rename_env(service: str, old: str, new: str) -> Callable[[Compose], None]:
    def change(services: Compose) -> None:
        env = services[service]["environment"]
        env[new] = env.pop(old)

    return change


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "api healthcheck removed": (edit_compose(_delete("api", "healthcheck")), "api: a long-running service"),
    "temporal healthcheck removed": (edit_compose(_delete("temporal", "healthcheck")), "temporal has no healthcheck"),
    "postgres on latest": (edit_compose(_set("postgres", "image", value="postgres:latest")), "tagged latest"),
    "ui image without a tag": (edit_compose(_set("temporal-ui", "image", value="temporalio/ui")), "has no tag"),
    "typo in an env var": (
        edit_compose(_rename_env("worker", "PAYMENT_TIMEOUT_SECONDS", "PAYMENT_TIMEOUT_SECOND")),
        "PAYMENT_TIMEOUT_SECOND is not a setting",
    ),
    "one worker": (edit_compose(_set("worker", "deploy", "replicas", value=1)), "deploy.replicas"),
    "grace period shorter than the shutdown": (
        edit_compose(_set("worker", "stop_grace_period", value="5s")),
        "stop_grace_period",
    ),
    "worker pinned to a container name": (
        edit_compose(_set("worker", "container_name", value="worker")),
        "container_name",
    ),
    "database on localhost": (
        edit_compose(
            _set("api", "environment", "DATABASE_URL", value="postgresql+asyncpg://orderflow:orderflow@localhost/x")
        ),
        "not a compose service",
    ),
    "database password out of step": (
        edit_compose(_set("postgres", "environment", "POSTGRES_PASSWORD", value="changed")),
        "does not match",
    ),
    "typo in the temporal address": (
        edit_compose(_set("worker", "environment", "TEMPORAL_ADDRESS", value="temporall:7233")),
        "TEMPORAL_ADDRESS",
    ),
    "api no longer waits for the migrations": (
        edit_compose(_delete("api", "depends_on", "migrate")),
        "api: must wait for migrate",
    ),
    "dependency on a missing service": (
        edit_compose(_set("worker", "depends_on", "temporal-setupp", value={"condition": COMPLETED})),
        "temporal-setupp, which is not a service",
    ),
    "search attribute setup removed": (edit_compose(_delete("temporal-setup")), "service temporal-setup is missing"),
    "search attribute forgotten": (
        edit_text(COMPOSE_FILE, "register OrderTotalMinor Int", ""),
        "does not register OrderTotalMinor (Int)",
    ),
    "migrations restart forever": (edit_compose(_set("migrate", "restart", value="always")), "must not restart"),
    "worker script renamed": (
        edit_compose(_set("worker", "command", value=["python", "workers.py"])),
        "workers.py does not exist",
    ),
    "api factory renamed": (
        edit_compose(_set("api", "command", value="uvicorn api.app:make_app --factory")),
        "api.app defines no make_app",
    ),
    "migrations module renamed": (
        edit_compose(_set("migrate", "command", value=["python", "-m", "stack.migrations"])),
        "module stack.migrations does not exist",
    ),
    "worker on another image": (
        edit_compose(_delete("worker", "build")),
        "worker: neither builds",
    ),
    "compose file broken": (edit_text(COMPOSE_FILE, "services:\n", "services:\n  [oops\n"), "does not parse"),
    "migrations not copied": (edit_text(DOCKERFILE, "COPY migrations/ migrations/\n", ""), "migrations is not copied"),
    "a package not copied": (edit_text(DOCKERFILE, "COPY workflows/ workflows/\n", ""), "workflows is not copied"),
    "runs as root": (edit_text(DOCKERFILE, "USER 10001:10001", "USER root"), "run as root"),
    "another base image": (edit_text(DOCKERFILE, "FROM python:3.11-slim", "FROM python:3.13"), "python:3.11-slim"),
    "project not installed": (edit_text(DOCKERFILE, "pip install .", "pip install uvicorn"), "pip install ."),
    "alembic.ini ignored": (edit_text(DOCKERIGNORE, "docs\n", "docs\nalembic.ini\n"), "leaves out alembic.ini"),
    "virtualenv sent to the daemon": (edit_text(DOCKERIGNORE, ".venv\n", ""), "leave .venv out"),
}


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    """The project seen through links, with the deployment files copied so that a mutation changes only them."""
    for entry in ROOT.iterdir():
        if entry.name in DEPLOYMENT_FILES:
            (tmp_path / entry.name).write_text(entry.read_text())
        else:
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


def test_an_unchanged_copy_has_no_problems(copy_root: Path) -> None:
    assert deployment_problems(copy_root) == []


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_broken_deployment_is_reported(copy_root: Path, mutation: tuple[Mutation, str]) -> None:
    mutate, expected = mutation
    mutate(copy_root)
    problems = deployment_problems(copy_root)
    assert any(expected in problem for problem in problems), problems
