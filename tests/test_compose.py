"""compose/: the team deployment, checked without a Docker engine (there is none here).

The compose file is validated against the Compose specification's JSON schema (check-jsonschema
ships it), and the pieces that must agree are read and compared: the variables of
docker-compose.yml and .env.example, the services and the configs the app replicas read, the
Dockerfile's pins and .ci/constraints.txt, HAProxy's servers and the app replicas. Each check is
also shown to fail on a broken copy, so a passing run means something.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from playground.core.config import OpenAIModel, check_local_paths, load_config

from .paths import PROJECT_ROOT

COMPOSE_DIR = PROJECT_ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
HAPROXY_CFG = COMPOSE_DIR / "haproxy.cfg"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
CONSTRAINTS = PROJECT_ROOT / ".ci" / "constraints.txt"
CI_SETUP = PROJECT_ROOT / ".ci" / "setup"
# Where docker-compose.yml mounts compose/'s config files inside the app containers.
CONTAINER_COMPOSE_DIR = PurePosixPath("/srv/playground/compose")
# Variables docker compose itself reads from .env (not interpolated in the file).
COMPOSE_CLI_VARIABLES = {"COMPOSE_PROFILES"}
# The config each profile's app replicas read, and the model services it needs.
CONFIGS = {
    "gpu": COMPOSE_DIR / "playground.compose.yaml",
    "cpu": COMPOSE_DIR / "playground.compose-cpu.yaml",
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR; $$ is a literal $.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


# --- helpers --------------------------------------------------------------------------------------


def check_jsonschema() -> Path:
    exe = Path(sys.executable).parent / "check-jsonschema"
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: install the test extra (pip install -c .ci/constraints.txt -e '.[test]')")
    return exe


def validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(check_jsonschema()), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def compose_variables(text: str) -> dict[str, list[str]]:
    """Each variable the compose file interpolates, with the defaults it is given (``:-``)."""
    found: dict[str, list[str]] = {}
    for match in _INTERPOLATION.finditer(text):
        if match["escaped"]:
            continue
        name = match["braced"] or match["bare"]
        defaults = found.setdefault(name, [])
        if match["op"] in (":-", "-"):
            defaults.append(match["arg"])
    return found


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f"{path.name}:{number}: not NAME=value: {line!r}"
        assert name not in values, f"{path.name}:{number}: {name} is set twice"
        values[name] = value
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """The value as docker compose sees it with ``env`` (the .env file), recursively."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        current = env.get(name)
        op, arg = match["op"], match["arg"]
        if op in (":-", "-") and (current is None or (op == ":-" and current == "")):
            return arg
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise AssertionError(f"compose would refuse to start: {name}: {arg}")
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def example_env() -> dict[str, str]:
    """.env.example with its two secrets filled in, as a user's .env would be."""
    env = read_env_file(ENV_EXAMPLE)
    env.update(CHAINLIT_AUTH_SECRET="secret", POSTGRES_PASSWORD="password")
    return env


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return interpolate(data, env if env is not None else example_env())


def option(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} not in {command}"
    return command[command.index(flag) + 1]


def app_replicas(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if "PLAYGROUND_REPLICA" in (s.get("environment") or {})}


def served_model(service: dict[str, Any]) -> tuple[str, int, str | None]:
    """(the model id a model service answers to, its port, its --max-model-len if any)."""
    command = [str(part) for part in service["command"]]
    if command[:2] == ["transformers", "serve"]:
        return command[2], int(option(command, "--port")), None
    # vLLM: the image's entrypoint (or ours for vllm-cpu) takes the options.
    name = option(command, "--served-model-name") if "--served-model-name" in command else option(command, "--model")
    max_len = option(command, "--max-model-len") if "--max-model-len" in command else None
    return name, int(option(command, "--port")), max_len


def container_path(config_file: Path, relative: str) -> PurePosixPath:
    """A path written in a config, resolved the way the app resolves it inside the container."""
    path = PurePosixPath(relative)
    if not path.is_absolute():
        path = CONTAINER_COMPOSE_DIR / path
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (volume name or host path) of a service's short-syntax volumes."""
    found = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        found[target] = source
    return found


def pin_problems(dockerfile: str, constraints: str, setup: str) -> list[str]:
    """Every ``name==version`` the Dockerfile installs must be pinned the same way in
    .ci/constraints.txt or .ci/setup, and every pip install must go through the constraints."""
    def pins(text: str) -> dict[str, str]:
        return {m[1].lower(): m[2] for m in re.finditer(r"(?<![\w.-])([A-Za-z0-9][\w.-]*)==([\w.+!-]+)", text)}

    known = {**pins(setup), **pins(constraints)}
    problems = []
    # One logical line per instruction (backslash continuations joined).
    text = re.sub(r"\\\n", " ", dockerfile)
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for name, version in pins(line).items():
            if name not in known:
                problems.append(f"{name}=={version}: pinned in the Dockerfile only, not in .ci/")
            elif known[name] != version:
                problems.append(f"{name}=={version}: .ci pins {name}=={known[name]}")
        for install in re.findall(r"pip install[^&;|]*", line):
            if "-c /tmp/constraints.txt" not in install:
                problems.append(f"a pip install without the constraints: {install.strip()!r}")
    if "COPY .ci/constraints.txt /tmp/constraints.txt" not in dockerfile:
        problems.append("the Dockerfile does not copy .ci/constraints.txt to /tmp/constraints.txt")
    return problems


def haproxy_problems(cfg: str, services: dict[str, Any]) -> list[str]:
    """HAProxy's backend names each app replica once, with its own cookie value, the cookie is
    inserted, and the health check asks /healthz."""
    lines = [line.split("#", 1)[0].strip() for line in cfg.splitlines()]
    problems = []
    if not any(re.fullmatch(r"cookie SERVERID insert indirect nocache( httponly)?", line) for line in lines):
        problems.append("no `cookie SERVERID insert indirect nocache` line")
    if not any(re.fullmatch(r"http-check send meth GET uri /healthz\b.*", line) for line in lines):
        problems.append("the health check does not ask /healthz")
    for needed in ("timeout tunnel", "timeout server"):
        if not any(line.startswith(needed + " ") for line in lines):
            problems.append(f"no `{needed}`")
    servers: dict[str, tuple[str, str]] = {}
    for line in lines:
        match = re.fullmatch(r"server (\S+) (\S+?):(\d+)\s+(.*)", line)
        if match:
            name, host, port, rest = match.groups()
            cookie = re.search(r"\bcookie (\S+)", rest)
            servers[name] = (f"{host}:{port}", cookie[1] if cookie else "")
    replicas = app_replicas(services)
    for name, service in replicas.items():
        port = str(service["expose"][0])
        if name not in servers:
            problems.append(f"app replica {name} has no server line")
        elif servers[name][0] != f"{name}:{port}":
            problems.append(f"server {name} points at {servers[name][0]}, not {name}:{port}")
    for name, (_, cookie) in servers.items():
        if name not in replicas:
            problems.append(f"server {name} is not an app replica of the compose file")
        if not cookie:
            problems.append(f"server {name} has no cookie value")
    cookies = [cookie for _, cookie in servers.values()]
    if len(set(cookies)) != len(cookies):
        problems.append(f"cookie values repeat: {cookies}")
    return problems


# --- the compose file against the Compose specification -------------------------------------------


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = validate_compose(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        # a typo in a service key
        ("    healthcheck:\n      # $$: the container's", "    healtcheck:\n      # $$: the container's", "healtcheck"),
        # a depends_on condition that does not exist
        ("      condition: service_completed_successfully\n    # Only", "      condition: service_done\n    # Only",
         "service_done"),
        # a GPU reservation whose capabilities are not a list
        ("              capabilities: [gpu]", "              capabilities: gpu", "capabilities"),
    ],
)
def test_a_broken_compose_file_is_refused(tmp_path: Path, old: str, new: str, reported: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert old in text, f"the test's anchor is gone from docker-compose.yml: {old!r}"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = validate_compose(broken)
    assert result.returncode != 0, f"check-jsonschema accepted a broken file ({new!r})"
    assert reported in result.stdout + result.stderr


# --- variables --------------------------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example_and_back() -> None:
    used = set(compose_variables(COMPOSE_FILE.read_text(encoding="utf-8")))
    listed = set(read_env_file(ENV_EXAMPLE)) - COMPOSE_CLI_VARIABLES
    assert sorted(used - listed) == [], "used in docker-compose.yml but missing from .env.example"
    assert sorted(listed - used) == [], "in .env.example but not used by docker-compose.yml"


def test_compose_defaults_are_the_env_example_values() -> None:
    """Without a .env the stack behaves as with the example (apart from the required secrets)."""
    env = read_env_file(ENV_EXAMPLE)
    for name, defaults in compose_variables(COMPOSE_FILE.read_text(encoding="utf-8")).items():
        for default in defaults:
            assert default == env[name], f"docker-compose.yml: ${{{name}:-{default}}}, .env.example: {env[name]!r}"


def test_the_secrets_are_required() -> None:
    env = example_env()
    for secret in ("CHAINLIT_AUTH_SECRET", "POSTGRES_PASSWORD"):
        assert read_env_file(ENV_EXAMPLE)[secret] == "", f"{secret} must be empty in .env.example"
        with pytest.raises(AssertionError, match="compose would refuse to start"):
            compose({**env, secret: ""})


def test_the_variable_reader_finds_a_new_variable() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8") + "\nx-extra: ${NEW_VARIABLE:-1} $$NOT_A_VARIABLE\n"
    found = compose_variables(text)
    assert found["NEW_VARIABLE"] == ["1"]
    assert "NOT_A_VARIABLE" not in found


# --- the services against the configs the app reads ------------------------------------------------


@pytest.mark.parametrize("profile", sorted(CONFIGS))
def test_the_config_points_at_the_profiles_model_services(profile: str) -> None:
    services = compose()["services"]
    config = load_config(CONFIGS[profile])
    for name in (config.arena.model_a, config.arena.model_b):
        model = config.model(name)
        assert isinstance(model, OpenAIModel), f"{name}: in compose every model is a service (backend: openai)"
        url = urlparse(model.base_url)
        assert url.hostname in services, f"{name}: no service {url.hostname!r} in docker-compose.yml"
        service = services[url.hostname]
        assert service.get("profiles") == [profile], f"{name}: service {url.hostname} is not in the {profile} profile"
        served, port, max_len = served_model(service)
        assert url.port == port, f"{name}: the config says port {url.port}, the service listens on {port}"
        assert url.path == "/v1"
        assert model.model == served, f"{name}: the config asks for {model.model!r}, {url.hostname} serves {served!r}"
        if max_len is not None:  # vLLM: the configured window is the server's
            assert model.context_window == int(max_len), f"{name}: context_window vs --max-model-len {max_len}"
        else:  # transformers serve: no /tokenize, so the app needs the tokenizer, mounted
            assert model.tokenizer, f"{name}: a transformers serve model needs `tokenizer:` for counting"
            inside = container_path(CONFIGS[profile], model.tokenizer)
            for replica_name, replica in app_replicas(services).items():
                targets = mounts(replica)
                assert any(inside.is_relative_to(target) for target in targets), (
                    f"{name}: the tokenizer {inside} is on no volume of {replica_name}"
                )


def test_the_tokenizer_is_saved_where_the_gpu_config_reads_it() -> None:
    services = compose()["services"]
    config = load_config(CONFIGS["gpu"])
    local = next(m for m in config.models if isinstance(m, OpenAIModel) and "local-model:" in m.base_url)
    assert local.tokenizer is not None
    saver = " ".join(services["local-model-tokenizer"]["command"])
    assert f"from_pretrained('{local.model}')" in saver, "the tokenizer saved is not the served model's"
    assert f"save_pretrained('{container_path(CONFIGS['gpu'], local.tokenizer)}')" in saver


@pytest.mark.parametrize("profile", sorted(CONFIGS))
def test_the_configs_pass_check_config(profile: str, tmp_path: Path) -> None:
    """check-config also wants the tokenizer folders, which exist inside the stack (a volume), not
    in a checkout: checked here on a copy whose tokenizer folders hold a tokenizer file."""
    copy = tmp_path / "compose" / CONFIGS[profile].name
    copy.parent.mkdir()
    shutil.copy2(CONFIGS[profile], copy)
    config = load_config(copy)
    for model in config.models:
        if isinstance(model, OpenAIModel) and model.tokenizer:
            folder = copy.parent / model.tokenizer
            folder.mkdir(parents=True)
            (folder / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "playground"), "check-config", str(copy)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_local_paths(config, [config.arena.model_a, config.arena.model_b])


def test_the_app_replicas_read_the_selected_config() -> None:
    services = compose()["services"]
    replicas = app_replicas(services)
    assert len(replicas) >= 2
    for profile, path in CONFIGS.items():
        env = {**example_env(), "PLAYGROUND_COMPOSE_CONFIG": path.name}
        for name, replica in app_replicas(compose(env)["services"]).items():
            wanted = str(CONTAINER_COMPOSE_DIR / path.name)
            assert replica["environment"]["PLAYGROUND_CONFIG"] == wanted, f"{name} ({profile})"
            assert mounts(replica)[wanted] == f"./{path.name}", f"{name} does not mount {path.name}"
    for name, replica in replicas.items():
        assert replica["environment"]["PLAYGROUND_REPLICA"] == name
        assert "postgres:5432" in replica["environment"]["PLAYGROUND_DATABASE_URL"]
        depends = replica["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for model_service in ("vllm", "local-model", "vllm-cpu", "local-model-cpu"):
            assert depends[model_service]["condition"] == "service_healthy", f"{name} -> {model_service}"
        assert "/healthz" in " ".join(replica["healthcheck"]["test"])


def test_the_model_services_reserve_a_gpu_or_run_on_the_cpu() -> None:
    services = compose()["services"]
    for name in ("vllm", "local-model"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"], name
        assert "/health" in " ".join(services[name]["healthcheck"]["test"]), name
    vllm = [str(part) for part in services["vllm"]["command"]]
    assert services["vllm"]["image"].startswith("vllm/vllm-openai:")
    assert {"--max-model-len", "--gpu-memory-utilization", "--enable-prefix-caching"} <= set(vllm)
    assert "--continuous-batching" in services["local-model"]["command"]
    for name in ("vllm-cpu", "local-model-cpu", "demo-models"):
        assert "deploy" not in services[name], f"{name} (cpu profile) must not ask for a GPU"


# --- the Dockerfile ----------------------------------------------------------------------------------


def test_the_dockerfile_pins_agree_with_the_ci_pins() -> None:
    problems = pin_problems(
        DOCKERFILE.read_text(encoding="utf-8"),
        CONSTRAINTS.read_text(encoding="utf-8"),
        CI_SETUP.read_text(encoding="utf-8"),
    )
    assert problems == []


def test_a_pin_that_drifts_is_caught() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    constraints, setup = CONSTRAINTS.read_text(encoding="utf-8"), CI_SETUP.read_text(encoding="utf-8")
    torch = re.search(r"^torch==(\S+)", constraints, re.M)
    assert torch, "no torch pin in .ci/constraints.txt"
    drifted = dockerfile.replace(f"torch=={torch[1]}", "torch==0.0.1", 1)
    assert any("torch==0.0.1" in p for p in pin_problems(drifted, constraints, setup))
    unconstrained = dockerfile.replace("pip install -c /tmp/constraints.txt", "pip install", 1)
    assert any("without the constraints" in p for p in pin_problems(unconstrained, constraints, setup))
    extra = dockerfile.replace(" . accelerate", " . accelerate==9.9", 1)
    assert any("accelerate==9.9" in p for p in pin_problems(extra, constraints, setup))


def test_the_dockerfile_runs_the_app_as_a_user_on_the_proxied_port() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)
    last = stages[-1]
    assert last.split("\n", 1)[0].endswith("AS app"), "the app must be the default (last) target"
    users = re.findall(r"^USER (\S+)", last, re.M)
    assert users and users[-1] not in ("root", "0"), "the app runs as root"
    assert "EXPOSE 8080" in last and '"--port", "8080"' in last
    services = compose()["services"]
    for name, replica in app_replicas(services).items():
        assert replica["build"]["target"] == "app" and replica["expose"] == ["8080"], name
    ignored = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".ci" not in ignored and "compose" in ignored and ".venv" in ignored


# --- HAProxy ----------------------------------------------------------------------------------------


def test_haproxy_names_the_cookie_and_the_app_replicas() -> None:
    services = compose()["services"]
    assert haproxy_problems(HAPROXY_CFG.read_text(encoding="utf-8"), services) == []
    proxy_mounts = mounts(services["proxy"])
    assert proxy_mounts["/usr/local/etc/haproxy/haproxy.cfg"] == "./haproxy.cfg"


def test_a_replica_missing_from_haproxy_is_caught() -> None:
    services = compose()["services"]
    cfg = HAPROXY_CFG.read_text(encoding="utf-8")
    dropped = re.sub(r"^\s*server app-2 .*$", "", cfg, flags=re.M)
    assert "app replica app-2 has no server line" in haproxy_problems(dropped, services)
    no_cookie = cfg.replace("cookie SERVERID insert", "cookie OTHER insert")
    assert "no `cookie SERVERID insert indirect nocache` line" in haproxy_problems(no_cookie, services)
    extra = {**services, "app-9": {**services["app-1"], "environment": {"PLAYGROUND_REPLICA": "app-9"}}}
    assert "app replica app-9 has no server line" in haproxy_problems(cfg, extra)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed (Debian's haproxy)")
def test_haproxy_accepts_its_config() -> None:
    # Outside docker the replicas' names do not resolve: HAProxy warns and starts them disabled.
    result = subprocess.run(["haproxy", "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Kubernetes ----------------------------------------------------------------------------------------


def test_the_production_stack_values_serve_the_vllm_model() -> None:
    values = yaml.safe_load((COMPOSE_DIR / "k8s" / "production-stack-values.yaml").read_text(encoding="utf-8"))
    env = example_env()
    specs = {spec["name"]: spec for spec in values["servingEngineSpec"]["modelSpec"]}
    urls = {spec["modelURL"]: spec for spec in specs.values()}
    assert env["VLLM_MODEL"] in urls, f"no modelSpec serves {env['VLLM_MODEL']}"
    vllm = urls[env["VLLM_MODEL"]]["vllmConfig"]
    assert vllm["maxModelLen"] == int(env["VLLM_MAX_MODEL_LEN"])
    assert vllm["enablePrefixCaching"] is True
    assert len(specs) == 2, "the two arena models"
