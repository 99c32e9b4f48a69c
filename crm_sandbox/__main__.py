"""Command line: run the CRM sandbox in the foreground until Ctrl-C.

Example, from the repository root::

    python3 -m crm_sandbox --port 8765 --load-demo
"""

import argparse
import logging
import signal
import sys
import threading

from .csv_loader import MAPPINGS
from .server import SandboxServer


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python3 -m crm_sandbox",
        description="Serve a HubSpot-like CRM API on 127.0.0.1 for tests and demos.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="TCP port on 127.0.0.1 (0 picks a free one; default 8765)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address; only 127.0.0.1 or localhost is accepted",
    )

    parser.add_argument(
        "--token",
        default="sandbox-token",
        help="private-app access token clients must send (default sandbox-token)",
    )
    parser.add_argument(
        "--admin-token",
        default=None,
        help="bearer token of the /_sandbox control API (default: the access token)",
    )
    parser.add_argument(
        "--client-secret",
        default="sandbox-secret",
        help="app client secret that signs webhooks (default sandbox-secret)",
    )

    parser.add_argument(
        "--webhook-url",
        default=None,
        help="URL on 127.0.0.1 or localhost that receives webhook events",
    )
    parser.add_argument(
        "--manual-delivery",
        action="store_true",
        help="queue webhook events until POST /_sandbox/webhooks/flush "
        "instead of delivering them at once",
    )

    parser.add_argument(
        "--rate-limit",
        type=int,
        default=100,
        help="requests per token per window (default 100; 0 disables)",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=10.0,
        help="rate-limit window in seconds (default 10)",
    )
    parser.add_argument(
        "--search-rate-limit",
        type=int,
        default=None,
        help="search requests per second per token (default: no separate limit)",
    )

    parser.add_argument(
        "--load-demo",
        action="store_true",
        help="load crm_sandbox/data/demo_companies.csv and demo_contacts.csv",
    )
    parser.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="FILE:MAPPING",
        help="load a CSV export with a mapping "
        f"({', '.join(sorted(MAPPINGS))}); repeatable",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = SandboxServer(
            port=args.port,
            access_token=args.token,
            client_secret=args.client_secret,
            rate_limit=args.rate_limit or None,
            rate_window=args.rate_window,
            webhook_url=args.webhook_url,
            auto_deliver=bool(args.webhook_url) and not args.manual_delivery,
            host=args.host,
            admin_token=args.admin_token,
            search_rate_limit=args.search_rate_limit,
        )
        summaries = server.load_demo() if args.load_demo else []
        for spec in args.load:
            path, _, mapping = spec.rpartition(":")
            if not path:
                raise ValueError(f"--load needs FILE:MAPPING, got {spec!r}")
            summaries.append(server.load_csv(path, mapping))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    for summary in summaries:
        print(
            f"loaded {summary['file']} ({summary['mapping']}): "
            f"{summary['companiesCreated']} companies, "
            f"{summary['contactsCreated']} contacts, "
            f"{len(summary['rejected'])} values rejected"
        )

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server.start()
    print(f"CRM sandbox at {server.base_url}")
    print(f"access token: {args.token}")
    print(
        f"control API: {server.base_url}/_sandbox/ (admin token: {server.admin_token})"
    )
    print("Ctrl-C stops it.", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
