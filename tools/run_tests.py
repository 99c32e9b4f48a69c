#!/usr/bin/env python3
"""Run every check of the addon in one go: static checks, plain-Python tests and
Odoo tests in a throwaway PostgreSQL database.

Steps:
1. install the Python test dependencies listed in requirements-test.txt if any
   is missing;
2. check that Odoo 18 is importable, else print what to install and exit 2;
3. start PostgreSQL if it is down and create a role for the current user;
4. static checks: ruff, pylint with pylint-odoo, XML well-formedness;
5. plain-Python tests (sync_core, crm_sandbox) with pytest;
6. Odoo tests: install the addon without demo data into a new database with
   Odoo's own test runner, upgrade it once with -u, then drop the database;
7. install the addon with demo data into a second database, then drop it;
8. print "N passed, N failed" counting both kinds of tests.

The exit status is 0 only when every step passed and at least one Odoo test ran.
Environment: ODOO_ADDONS_PATH (extra addons folders, comma-separated),
CRM_SYNC_TEST_TAGS (Odoo --test-tags value), CRM_SYNC_SKIP_STATIC=1,
CRM_SYNC_SKIP_PLAIN=1, CRM_SYNC_SKIP_DEMO_INSTALL=1, CRM_SYNC_KEEP_DB=1.
"""

import importlib.util
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ElementTree

from devenv import (
    BUILD,
    MODULE,
    PYTHON,
    ROOT,
    addons_link_folder,
    check_odoo,
    ensure_postgres,
    odoo_addons_path,
    odoo_command,
    run,
    step,
)

# Import names of the packages in requirements-test.txt, to detect missing ones.
TEST_IMPORTS = {
    "requests": "requests",
    "zeep": "zeep",
    "phonenumbers": "phonenumbers",
    "pytest": "pytest",
    "pytest-odoo": "pytest_odoo",
    "websocket-client": "websocket",
    "hubspot-api-client": "hubspot",
    "hypothesis": "hypothesis",
    "ruff": "ruff",
    "pylint-odoo": "pylint_odoo",
}
PLAIN_TEST_DIRS = ("sync_core", "crm_sandbox")
ODOO_RESULT_RE = re.compile(
    r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)


def install_test_dependencies():
    step("Python test dependencies")
    missing = [
        name
        for name, import_name in TEST_IMPORTS.items()
        if importlib.util.find_spec(import_name) is None
    ]
    if not missing:
        print("all present")
        return True
    print("installing: " + ", ".join(missing))
    result = run([PYTHON, "-m", "pip", "install", "-q", *missing])
    return result.returncode == 0


def ensure_chromium():
    """Install Chromium for Odoo's browser tours where apt-get can."""
    step("Chromium for browser tours")
    if shutil.which("chromium") or shutil.which("google-chrome"):
        print("Chromium found")
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "chromium"])
    if not shutil.which("chromium"):
        print("Chromium is missing: Odoo skips the browser tours.")


def check_xml():
    bad = 0
    for path in sorted(ROOT.rglob("*.xml")):
        if ".build" in path.parts or ".git" in path.parts:
            continue
        try:
            ElementTree.parse(path)
        except ElementTree.ParseError as error:
            print(f"{path.relative_to(ROOT)}: invalid XML: {error}")
            bad += 1
    print(f"XML: {bad} malformed file(s)")
    return bad == 0


def static_checks(addon_link):
    step("Static checks")
    ruff = run([PYTHON, "-m", "ruff", "check", "."], cwd=ROOT)
    # pylint maps files to modules from the working folder, so it runs beside
    # the link that carries the addon's name.
    pylint = run(
        [PYTHON, "-m", "pylint", "--rcfile", str(ROOT / ".pylintrc"), MODULE],
        cwd=addon_link.parent,
    )
    xml_ok = check_xml()
    return {
        "ruff": ruff.returncode == 0,
        "pylint-odoo": pylint.returncode == 0,
        "xml": xml_ok,
    }


def plain_tests():
    step("Plain-Python tests")
    folders = [name for name in PLAIN_TEST_DIRS if (ROOT / name).is_dir()]
    report = BUILD / "plain-tests.xml"
    result = run(
        [
            PYTHON,
            "-m",
            "pytest",
            "-p",
            "no:odoo",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            *folders,
        ],
        cwd=ROOT,
    )
    if result.returncode == 5:  # pytest: no tests collected
        return 0, 0
    if not report.exists():
        return 0, 1
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return total - failed - skipped, failed


def parse_odoo_result(log_path):
    """Return (tests, failed) from the last result line of an Odoo test log."""
    matches = ODOO_RESULT_RE.findall(log_path.read_text(errors="replace"))
    if not matches:
        return None
    failed, errors, tests = (int(number) for number in matches[-1])
    return tests, failed + errors


def odoo_tests(addons_path):
    step("Odoo tests")
    database = f"crm_sync_test_{os.getpid()}"
    log_path = BUILD / "odoo-tests.log"
    tags = os.environ.get("CRM_SYNC_TEST_TAGS", f"/{MODULE}")
    # Odoo appends to its log file: start from an empty one.
    log_path.unlink(missing_ok=True)
    install = run(
        odoo_command(
            database,
            addons_path,
            "--without-demo",
            "all",
            "--init",
            MODULE,
            "--test-enable",
            "--test-tags",
            tags,
            "--log-level",
            "test",
            "--logfile",
            str(log_path),
        ),
        cwd="/",
    )
    outcome = parse_odoo_result(log_path) if log_path.exists() else None
    print(f"Odoo log: {log_path}")
    if outcome is None:
        print("Odoo did not report a test result: read the log above.")
        outcome = (0, 1)
    elif install.returncode != 0 and outcome[1] == 0:
        print(f"Odoo exited with {install.returncode} although no test failed.")
        outcome = (outcome[0], 1)

    step("Upgrade with -u")
    (BUILD / "odoo-upgrade.log").unlink(missing_ok=True)
    upgrade = run(
        odoo_command(
            database,
            addons_path,
            "--update",
            MODULE,
            "--logfile",
            str(BUILD / "odoo-upgrade.log"),
        ),
        cwd="/",
    )
    upgrade_log = (BUILD / "odoo-upgrade.log").read_text(errors="replace")
    upgrade_ok = upgrade.returncode == 0 and " ERROR " not in upgrade_log
    if upgrade_ok:
        print("upgrade passed")
    else:
        print("upgrade failed: read .build/odoo-upgrade.log")

    if not os.environ.get("CRM_SYNC_KEEP_DB"):
        run(["dropdb", "--if-exists", database])
    return outcome, upgrade_ok


def install_with_demo(addons_path):
    """Install the addon with demo data into a second throwaway database."""
    step("Install with demo data")
    database = f"crm_sync_demo_check_{os.getpid()}"
    log_path = BUILD / "odoo-demo-install.log"
    log_path.unlink(missing_ok=True)
    install = run(
        odoo_command(
            database, addons_path, "--init", MODULE, "--logfile", str(log_path)
        ),
        cwd="/",
    )
    ok = install.returncode == 0 and " ERROR " not in log_path.read_text(
        errors="replace"
    )
    print("install with demo data " + ("passed" if ok else f"failed: read {log_path}"))
    run(["dropdb", "--if-exists", database])
    return ok


def main():
    BUILD.mkdir(exist_ok=True)
    if not install_test_dependencies():
        print("Installing the test dependencies failed.")
        return 2
    if not check_odoo():
        return 2
    if not ensure_postgres():
        return 2

    ensure_chromium()
    addons_path = odoo_addons_path()
    addon_link = addons_link_folder() / MODULE
    static = {}
    if not os.environ.get("CRM_SYNC_SKIP_STATIC"):
        static = static_checks(addon_link)
    plain_passed, plain_failed = (0, 0)
    if not os.environ.get("CRM_SYNC_SKIP_PLAIN"):
        plain_passed, plain_failed = plain_tests()
    (odoo_total, odoo_failed), upgrade_ok = odoo_tests(addons_path)
    odoo_passed = odoo_total - odoo_failed
    demo_ok = None  # None: skipped
    if not os.environ.get("CRM_SYNC_SKIP_DEMO_INSTALL"):
        demo_ok = install_with_demo(addons_path)

    step("Summary")
    for name, ok in static.items():
        print(f"static check {name}: {'passed' if ok else 'FAILED'}")
    print(f"upgrade with -u: {'passed' if upgrade_ok else 'FAILED'}")
    if demo_ok is not None:
        print(f"install with demo data: {'passed' if demo_ok else 'FAILED'}")
    print(f"plain-Python tests: {plain_passed} passed, {plain_failed} failed")
    print(f"Odoo tests: {odoo_passed} passed, {odoo_failed} failed (of {odoo_total})")
    print(f"{plain_passed + odoo_passed} passed, {plain_failed + odoo_failed} failed")

    if odoo_total == 0:
        print("No Odoo test ran: this counts as a failure.")
        return 1
    failed = (
        plain_failed
        or odoo_failed
        or not upgrade_ok
        or demo_ok is False
        or not all(static.values())
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
