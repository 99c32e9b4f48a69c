#!/usr/bin/env python3
"""Benchmark of the webhook route: latency and events per second of signed batches.

Usage::

    python3 tests/benchmark_webhook.py [--batches 50] [--clients 4]
        [--workers 0] [--database NAME]

It starts an Odoo server on 127.0.0.1 for the database, creates a backend
with a webhook secret, and posts ``--batches`` signed batches of 100 new
events from ``--clients`` threads at once. Then it posts the same batches
again, which the route acknowledges as duplicates. ``--workers 0`` runs
Odoo's threaded server; a positive value starts that many worker processes,
as a production deployment does.

Without ``--database`` it creates a scratch database, installs the addon in
it and drops it at the end. With ``--database`` it uses that database, which
must have the addon installed, and deletes the backend and jobs it created.
The script stops only the Odoo server it started. It prints figures and checks
no speed. It is not imported by the test suite.
"""

import argparse
import base64
import hashlib
import hmac
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))

import devenv  # noqa: E402

EVENTS_PER_BATCH = 100  # events per request, the most HubSpot sends
SECRET = "benchmark-secret"
SERVER_START_TIMEOUT = 120  # seconds
REQUEST_TIMEOUT = 30  # seconds


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=50, help="batches per phase")
    parser.add_argument(
        "--clients", type=int, default=4, help="client threads posting at once"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="Odoo worker processes (0: threaded)"
    )
    parser.add_argument(
        "--database", help="existing database with the addon (default: a scratch one)"
    )
    return parser.parse_args()


def create_backend(registry):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].create(
            {
                "name": "Webhook benchmark",
                "base_url": "http://127.0.0.1:9",
                "webhook_secret": SECRET,
            }
        )
        env.cr.commit()
        return backend.id


def delete_backend(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        # Jobs and field rules go with their backend (ondelete cascade).
        env["crm.sync.backend"].browse(backend_id).unlink()
        env.cr.commit()


def count_jobs(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        env.cr.execute(
            "SELECT COUNT(*) FROM crm_sync_job WHERE backend_id = %s", (backend_id,)
        )
        return env.cr.fetchone()[0]


def start_server(database, addons_path, port, workers):
    # The odoo script, not "python -m odoo": with --workers Odoo starts its
    # gevent process by running sys.argv[0] again, which fails for -m.
    odoo_script = shutil.which("odoo")
    launcher = [odoo_script] if odoo_script else [devenv.PYTHON, "-m", "odoo"]
    command = [
        *launcher,
        "--database",
        database,
        "--addons-path",
        addons_path,
        "--http-interface",
        "127.0.0.1",
        "--http-port",
        str(port),
        "--max-cron-threads",
        "0",
        "--workers",
        str(workers),
        "--log-level",
        "warn",
    ]
    devenv.step(f"Starting Odoo on 127.0.0.1:{port} with {workers} worker(s)")
    server = subprocess.Popen(command, cwd="/")
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"Odoo exited with {server.returncode} while starting.")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/web/health", timeout=2
            ):
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    sys.exit(f"Odoo did not answer on port {port} within {SERVER_START_TIMEOUT} s.")


def make_batches(count, first_event=0):
    now_ms = int(time.time() * 1000)
    batches = []
    for batch_number in range(count):
        events = []
        for position in range(EVENTS_PER_BATCH):
            number = first_event + batch_number * EVENTS_PER_BATCH + position
            events.append(
                {
                    "eventId": 50_000_000 + number,
                    "subscriptionId": 2_100_001,
                    "portalId": 99_000_001,
                    "occurredAt": now_ms,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 1_000 + number,
                    "propertyName": "phone",
                    "propertyValue": "+44 20 7946 0000",
                    "changeSource": "CRM_UI",
                }
            )
        batches.append(json.dumps(events, separators=(",", ":")).encode())
    return batches


def post_signed(url, body):
    """POST one batch signed as HubSpot does; return (status, seconds)."""
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(
        hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    ).decode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": signature,
        },
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def run_phase(url, batches, clients):
    """Post every batch once, from ``clients`` threads.

    Returns the statuses, the latencies in seconds and the elapsed seconds.
    """
    pending = list(batches)
    lock = threading.Lock()
    statuses = []
    latencies = []

    def client():
        while True:
            with lock:
                if not pending:
                    return
                body = pending.pop()
            status, seconds = post_signed(url, body)
            with lock:
                statuses.append(status)
                latencies.append(seconds)

    threads = [threading.Thread(target=client) for _number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, latencies, time.perf_counter() - started


def report(label, statuses, latencies, seconds):
    events = len(latencies) * EVENTS_PER_BATCH
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    not_ok = sum(1 for status in statuses if status != 200)
    print(
        f"{label:<26} {len(latencies):>5} requests {events:>7} events "
        f"{events / seconds:>8.0f} events/s  latency p50 "
        f"{statistics.median(latencies) * 1000:>6.1f} ms  p95 {p95 * 1000:>6.1f} ms  "
        f"max {ordered[-1] * 1000:>6.1f} ms  non-200: {not_ok}"
    )


def main():
    args = parse_args()
    if not devenv.check_odoo() or not devenv.ensure_postgres():
        return 2
    addons_path = devenv.odoo_addons_path()
    database = args.database or devenv.create_scratch_database(
        "crm_sync_webhook_bench", addons_path
    )
    registry = devenv.load_registry(database, addons_path)
    backend_id = create_backend(registry)
    port = devenv.free_port()
    server = start_server(database, addons_path, port, args.workers)
    url = f"http://127.0.0.1:{port}/crm_sync/webhook/{backend_id}"
    try:
        # Empty batches first, so that the workers have most likely loaded
        # the registry before the timed phases start.
        run_phase(url, [b"[]"] * (4 * max(args.workers, args.clients)), args.clients)
        batches = make_batches(args.batches)
        devenv.step(
            f"Webhook benchmark on {database}: {args.batches} batches of "
            f"{EVENTS_PER_BATCH} events, {args.clients} clients"
        )
        report("new events", *run_phase(url, batches, args.clients))
        report("redelivered (duplicates)", *run_phase(url, batches, args.clients))

        # Every client posts each new batch at the same moment, so the same
        # events race each other across threads or worker processes.
        racing = make_batches(args.batches, first_event=len(batches) * EVENTS_PER_BATCH)
        racing = [body for body in racing for _copy in range(args.clients)]
        report("same batch from all clients", *run_phase(url, racing, args.clients))

        stored = count_jobs(registry, backend_id)
        print(f"jobs stored: {stored} (expected {2 * args.batches * EVENTS_PER_BATCH})")
    finally:
        server.terminate()
        server.wait(timeout=60)
        delete_backend(registry, backend_id)
        if not args.database:
            from odoo import sql_db  # noqa: PLC0415

            sql_db.close_all()
            devenv.run(["dropdb", "--if-exists", database])
    return 0


if __name__ == "__main__":
    sys.exit(main())
