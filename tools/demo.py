#!/usr/bin/env python3
"""Run the addon end to end on the bundled sandbox CRM.

1. start the sandbox on 127.0.0.1 with the shipped demo companies and contacts;
2. create the database (default crm_sync_demo) with the addon and its demo
   backend, which points at the sandbox;
3. run a first sync and print what happened, in counts;
4. serve Odoo on 127.0.0.1:8069 until Ctrl-C, with the sandbox delivering its
   webhooks to Odoo (--no-serve exits after the counts instead).

Usage: python3 tools/demo.py [--no-serve] [--database NAME] [--http-port N]
       [--sandbox-port N]
"""

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from devenv import (
    BUILD,
    MODULE,
    PYTHON,
    ROOT,
    check_odoo,
    ensure_postgres,
    odoo_addons_path,
    odoo_command,
    run,
    step,
)

SANDBOX_TOKEN = "sandbox-token"
SANDBOX_START_TIMEOUT = 20  # seconds
SUMMARY_MARK = "CRM_SYNC_DEMO_SUMMARY "

# Runs inside "odoo shell": `env` is given by the shell.
SYNC_SCRIPT = """
import json
params = env["ir.config_parameter"]
params.set_param("web.base.url", {odoo_url!r})
params.set_param("web.base.url.freeze", "True")
backend = env.ref("external_crm_sync.crm_sync_backend_demo")
backend.base_url = {sandbox_url!r}
summary = backend._sync_now()

# Odoo's own scheduled actions call odoo.com; the demo server runs ours only.
own_crons = env["ir.model.data"].search(
    [("module", "=", "external_crm_sync"), ("model", "=", "ir.cron")]
).mapped("res_id")
env["ir.cron"].search([("id", "not in", own_crons)]).active = False
env.cr.commit()
print({mark!r} + json.dumps({{"summary": summary, "webhook_url": backend.webhook_url}}))
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="crm_sync_demo")
    parser.add_argument("--http-port", type=int, default=8069)
    parser.add_argument("--sandbox-port", type=int, default=8765)
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="exit after printing the counts instead of serving Odoo",
    )
    return parser.parse_args()


def wait_for_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def start_sandbox(port):
    step(f"Sandbox CRM on 127.0.0.1:{port}")
    process = subprocess.Popen(
        [PYTHON, "-m", "crm_sandbox", "--port", str(port), "--load-demo"],
        cwd=ROOT,
    )
    if not wait_for_port(port, SANDBOX_START_TIMEOUT):
        process.terminate()
        raise RuntimeError(
            f"The sandbox did not respond on 127.0.0.1:{port} within "
            f"{SANDBOX_START_TIMEOUT} s: is the port taken? Try --sandbox-port."
        )
    return process


def sandbox_call(port, method, path, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {SANDBOX_TOKEN}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def create_database(database, addons_path):
    step(f"Database {database} with the addon and its demo data")
    run(["dropdb", "--if-exists", database])
    log_path = BUILD / "demo-install.log"
    install = run(
        odoo_command(
            database, addons_path, "--init", MODULE, "--logfile", str(log_path)
        ),
        cwd="/",
    )
    if install.returncode != 0:
        raise RuntimeError(f"Installing the addon failed: read {log_path}")


def first_sync(database, addons_path, sandbox_port, http_port):
    step("First sync")
    script = SYNC_SCRIPT.format(
        odoo_url=f"http://127.0.0.1:{http_port}",
        sandbox_url=f"http://127.0.0.1:{sandbox_port}",
        mark=SUMMARY_MARK,
    )
    command = [
        PYTHON,
        "-m",
        "odoo",
        "shell",
        "--database",
        database,
        "--addons-path",
        addons_path,
        "--no-http",
        "--logfile",
        str(BUILD / "demo-sync.log"),
    ]
    result = subprocess.run(
        command, input=script, capture_output=True, text=True, cwd="/", check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith(SUMMARY_MARK):
            return json.loads(line[len(SUMMARY_MARK) :])
    print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    raise RuntimeError("The first sync failed: read .build/demo-sync.log")


def print_summary(summary):
    print("Sync finished:")
    labels = {
        "created": "Odoo partners created from CRM records",
        "linked": "existing partners linked to CRM records",
        "exported": "Odoo partners created in the CRM",
        "updated": "partners updated",
        "conflicts": "conflicts waiting for a decision",
        "exceptions": "exceptions in CRM Sync > Queue > Exceptions",
        "retrying": "jobs waiting to be retried (the CRM was busy or down)",
        "jobs": "sync jobs processed",
    }
    for key, label in labels.items():
        print(f"  {summary.get(key, 0):>6}  {label}")


def serve(database, addons_path, http_port, sandbox_port, webhook_url):
    step(f"Odoo on http://127.0.0.1:{http_port} (login admin / admin); Ctrl-C stops")
    sandbox_call(
        sandbox_port,
        "POST",
        "/_sandbox/webhooks",
        {"url": webhook_url, "autoDeliver": True},
    )
    command = [
        PYTHON,
        "-m",
        "odoo",
        "--database",
        database,
        "--db-filter",
        f"^{database}$",
        "--addons-path",
        addons_path,
        "--http-interface",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        # One cron thread runs the addon's queue and pulls; every other
        # scheduled action was switched off in this database.
        "--max-cron-threads",
        "1",
    ]
    server = subprocess.Popen(command, cwd="/")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def main():
    args = parse_args()
    BUILD.mkdir(exist_ok=True)
    if not (check_odoo() and ensure_postgres()):
        return 2
    addons_path = odoo_addons_path()
    sandbox = start_sandbox(args.sandbox_port)
    try:
        create_database(args.database, addons_path)
        outcome = first_sync(
            args.database, addons_path, args.sandbox_port, args.http_port
        )
        print_summary(outcome["summary"])
        if not args.no_serve:
            serve(
                args.database,
                addons_path,
                args.http_port,
                args.sandbox_port,
                outcome["webhook_url"],
            )
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
