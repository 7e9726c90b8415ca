"""Declaring tables in sei.yaml: placed errors for bad entries, one line for a missing
table or a missing library, and nothing imported when no table is declared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seid.config import load_manifest_text
from seid.errors import InputError
from tests.conftest import SeidRunner, assert_one_line_error
from tests.tables.conftest import delta_entry, make_project


def _manifest(tables: str) -> str:
    from tests.tables.conftest import MANIFEST

    return MANIFEST.format(tables=tables)


def test_a_delta_and_an_iceberg_table_load_with_their_env_var_names() -> None:
    text = _manifest(
        delta_entry("data/applications")
        + "\n    - {name: bureau-2, format: iceberg, table: credit.bureau,"
        + ' catalog: {uri: "sqlite:///catalog.db", warehouse: warehouse}}'
    )
    manifest = load_manifest_text(text, "sei.yaml")
    assert manifest.inputs is not None
    delta, iceberg = manifest.inputs.tables
    assert (delta.format, delta.uri) == ("delta", "data/applications")
    assert iceberg.catalog is not None and iceberg.catalog.uri == "sqlite:///catalog.db"
    assert delta.spec().env_var == "SEID_TABLE_APPLICATIONS_VERSION"
    assert iceberg.spec().env_var == "SEID_TABLE_BUREAU_2_VERSION"


@pytest.mark.parametrize(
    ("entry", "where", "message"),
    [
        ("    - {name: a, format: delta}", "sei.yaml:8:7", "a delta table needs 'uri'"),
        (
            "    - {name: a, format: parquet, uri: x}",
            "sei.yaml:8:25",
            "expected one of delta, iceberg",
        ),
        ("    - {name: a, format: iceberg, table: n.t}", "sei.yaml:8:7", "needs 'catalog'"),
        (
            "    - {name: a, format: iceberg, table: t, catalog: {uri: 'sqlite:///c.db'}}",
            "sei.yaml:8:7",
            "'t' is not 'namespace.name'",
        ),
        ("    - {name: a, format: delta, uri: x, table: n.t}", "sei.yaml:8:7", "drop 'catalog'"),
        ("    - {name: 1a, format: delta, uri: x}", "sei.yaml:8:14", "is not an identifier"),
        ("    - {name: a, format: delta, uri: x, size: 3}", "sei.yaml:8:40", "unknown key 'size'"),
        (
            "    - {name: a-b, format: delta, uri: x}\n    - {name: a_b, format: delta, uri: y}",
            "sei.yaml:9:14",
            "'a_b' clashes with 'a-b' (SEID_TABLE_A_B_VERSION)",
        ),
    ],
)
def test_bad_declarations_are_placed(entry: str, where: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_manifest_text(_manifest(entry), "sei.yaml")
    assert str(caught.value).startswith(where + ":"), str(caught.value)
    assert message in str(caught.value)


def test_a_table_that_does_not_exist_is_one_line(
    seid: SeidRunner, repo: Path, tmp_path: Path
) -> None:
    make_project(repo, tmp_path, delta_entry(str(tmp_path / "nowhere")))
    result = seid("status", cwd=repo)
    assert_one_line_error(result, "inputs.tables applications", "no Delta table at")


def test_a_missing_library_names_the_extra(repo: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """An interpreter where ``import deltalake`` fails, as it does without the extra."""
    make_project(repo, tmp_path, delta_entry(str(tmp_path / "t")))
    hide = "import sys; sys.modules['deltalake'] = None; from seid.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", hide, "status"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "deltalake (for table 'applications') is not installed" in lines[0]
    assert "pip install 'seid[delta]'" in lines[0]


def test_status_without_tables_imports_neither_library(command_project: tuple[Path, Path]) -> None:
    repo, _ = command_project
    probe = (
        "import sys; from seid.cli import main\n"
        "try:\n    main(['status'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('deltalake', 'pyiceberg', 'seid.tables') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=False
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stderr


def test_tables_alone_keep_the_inputs_the_tool_derives(tmp_path: Path) -> None:
    """``inputs: {tables: [...]}`` on a command pipeline: the entry script is still
    treatment, the table is declared, nothing else had to be written out."""
    text = (
        "version: seid/1\nsystem: {name: t}\n"
        "pipeline: {tool: command, command: [python, train.py]}\n"
        "inputs:\n  tables:\n" + delta_entry("lake/t") + "\n"
    )
    (tmp_path / "train.py").write_text("")
    inputs = load_manifest_text(text, "sei.yaml").resolved_inputs(tmp_path)
    assert inputs.treatment == ["train.py"]
    assert [t.name for t in inputs.tables] == ["applications"]
    written = text.replace("inputs:\n", "inputs:\n  treatment: [other.py]\n")
    assert load_manifest_text(written, "sei.yaml").resolved_inputs(tmp_path).treatment == [
        "other.py"
    ]
