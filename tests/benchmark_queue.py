#!/usr/bin/env python3
"""Benchmark of the sync queue: jobs per second for enqueue and for claim+process.

Usage::

    python3 tests/benchmark_queue.py [--jobs 2000] [--workers 2] [--database NAME]

Without ``--database`` it creates a scratch database, installs the addon in it
and drops it at the end. With ``--database`` it uses that database, which must
have the addon installed, and deletes the backend and jobs it created.

The handler is a stand-in that does nothing, so the figures measure the
queue's own cost per job (the SQL of enqueue, claim, outcome and the commit
after each job), not CRM calls. The script only prints figures; it checks no
speed. It is not imported by the test suite.
"""

import argparse
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))

import devenv  # noqa: E402

BATCH_SIZE = 100  # jobs per _enqueue_many call


class NoopHandler:
    """Handler stand-in: every job succeeds at once."""

    def _run_job(self, job):
        return "benchmark"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per phase")
    parser.add_argument(
        "--workers", type=int, default=2, help="parallel workers in the last phase"
    )
    parser.add_argument(
        "--database", help="existing database with the addon (default: a scratch one)"
    )
    return parser.parse_args()


def create_backend(registry):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].create(
            {"name": "Queue benchmark", "base_url": "http://127.0.0.1:9"}
        )
        env.cr.commit()
        return backend.id


def job_vals(first, count):
    return [
        {"object_type": "contact", "operation": "import", "crm_id": str(number)}
        for number in range(first, first + count)
    ]


def time_enqueue_one_by_one(registry, backend_id, count):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].browse(backend_id)
        started = time.perf_counter()
        for vals in job_vals(0, count):
            env["crm.sync.job"]._enqueue(backend, **vals)
        env.cr.commit()
        return time.perf_counter() - started


def time_enqueue_batches(registry, backend_id, count):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].browse(backend_id)
        started = time.perf_counter()
        for first in range(count, 2 * count, BATCH_SIZE):
            size = min(BATCH_SIZE, 2 * count - first)
            env["crm.sync.job"]._enqueue_many(backend, job_vals(first, size))
        env.cr.commit()
        return time.perf_counter() - started


def time_coalescing(registry, backend_id, count):
    env = devenv.new_env(registry)
    with closing(env.cr):
        backend = env["crm.sync.backend"].browse(backend_id)
        started = time.perf_counter()
        for number in range(count):
            env["crm.sync.job"]._enqueue(
                backend, "contact", "export", crm_id="same", payload={"n": number}
            )
        env.cr.commit()
        return time.perf_counter() - started


def queue_fresh_jobs(registry, backend_id, count):
    """Replace the backend's jobs with ``count`` new pending jobs."""
    env = devenv.new_env(registry)
    with closing(env.cr):
        env.cr.execute("DELETE FROM crm_sync_job WHERE backend_id = %s", (backend_id,))
        backend = env["crm.sync.backend"].browse(backend_id)
        for first in range(0, count, BATCH_SIZE):
            size = min(BATCH_SIZE, count - first)
            env["crm.sync.job"]._enqueue_many(backend, job_vals(first, size))
        env.cr.commit()


def time_processing(registry, backend_id, count, workers):
    """Queue ``count`` jobs, then time ``workers`` threads that process them all."""
    queue_fresh_jobs(registry, backend_id, count)
    processed = []
    start = threading.Barrier(workers)

    def worker():
        env = devenv.new_env(registry)
        with closing(env.cr):
            backend = env["crm.sync.backend"].browse(backend_id)
            start.wait()
            jobs = env["crm.sync.job"]._process_queue(
                max_jobs=count, max_seconds=600, backend=backend
            )
            processed.append(len(jobs))

    threads = [threading.Thread(target=worker) for _number in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sum(processed)


def delete_backend(registry, backend_id):
    env = devenv.new_env(registry)
    with closing(env.cr):
        env.cr.execute("DELETE FROM crm_sync_job WHERE backend_id = %s", (backend_id,))
        env["crm.sync.backend"].browse(backend_id).unlink()
        env.cr.commit()


def report(label, count, seconds):
    print(
        f"{label:<44} {count:>7} jobs {seconds:>8.2f} s {count / seconds:>10.0f} jobs/s"
    )


def main():
    args = parse_args()
    if not devenv.check_odoo() or not devenv.ensure_postgres():
        return 2
    addons_path = devenv.odoo_addons_path()
    database = args.database or devenv.create_scratch_database(
        "crm_sync_bench", addons_path
    )
    registry = devenv.load_registry(database, addons_path)
    # Route every job to the stand-in; registry[...] is the model class.
    registry["crm.sync.job"]._find_job_handler = lambda job: NoopHandler()

    backend_id = create_backend(registry)
    devenv.step(f"Queue benchmark on {database}: {args.jobs} jobs per phase")
    try:
        report(
            "enqueue, one _enqueue call per job",
            args.jobs,
            time_enqueue_one_by_one(registry, backend_id, args.jobs),
        )
        report(
            f"enqueue, _enqueue_many of {BATCH_SIZE}",
            args.jobs,
            time_enqueue_batches(registry, backend_id, args.jobs),
        )
        report(
            "enqueue into one waiting job (coalescing)",
            args.jobs,
            time_coalescing(registry, backend_id, args.jobs),
        )
        seconds, count = time_processing(registry, backend_id, args.jobs, 1)
        report("claim + process + commit, 1 worker", count, seconds)
        seconds, count = time_processing(registry, backend_id, args.jobs, args.workers)
        report(f"claim + process + commit, {args.workers} workers", count, seconds)
    finally:
        delete_backend(registry, backend_id)
        if not args.database:
            from odoo import sql_db  # noqa: PLC0415

            sql_db.close_all()
            devenv.run(["dropdb", "--if-exists", database])
    return 0


if __name__ == "__main__":
    sys.exit(main())
