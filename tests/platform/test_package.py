"""The distribution installs and runs outside the checkout, as the container image does.

An sdist is built from a clean checkout (the files git tracks); ``docker/build.sh`` (the
image's build step, run as is) builds the wheel from that sdist and installs it with
``constraints.txt`` into a fresh virtual environment (one test uses it: pytest-xdist
workers would each build their own). The installed ``tradepost`` then serves from an
unrelated working directory (its spec, migrations and font are package data, nothing is
read from the checkout), answers ``/healthz`` and a README request, and
``docker/entrypoint.sh`` (the image's start step, run as is) migrates an empty PostgreSQL
database before it serves and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, REQUIRE_PG
from tests.servers import free_port
from tradepost.app import SPEC_PATH

pytestmark = pytest.mark.slow

ROOT = SPEC_PATH.parent


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a stranger's shell: no TRADEPOST_* settings, no checkout on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRADEPOST_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    return {**env, **extra}


def _clean_checkout(target: Path) -> Path:
    """The files git tracks, as they are in the work tree (a clean checkout of them): no
    build output, database or cache of the developer's, and builds in parallel never
    share setuptools' ``*.egg-info`` directory."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, copy = ROOT / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet committed
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy, follow_symlinks=False)
    return target


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    checkout = _clean_checkout(tmp_path_factory.mktemp("checkout"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(out),
            checkout,
        ],
        check=True,
        capture_output=True,
        env=_clean_env(PATH=os.environ["PATH"]),
    )
    return next(out.glob("tradepost-*.tar.gz"))


@pytest.fixture(scope="module")
def prefix(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docker/build.sh SDIST PREFIX: a wheel built from the sdist, installed in a new venv."""
    venv = tmp_path_factory.mktemp("image") / "opt-tradepost"
    started = time.monotonic()
    done = subprocess.run(
        ["sh", str(ROOT / "docker" / "build.sh"), str(dist), str(venv)],
        capture_output=True,
        text=True,
        env=_clean_env(PYTHON=sys.executable),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith("tradepost "), done.stdout  # --version, last step
    print(f"\ndocker/build.sh: {time.monotonic() - started:.1f} s")
    return venv


def test_the_sdist_carries_the_spec_migrations_and_licence(dist: Path) -> None:
    with tarfile.open(dist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for required in (
        "openapi.yaml",
        "tradepost/openapi.yaml",
        "migrations/script.py.mako",
        "migrations/env.py",
        "LICENSE",
        "constraints.txt",
        "docker/build.sh",
        "docker/entrypoint.sh",
    ):
        assert required in names, required
    assert not any(name.startswith(("tests/", ".venv/")) for name in names)


def test_the_installed_package_serves_and_its_entrypoint_migrates(
    prefix: Path, tmp_path: Path
) -> None:
    _is_self_contained(prefix, tmp_path)
    _serves_from_any_directory(prefix, tmp_path)
    _entrypoint_migrates_then_serves(prefix, tmp_path)


def _is_self_contained(prefix: Path, tmp_path: Path) -> None:
    probe = (
        "import pathlib, migrations, tradepost.app as app;"
        "from models.offsets.documents import unicode_fonts;"
        "print(app.SPEC_PATH); print(pathlib.Path(migrations.__file__).parent);"
        "print(unicode_fonts()[0]);"
        "import models.offsets.data as data; print(pathlib.Path(data.__file__).parent)"
    )
    done = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=True,
    )
    spec, migrations, font, data = (Path(line) for line in done.stdout.splitlines())
    assert data.is_relative_to(prefix)
    shipped = {path.name for path in (ROOT / "models" / "offsets" / "data").glob("*.json")}
    assert {path.name for path in data.glob("*.json")} == shipped  # the data files too
    assert font.is_relative_to(prefix)  # the PDF font, from a dependency
    assert spec.is_relative_to(prefix)
    assert not spec.is_symlink()
    assert spec.read_bytes() == SPEC_PATH.read_bytes()  # the file itself, not a copy to maintain
    assert (migrations / "script.py.mako").is_file()
    assert migrations.is_relative_to(prefix)


@contextmanager
def _process(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[Any]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        with suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(log.read_text()[-3000:])


def _serves_from_any_directory(prefix: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = _clean_env()
    token = subprocess.run(
        [
            str(prefix / "bin" / "tradepost"),
            "tokens",
            "create",
            "--surface",
            "trades",
            "--tenant",
            "TEN123",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    argv = [str(prefix / "bin" / "tradepost"), "serve", "--port", str(port)]
    with _process(argv, workdir, env, tmp_path / "serve.log") as process:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/healthz", process, tmp_path / "serve.log")
        # the README's first request
        created = httpx.post(
            f"{base}/api/v1/trades",
            headers={
                "Authorization": f"Bearer {token}",
                "tenantId": "TEN123",
                "userId": "USR456",
                "countryCode": "US",
            },
            json={
                "productId": "prod123",
                "quantity": 1000,
                "indicativeUnitPrice": 54.5,
                "productUnitType": "Barrels",
                "businessId": "BUS789",
                "buyerId": "BUY321",
            },
        )
        assert created.status_code == 201, created.text
        docs = httpx.get(f"{base}/docs/")
        assert docs.status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"]
    assert (workdir / "tradepost.db").is_file()  # the default database, where it was started


def _fresh_pg_database(name: str) -> str | None:
    target = make_url(PG_URL).set(database=name)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        print(f"PostgreSQL not reachable, entrypoint not tried: {type(exc).__name__}")
        return None
    finally:
        admin.dispose()
    return target.render_as_string(hide_password=False)


def _entrypoint_migrates_then_serves(prefix: Path, tmp_path: Path) -> None:
    """On PostgreSQL, as compose.yaml runs it (skipped without PostgreSQL, unless required)."""
    url = _fresh_pg_database(f"{make_url(PG_URL).database}_image")
    if url is None:
        return
    port = free_port()
    env = _clean_env(
        PATH=f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}",
        TRADEPOST_DATABASE_URL=url,
        TRADEPOST_HOST="127.0.0.1",
        TRADEPOST_PORT=str(port),
        TRADEPOST_WORKERS="2",
    )
    entrypoint = str(ROOT / "docker" / "entrypoint.sh")
    log = tmp_path / "entrypoint.log"
    with _process(["sh", entrypoint], tmp_path, env, log) as process:
        # readiness: the database reachable and the schema at the code's revision
        _wait(f"http://127.0.0.1:{port}/readyz", process, log)
        token = subprocess.run(
            ["sh", entrypoint, "tokens", "create", "--tenant", "TEN123"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        listed = httpx.get(
            f"http://127.0.0.1:{port}/v2/webhooks", headers={"Authorization": f"Bearer {token}"}
        )
        assert listed.status_code == 200, listed.text
        process.send_signal(signal.SIGTERM)  # what `docker stop` sends to the one process
        assert process.wait(60) == 0, log.read_text()[-3000:]
    assert "database at" in log.read_text()  # `tradepost db upgrade` ran before serve
