"""``deploy/``: the Dockerfile, compose.yaml and the systemd unit say what README promises.

Docker cannot run here, so the files are read: the compose file as YAML, the Dockerfile's
instructions, and the unit with ``systemd-analyze verify`` where systemd's tools exist (and
always by its keys). The parts that run are run for real: the image's HEALTHCHECK command
against the bot's HTTP server answering 200 and 503, and the build step that rewrites the
configuration for the container.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from factories import REPO
from kcrush_bot import settings as settings_mod
from kcrush_bot.storage import Store
from kcrush_bot.web import PrometheusMetrics, bot_server

DEPLOY = REPO / "deploy"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines: list[str] = []
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if raw.strip().startswith("#"):
            continue
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last_from:]


def unit() -> dict[str, dict[str, list[str]]]:
    """The unit's sections and keys; a key may repeat (SystemCallFilter=)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in (DEPLOY / "kcrush-bot.service").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


# -- the image -------------------------------------------------------------------------------


def test_the_image_is_slim_and_runs_as_an_unprivileged_user_with_the_database_on_a_volume() -> None:
    assert all("-slim" in image.split()[0] for image in instructions("FROM"))
    stage = final_stage()
    users = [args for instruction, args in stage if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(args for instruction, args in stage if instruction == "ENV")
    database = re.search(r"KCRUSH_DB=(\S+)", env)
    assert database is not None
    volumes = [json.loads(args) for instruction, args in stage if instruction == "VOLUME"]
    assert volumes == [["/data"]] and database.group(1).startswith("/data/")
    assert json.loads(instructions("ENTRYPOINT")[-1]) == ["kcrush-bot"]
    assert json.loads(instructions("CMD")[-1]) == ["run"]


def test_the_build_context_holds_what_the_image_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for instruction, args in dockerfile()
        if instruction == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert copied <= kept
    for path in copied:
        assert (REPO / path).exists(), path


def test_the_container_configuration_listens_where_the_port_can_be_published(
    tmp_path: Path,
) -> None:
    """The build step's sed, run on the shipped file: only [http] listen changes."""
    [run] = [args for args in instructions("RUN") if "sed " in args]
    command = re.search(r"sed ('[^']*') config/kcrush-bot\.toml", run)
    assert command is not None
    rewritten = subprocess.run(
        ["sed", *shlex.split(command.group(1)), str(REPO / "config" / "kcrush-bot.toml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    container = tmp_path / "kcrush-bot.toml"
    container.write_text(rewritten, encoding="utf-8")
    shutil.copy(REPO / "config" / "categories.toml", tmp_path / "categories.toml")
    shipped = settings_mod.load(str(REPO / "config" / "kcrush-bot.toml"))
    inside = settings_mod.load(str(container))
    assert inside.http.listen == "0.0.0.0:8787"
    assert inside.sources == shipped.sources and inside.delivery == shipped.delivery


async def test_the_healthcheck_command_passes_on_200_and_fails_on_503(store: Store) -> None:
    [healthcheck] = instructions("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python" and "curl" not in healthcheck
    assert "http://127.0.0.1:8787/healthz" in command[-1]

    class Telegram:
        problem: str | None = None

        def connection_problem(self) -> str | None:
            return self.problem

    telegram = Telegram()
    metrics = PrometheusMetrics()
    async with bot_server(("127.0.0.1", 0), store, {"telegram": telegram}, metrics) as server:

        async def probe() -> int:
            code = command[-1].replace("127.0.0.1:8787", f"127.0.0.1:{server.port}")
            done = await asyncio.create_subprocess_exec(
                sys.executable,
                *command[1:-1],
                code,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            return await asyncio.wait_for(done.wait(), 30)

        assert await probe() == 0
        telegram.problem = "getUpdates failed: Bad Gateway"
        assert await probe() != 0


# -- compose ---------------------------------------------------------------------------------


def test_compose_builds_the_image_and_keeps_the_database_and_the_tokens_outside_it() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["kcrush-bot"]
    build = service["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    volume, _, target = service["volumes"][0].partition(":")
    assert target == "/data" and volume in compose["volumes"]
    assert service["env_file"] == ["kcrush-bot.env"]
    example = (DEPLOY / "kcrush-bot.env.example").read_text(encoding="utf-8")
    assert "KCRUSH_TELEGRAM_TOKEN=" in example and "KCRUSH_DISCORD_TOKEN=" in example
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert service["restart"] == "unless-stopped" and service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "kcrush-bot.env" in (REPO / ".gitignore").read_text(encoding="utf-8")


# -- systemd ---------------------------------------------------------------------------------


def test_the_unit_restarts_on_failure_reads_tokens_from_a_file_and_is_hardened() -> None:
    service = unit()["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"] == ["kcrush-bot"] and service["Group"] == ["kcrush-bot"]
    [environment_file] = service["EnvironmentFile"]
    assert environment_file.endswith(".env") and not environment_file.startswith("-")
    assert service["ExecStart"] == ["/opt/kcrush-bot/.venv/bin/kcrush-bot run"]
    assert "KCRUSH_DB=/var/lib/kcrush-bot/kcrush-bot.db" in service["Environment"]
    assert service["StateDirectory"] == ["kcrush-bot"] and service["UMask"] == ["0077"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert service[key] == [value], key
    assert "@system-service" in service["SystemCallFilter"]
    assert unit()["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.timeout(60)
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own parser: an unknown key or a bad value is reported, not ignored. Where
    systemd's tools are missing, the key checks above are what remains."""
    analyze = shutil.which("systemd-analyze")
    text = (DEPLOY / "kcrush-bot.service").read_text(encoding="utf-8")
    # verify also checks that ExecStart's program exists: point it at this checkout's.
    installed = Path(sys.executable).with_name("kcrush-bot")
    assert installed.exists()
    copy = tmp_path / "kcrush-bot.service"
    copy.write_text(text.replace("/opt/kcrush-bot/.venv/bin/kcrush-bot", str(installed)))
    if analyze is None:
        assert unit()["Service"]["ExecStart"]
        return
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_license_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_compose_postgres_runs_two_replicas_on_one_database_without_a_password_in_it() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.postgres.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("replica-")]
    assert len(replicas) == 2 and "postgres" in services
    for replica in replicas:
        url = replica["environment"]["KCRUSH_DB"]
        assert url.startswith("postgresql://") and ":" not in url.split("//")[1].split("@")[0]
        assert "postgres.env" in replica["env_file"]  # PGPASSWORD
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    ports = [p for replica in replicas for p in replica["ports"]]
    assert len(set(ports)) == len(ports)
    assert "postgres.env" in services["postgres"]["env_file"]
