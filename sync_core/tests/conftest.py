"""Test setup for the plain-Python sync core.

Puts the repository root on sys.path, so ``import sync_core`` works from a
fresh clone whatever its folder is called, and gives tests the real exported
CSV files that sit in ``../shared/data/real`` beside the repository.
"""

import csv
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "real"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


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
