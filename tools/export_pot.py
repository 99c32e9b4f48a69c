#!/usr/bin/env python3
"""Export i18n/external_crm_sync.pot from a throwaway database.

Run it after adding or changing user-facing strings: python3 tools/export_pot.py
"""

import os
import sys

from devenv import (
    BUILD,
    MODULE,
    ROOT,
    check_odoo,
    ensure_postgres,
    odoo_addons_path,
    odoo_command,
    run,
)


def main():
    BUILD.mkdir(exist_ok=True)
    if not (check_odoo() and ensure_postgres()):
        return 2
    addons_path = odoo_addons_path()
    database = f"crm_sync_pot_{os.getpid()}"
    pot_path = ROOT / "i18n" / f"{MODULE}.pot"
    try:
        install = run(
            odoo_command(
                database,
                addons_path,
                "--without-demo",
                "all",
                "--init",
                MODULE,
                "--logfile",
                str(BUILD / "odoo-pot.log"),
            ),
            cwd="/",
        )
        if install.returncode != 0:
            print("Installing the addon failed: read .build/odoo-pot.log")
            return 1
        export = run(
            odoo_command(
                database,
                addons_path,
                "--i18n-export",
                str(pot_path),
                "--modules",
                MODULE,
                "--logfile",
                str(BUILD / "odoo-pot.log"),
            ),
            cwd="/",
        )
    finally:
        run(["dropdb", "--if-exists", database])
    if export.returncode != 0:
        print("Exporting the template failed: read .build/odoo-pot.log")
        return 1
    print(f"written {pot_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
