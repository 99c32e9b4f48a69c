#!/usr/bin/env python3
"""Benchmark of the customer sync: records per second for pull, import and push.

Usage::

    python3 tests/benchmark_partner_sync.py [--rows 1000] [--database NAME]

It starts the sandbox CRM on 127.0.0.1 with its rate limits off and loads
the first ``--rows`` London companies and the Northwind customers from
``../shared/data/real/``. It exits when that folder is absent. Then it times
these steps, with one worker that commits after each job as the queue cron
does:

1. the full first pull (listing the CRM and queueing one job per record);
2. running those import jobs into an Odoo without these customers;
3. a second full sync, which reads everything again and changes nothing;
4. an edit of every imported company in Odoo, pushed through the batch
   endpoints;
5. a first push of as many new Odoo customers.

Without ``--database`` it creates a scratch database, installs the addon and
drops it at the end. With ``--database`` it uses that database, which must
have the addon installed, and deletes the backend it created (partners stay).
The script only prints figures; it checks no speed and is not imported by
the test suite. The figures depend on the machine and on the sandbox running
in the same process, so compare them only between runs on one machine.
"""

import argparse
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = REPO.parent / "shared" / "data" / "real"
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO))

import devenv  # noqa: E402

from crm_sandbox.server import SandboxServer  # noqa: E402

LONDON_FILE = REAL_DATA / "uk_london_companies_companydata_sample.csv"
NORTHWIND_FILE = REAL_DATA / "northwind_customers.csv"
TOKEN = "benchmark-token"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=1000, help="London rows loaded (at most 1000)"
    )
    parser.add_argument(
        "--database", help="existing database with the addon (default: a scratch one)"
    )
    return parser.parse_args()


def start_sandbox(rows):
    sandbox = SandboxServer(port=0, access_token=TOKEN, rate_limit=None)
    sandbox.start()
    for object_type in ("companies", "contacts"):
        sandbox.store.define_property(object_type, "odoo_sync_key", unique=True)
    lines = LONDON_FILE.read_text(encoding="utf-8-sig").splitlines()
    with tempfile.TemporaryDirectory() as folder:
        subset = Path(folder) / LONDON_FILE.name
        subset.write_text("\n".join(lines[: rows + 1]), encoding="utf-8")
        sandbox.load_csv(subset, "uk_companies_house")
    sandbox.load_csv(NORTHWIND_FILE, "northwind_customers")
    return sandbox


def create_backend(registry, sandbox):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].create(
            {
                "name": "Partner sync benchmark",
                "base_url": sandbox.base_url,
                "access_token": TOKEN,
                "rate_limit": 100_000,
                "rate_window": 1.0,
            }
        )
        env.cr.commit()
        return backend.id


def run_queue(registry, backend_id):
    """Process every due job of the backend, committing after each claim."""
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].browse(backend_id)
        jobs = env["crm.sync.job"]._process_queue(
            max_jobs=sys.maxsize, max_seconds=None, backend=backend
        )
        env.cr.commit()
        return len(jobs)


def pull_everything(registry, backend_id, forget_cursor=False):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].browse(backend_id)
        if forget_cursor:
            backend.pull_cursors = False
        queued = sum(
            backend._pull(object_type) for object_type in ("company", "contact")
        )
        env.cr.commit()
        return queued


def edit_imported_companies(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        bindings = env["crm.sync.binding"].search(
            [("backend_id", "=", backend_id), ("object_type", "=", "company")]
        )
        bindings.partner_id.write({"street2": "Benchmark House"})
        env.cr.commit()
        return len(bindings)


def create_new_customers(registry, count):
    env = devenv.new_env(registry)
    with closing(env.cr):
        env["res.partner"].create(
            [
                {
                    "name": f"Benchmark Customer {number} Ltd",
                    "is_company": True,
                    "customer_rank": 1,
                    "phone": f"+4420794{number:05d}",
                    "city": "London",
                }
                for number in range(count)
            ]
        )
        env.cr.commit()
        return count


def count_exceptions(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        return env["crm.sync.job"].search_count(
            [("backend_id", "=", backend_id), ("state", "=", "exception")]
        )


def delete_backend(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        env.cr.execute("DELETE FROM crm_sync_job WHERE backend_id = %s", (backend_id,))
        env.cr.execute(
            "DELETE FROM crm_sync_binding WHERE backend_id = %s", (backend_id,)
        )
        env["crm.sync.backend"].browse(backend_id).unlink()
        env.cr.commit()


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def report(label, count, seconds):
    rate = count / seconds if seconds else 0.0
    print(f"{label:<52} {count:>6} {seconds:>8.2f} s {rate:>9.1f} /s", flush=True)


def main():
    args = parse_args()
    if not LONDON_FILE.is_file() or not NORTHWIND_FILE.is_file():
        sys.exit(f"The real exports are missing from {REAL_DATA}: nothing to measure.")
    if not devenv.check_odoo() or not devenv.ensure_postgres():
        return 2
    addons_path = devenv.odoo_addons_path()
    database = args.database or devenv.create_scratch_database(
        "crm_sync_partner_bench", addons_path
    )
    registry = devenv.load_registry(database, addons_path)
    sandbox = start_sandbox(min(args.rows, 1000))
    backend_id = create_backend(registry, sandbox)
    devenv.step(f"Customer sync benchmark on {database}")
    print(f"{'step':<52} {'items':>6} {'time':>10} {'rate':>11}")
    try:
        queued, seconds = timed(pull_everything, registry, backend_id)
        report("1. full pull: list the CRM, queue import jobs", queued, seconds)
        processed, seconds = timed(run_queue, registry, backend_id)
        report("2. run import jobs (create partners)", processed, seconds)
        exceptions = count_exceptions(registry, backend_id)
        print(f"   exceptions after the first sync: {exceptions}")

        queued, seconds = timed(pull_everything, registry, backend_id, True)
        processed, more = timed(run_queue, registry, backend_id)
        report("3. second full sync (no change)", processed, seconds + more)

        edited = edit_imported_companies(registry, backend_id)
        processed, seconds = timed(run_queue, registry, backend_id)
        report(f"4. push an edit of {edited} companies", processed, seconds)

        created = create_new_customers(registry, edited)
        processed, seconds = timed(run_queue, registry, backend_id)
        report(f"5. first push of {created} new customers", processed, seconds)
    finally:
        delete_backend(registry, backend_id)
        sandbox.stop()
        if not args.database:
            from odoo import sql_db  # noqa: PLC0415

            sql_db.close_all()
            devenv.run(["dropdb", "--if-exists", database])
    return 0


if __name__ == "__main__":
    sys.exit(main())
