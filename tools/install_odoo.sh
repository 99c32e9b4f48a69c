#!/usr/bin/env bash
# Install Odoo 18 from a source checkout into the current Python, as Odoo's
# documentation describes for a source install, plus this addon's own Python
# dependency. Usage: tools/install_odoo.sh /path/to/odoo-18.0
set -euo pipefail

source_dir=${1:?usage: tools/install_odoo.sh /path/to/odoo-18.0}
python=${PYTHON:-python3}
if [[ ! -f "$source_dir/requirements.txt" || ! -d "$source_dir/odoo" ]]; then
    echo "$source_dir is not an Odoo source checkout: requirements.txt or odoo/ is missing." >&2
    exit 2
fi

# Some pinned packages are old source distributions (cbor2 5.4.2, for one)
# whose setup.py imports pkg_resources, which setuptools 70 and newer lack.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "setuptools<70" > "$constraints"

PIP_CONSTRAINT="$constraints" "$python" -m pip install -r "$source_dir/requirements.txt"
"$python" -m pip install --no-deps -e "$source_dir"
# gevent 22.10 (Odoo's pin) imports pkg_resources, which setuptools 81 drops.
"$python" -m pip install "setuptools<81"
"$python" -m pip install phonenumbers
(cd / && "$python" -c "import odoo.release as r; print('Odoo', r.version, 'installed')")
