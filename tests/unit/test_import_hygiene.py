"""The layering of DESIGN.md, checked in a fresh interpreter: lower layers never pull in
the UI, and the HAProxy path never pulls in boto3."""

import subprocess
import sys

import pytest


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module",
    [
        "pmb_console.config",
        "pmb_console.actions.runner",
        "pmb_console.actions.traffic",
        "pmb_console.actions.database",
        "pmb_console.providers.haproxy",
        "pmb_console.providers.pg_dump",
        "pmb_console.cli",
    ],
)
def test_lower_layers_never_import_textual(module):
    try:
        loaded = modules_after(f"import {module}")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{module} does not import: {exc.stderr[-400:]}")
    assert "textual" not in loaded


def test_haproxy_path_imports_neither_boto3_nor_textual_nor_psycopg():
    loaded = modules_after(
        "from pmb_console.cli import build_parser\n"
        "from pmb_console.config import Config\n"
        "from pmb_console.bootstrap import bootstrap\n"
        "from pmb_console.actions.traffic import SwitchAction\n"
        "import pmb_console.providers.haproxy\n"
    )
    assert not {"boto3", "botocore", "textual", "psycopg"} & loaded
