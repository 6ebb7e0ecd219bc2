"""The `wardvoice` command line, as an operator would use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.synthetic import synthetic_postcodes_csv, synthetic_wards_geojson


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An operator in an empty directory, with the database named in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "WARDVOICE_GEOCODER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDVOICE_DB", str(tmp_path / "wardvoice.db"))
    monkeypatch.setenv("WARDVOICE_GEOCODER", "none")
    return tmp_path


def _wards(folder: Path) -> str:
    return str(synthetic_wards_geojson(folder / "wards.geojson"))


def test_operator_imports_wards_and_sees_the_counts(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-wards", _wards(operator)]) == 0
    out = capsys.readouterr()
    assert "Imported 12 wards in 2 boroughs (2022 boundaries): 12 added" in out.out
    assert "…" in out.err, "progress while it works"
    assert main(["import-wards", _wards(operator)]) == 0
    assert "0 added, 0 changed, 12 unchanged, 0 retired" in capsys.readouterr().out


def test_operator_importing_a_file_that_is_not_geojson_gets_a_clear_error(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = operator / "wards.csv"
    bad.write_text("code,name\nE05000001,Somewhere\n")
    assert main(["import-wards", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "wardvoice: wards.csv: not a JSON file" in err
    assert "Traceback" not in err


def test_operator_imports_postcodes(operator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-wards", _wards(operator)]) == 0
    csv_file = synthetic_postcodes_csv(operator / "postcodes.csv")
    assert main(["import-postcodes", str(csv_file)]) == 0
    assert "Imported 7 postcodes (6 with a ward code) from 7 rows" in capsys.readouterr().out
    assert main(["find-ward", "nb1", "1aa"]) == 0
    assert "E05900004\tAbbey\tNorthbank" in capsys.readouterr().out


def test_operator_manages_priorities_within_three_to_five(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-wards", _wards(operator)]) == 0
    for n in range(1, 6):
        code = main(
            ["priorities", "add", "E05900002", "--title", f"Priority {n}", "--category", "asb"]
        )
        assert code == 0
    capsys.readouterr()
    assert (
        main(["priorities", "add", "E05900002", "--title", "One too many", "--category", "noise"])
        == 1
    )
    assert "already has 5 active priorities, the most allowed is 5" in capsys.readouterr().err

    assert main(["priorities", "retire", "1"]) == 0
    assert main(["priorities", "retire", "2"]) == 0
    assert main(["priorities", "retire", "3"]) == 1
    assert "must keep at least 3" in capsys.readouterr().err

    assert main(["priorities", "reword", "4", "--title", "Speeding on the high street"]) == 0
    assert (
        main(["priorities", "action", "4", "Speed checks on 3 evenings", "--date", "2026-11-20"])
        == 0
    )
    assert main(["priorities", "list", "E05900002"]) == 0
    listing = capsys.readouterr().out
    assert "Speeding on the high street" in listing and "Priority 1" not in listing
    assert main(["priorities", "list", "E05900002", "--all"]) == 0
    assert "retired" in capsys.readouterr().out


def test_priority_for_an_unknown_ward_or_category_is_refused(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-wards", _wards(operator)]) == 0
    capsys.readouterr()
    assert (
        main(["priorities", "add", "E05999999", "--title", "Litter", "--category", "street"]) == 1
    )
    assert "no ward with the code E05999999" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["priorities", "add", "E05900002", "--title", "Litter", "--category", "rubbish"])


def test_run_without_a_token_says_how_to_get_one(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN is not set" in err and "@BotFather" in err


def test_dotenv_file_in_the_working_directory_is_read(
    operator: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WARDVOICE_DB")
    (operator / ".env").write_text(f"WARDVOICE_DB={operator / 'from-dotenv.db'}\n")
    assert main(["import-wards", _wards(operator)]) == 0
    assert (operator / "from-dotenv.db").exists()


def test_operator_sees_the_staff_figures_in_the_terminal(
    operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-wards", _wards(operator)]) == 0
    capsys.readouterr()
    assert main(["stats", "e05900002"]) == 0
    out = capsys.readouterr().out
    assert "Kingsmead" in out and "<b>" not in out
    assert main(["stats", "E09900001"]) == 0
    assert "Northbank" in capsys.readouterr().out
    assert main(["stats", "E05999999"]) == 1
