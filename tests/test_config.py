"""Configuration: the delivery and schedule settings an operator sets in the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_delivery_settings_have_defaults_and_read_the_environment(tmp_path: Path) -> None:
    defaults = load_settings({}, env_file=tmp_path / "missing.env")
    assert defaults.digest_slot == (0, 18, 0)
    assert (defaults.reminder_hours, defaults.followup_days, defaults.retention_days) == (
        24.0,
        28,
        730,
    )
    chosen = load_settings(
        {
            "WARDVOICE_DIGEST_AT": "fri 07:30",
            "WARDVOICE_REMINDER_HOURS": "2",
            "WARDVOICE_FOLLOWUP_DAYS": "21",
            "WARDVOICE_MEETING_CYCLE_DAYS": "28",
            "WARDVOICE_RETENTION_DAYS": "365",
            "WARDVOICE_OUTBOX_RETENTION_DAYS": "30",
            "WARDVOICE_SEND_CONCURRENCY": "4",
            "WARDVOICE_SEND_ATTEMPTS": "3",
        },
        env_file=tmp_path / "missing.env",
    )
    assert chosen.digest_slot == (4, 7, 30)
    assert (chosen.reminder_hours, chosen.followup_days, chosen.meeting_cycle_days) == (2, 21, 28)
    assert (chosen.retention_days, chosen.outbox_retention_days) == (365, 30)
    assert (chosen.send_concurrency, chosen.send_attempts) == (4, 3)


@pytest.mark.parametrize("value", ["monday", "MON 25:00", "18:00", "XYZ 10:00", "MON 9"])
def test_a_digest_time_that_is_not_a_day_and_time_is_refused_clearly(
    value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="WARDVOICE_DIGEST_AT"):
        load_settings({"WARDVOICE_DIGEST_AT": value}, env_file=tmp_path / "missing.env")


def test_a_negative_retention_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WARDVOICE_RETENTION_DAYS"):
        load_settings({"WARDVOICE_RETENTION_DAYS": "-1"}, env_file=tmp_path / "missing.env")
