"""Test setup for the plain-Python sync core.

Puts the repository root on sys.path, so ``import sync_core`` works from a
fresh clone whatever its folder is called, and gives tests the real exported
CSV files that sit in ``../shared/data/real`` beside the repository.

The repository root is the Odoo addon, and its ``__init__.py`` defines Odoo
models, which fails outside ``odoo.addons``. pytest's Package.setup imports
every package ``__init__.py`` above a test to look for ``setup_module``, so
it is switched off for the repository's packages (none of them has one).
This folder has no ``__init__.py`` for the same reason.
"""

import csv
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "real"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_collection_modifyitems(items):
    """Switch off Package.setup of the repository's packages."""
    for item in items:
        for node in item.listchain():
            if isinstance(node, pytest.Package) and node.path.is_relative_to(REPO_ROOT):
                node.setup = _no_package_setup


def _no_package_setup():
    return None


def _real_path(name):
    path = REAL_DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent; it sits outside the repository")
    return path


@pytest.fixture
def real_csv():
    """Return a reader of real data files: rows as dicts, skipped if absent.

    The files are read exactly as exported. ``utf-8-sig`` drops the byte order
    mark that some of them start with.
    """

    def read(name, delimiter=","):
        with _real_path(name).open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle, delimiter=delimiter))

    return read


@pytest.fixture
def real_text():
    """Return a reader of a real data file's text, skipped if absent."""

    def read(name):
        return _real_path(name).read_text(encoding="utf-8-sig")

    return read
