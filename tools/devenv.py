"""Helpers shared by the developer commands in tools/: find Odoo, start
PostgreSQL and build Odoo command lines that stay on 127.0.0.1."""

import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE = "external_crm_sync"
ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
PYTHON = sys.executable
POSTGRES_START_TIMEOUT = 30  # seconds


def step(title):
    print(f"\n=== {title}", flush=True)


def run(command, **kwargs):
    print("$ " + " ".join(str(part) for part in command), flush=True)
    return subprocess.run(command, check=False, **kwargs)


def check_odoo():
    step("Odoo 18")
    probe = run(
        [PYTHON, "-c", "import odoo.release as r; print(r.version_info[0])"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if probe.returncode != 0 or probe.stdout.strip() != "18":
        print(
            "Odoo 18 is not importable from this Python: install Odoo 18.0 from "
            "its source (pip install -r requirements.txt && pip install -e . in "
            "the Odoo checkout), as README.rst describes, then run this again."
        )
        return False
    print("Odoo 18 found")
    return True


def odoo_addons_path():
    """Return the addons path: Odoo's own addons, extra folders and this addon."""
    import odoo  # noqa: PLC0415 - imported only after check_odoo() passed

    odoo_root = Path(odoo.__file__).resolve().parent.parent
    folders = [str(odoo_root / "odoo" / "addons")]
    if (odoo_root / "addons").is_dir():
        folders.append(str(odoo_root / "addons"))
    extra = os.environ.get("ODOO_ADDONS_PATH")
    if extra:
        folders.extend(part for part in extra.split(",") if part)

    # Odoo needs the folder to carry the module's name: a clone may not.
    link_folder = addons_link_folder()
    link_folder.mkdir(parents=True, exist_ok=True)
    link = link_folder / MODULE
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT, target_is_directory=True)
    folders.append(str(link_folder))
    return ",".join(folders)


def addons_link_folder():
    """Return the folder holding the link named after the addon.

    It lies outside the repository: a link inside it would point at its own
    parent, and Odoo's translation export walks into such a loop.
    """
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"{MODULE}-addons-{digest}"


def postgres_ready():
    result = subprocess.run(
        ["psql", "-d", "postgres", "-Atc", "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def ensure_postgres():
    step("PostgreSQL")
    if subprocess.run(["pg_isready", "-q"], check=False).returncode != 0:
        print("PostgreSQL is down: starting it")
        if shutil.which("service"):
            run(["service", "postgresql", "start"])
        elif shutil.which("pg_ctlcluster"):
            run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"])
        deadline = time.monotonic() + POSTGRES_START_TIMEOUT
        while subprocess.run(["pg_isready", "-q"], check=False).returncode != 0:
            if time.monotonic() > deadline:
                print(f"PostgreSQL did not start within {POSTGRES_START_TIMEOUT} s")
                return False
            time.sleep(1)

    if not postgres_ready():
        user = getpass.getuser()
        print(f"creating PostgreSQL role {user!r}")
        run(["su", "postgres", "-c", f"createuser --superuser {user}"])
    ok = postgres_ready()
    print("PostgreSQL ready" if ok else "PostgreSQL does not accept our connection")
    return ok


def free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_command(database, addons_path, *args):
    """Return an Odoo command line that stops after init and stays on 127.0.0.1."""
    return [
        PYTHON,
        "-m",
        "odoo",
        "--database",
        database,
        "--addons-path",
        addons_path,
        "--max-cron-threads",
        "0",
        "--http-interface",
        "127.0.0.1",
        "--http-port",
        str(free_port()),
        "--stop-after-init",
        *args,
    ]


def create_scratch_database(prefix, addons_path):
    """Install the addon into a new database named after the prefix; exit on failure."""
    database = f"{prefix}_{os.getpid()}"
    step(f"Installing the addon into the scratch database {database}")
    result = run(
        odoo_command(database, addons_path, "--init", MODULE, "--log-level", "warn"),
        cwd="/",
    )
    if result.returncode != 0:
        sys.exit(
            f"Installing the addon into {database} failed (exit {result.returncode})."
        )
    return database


def load_registry(database, addons_path):
    """Configure Odoo for one database and return its registry."""
    import odoo  # noqa: PLC0415 - Odoo is configured before its first import
    from odoo.modules.registry import Registry  # noqa: PLC0415

    odoo.tools.config.parse_config(
        ["--database", database, "--addons-path", addons_path, "--log-level", "warn"]
    )
    return Registry(database)


def new_env(registry):
    """Return a superuser environment on a new cursor; the caller closes it."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    return api.Environment(registry.cursor(), SUPERUSER_ID, {})
