"""Configuration from environment variables (and a `.env` file in the working directory).

One frozen `Settings` object is built at start-up and passed down; nothing else reads
the environment, so tests build their own `Settings` without touching `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DEFAULT_DB = "./wardvoice.db"
DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_GEOCODER = "nominatim"


class ConfigError(ValueError):
    """A configuration value the operator must fix; the message says which and how."""


@dataclass(frozen=True)
class Settings:
    token: str | None = None
    api_base_url: str | None = None
    api_file_url: str | None = None
    # The bot's @username (without the @), for t.me links on posters; else asked via getMe.
    bot_username: str | None = None
    db_path: Path = Path(DEFAULT_DB)
    admin_ids: frozenset[int] = frozenset()
    timezone: str = DEFAULT_TIMEZONE
    geocoder: str = DEFAULT_GEOCODER
    # Sends per second through python-telegram-bot's rate limiter (Telegram allows ~30).
    max_send_rate: float = 28.0
    # Per-user flood control: this many updates per `flood_window` seconds, then one notice.
    flood_burst: int = 20
    flood_window: float = 10.0
    max_concerns_per_day: int = 5
    # Delivery and schedules (README, "Delivery" and "Schedules").
    digest_at: str = "MON 18:00"  # weekly digest: day and local time
    reminder_hours: float = 24.0  # meeting reminders this long before the start
    followup_days: int = 28  # "did this make a difference?" this long after the answer
    meeting_cycle_days: int = 42  # nudge when priorities are older than this (no history)
    retention_days: int = 730  # personal data of people inactive this long is removed
    outbox_retention_days: int = 90  # finished outbox rows (who got what) are kept this long
    schedule_interval: float = 60.0  # seconds between schedule sweeps
    send_concurrency: int = 16  # outbox sends in flight at once
    send_attempts: int = 5  # tries for a send that times out or gets a 5xx

    @property
    def digest_slot(self) -> tuple[int, int, int]:
        """(weekday 0=Monday, hour, minute) of the weekly digest."""
        return parse_digest_at(self.digest_at)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and set it in the "
                "environment or in a .env file in this directory."
            )
        return self.token


DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def parse_digest_at(raw: str) -> tuple[int, int, int]:
    """`MON 18:00` -> (0, 18, 0)."""
    parts = raw.strip().upper().split()
    try:
        day, clock = parts
        hour, minute = (int(p) for p in clock.split(":"))
        if day[:3] not in DAYS or not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(raw)
    except ValueError as err:
        raise ConfigError(
            f"WARDVOICE_DIGEST_AT must be a day and a local time like 'MON 18:00', not {raw!r}"
        ) from err
    return DAYS.index(day[:3]), hour, minute


def _admin_ids(raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError as err:
            raise ConfigError(
                "WARDVOICE_ADMIN_IDS must be comma-separated Telegram user ids; "
                f"{part!r} is not one"
            ) from err
    return frozenset(ids)


def _bot_username(raw: str) -> str | None:
    """`@WardVoiceBot` or `WardVoiceBot` -> `WardVoiceBot`; empty -> None."""
    name = raw.strip().removeprefix("@")
    if not name:
        return None
    allowed = all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name)
    if not (allowed and 5 <= len(name) <= 32):
        raise ConfigError(
            "TELEGRAM_BOT_USERNAME must be the bot's username as @BotFather shows it "
            f"(5 to 32 letters, digits or _), not {raw!r}"
        )
    return name


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from err
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero")
    return value


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Read settings: real environment variables win over the `.env` file."""
    values: dict[str, str] = {}
    dotenv = env_file if env_file is not None else Path.cwd() / ".env"
    if dotenv.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    timezone = values.get("WARDVOICE_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"WARDVOICE_TIMEZONE {timezone!r} is not a known time zone") from err

    rate = values.get("WARDVOICE_MAX_SEND_RATE")
    per_day = values.get("WARDVOICE_MAX_CONCERNS_PER_DAY")
    digest_at = values.get("WARDVOICE_DIGEST_AT") or Settings.digest_at
    parse_digest_at(digest_at)

    def number(name: str, default: float) -> float:
        raw = values.get(name)
        return _positive_float(name, raw) if raw else default

    return Settings(
        token=values.get("TELEGRAM_BOT_TOKEN") or None,
        api_base_url=values.get("TELEGRAM_API_BASE_URL") or None,
        api_file_url=values.get("TELEGRAM_API_FILE_URL") or None,
        bot_username=_bot_username(values.get("TELEGRAM_BOT_USERNAME", "")),
        db_path=Path(values.get("WARDVOICE_DB") or DEFAULT_DB),
        admin_ids=_admin_ids(values.get("WARDVOICE_ADMIN_IDS", "")),
        timezone=timezone,
        geocoder=values.get("WARDVOICE_GEOCODER") or DEFAULT_GEOCODER,
        max_send_rate=_positive_float("WARDVOICE_MAX_SEND_RATE", rate) if rate else 28.0,
        max_concerns_per_day=(
            int(_positive_float("WARDVOICE_MAX_CONCERNS_PER_DAY", per_day)) if per_day else 5
        ),
        digest_at=digest_at,
        reminder_hours=number("WARDVOICE_REMINDER_HOURS", Settings.reminder_hours),
        followup_days=int(number("WARDVOICE_FOLLOWUP_DAYS", Settings.followup_days)),
        meeting_cycle_days=int(number("WARDVOICE_MEETING_CYCLE_DAYS", Settings.meeting_cycle_days)),
        retention_days=int(number("WARDVOICE_RETENTION_DAYS", Settings.retention_days)),
        outbox_retention_days=int(
            number("WARDVOICE_OUTBOX_RETENTION_DAYS", Settings.outbox_retention_days)
        ),
        send_concurrency=int(number("WARDVOICE_SEND_CONCURRENCY", Settings.send_concurrency)),
        send_attempts=int(number("WARDVOICE_SEND_ATTEMPTS", Settings.send_attempts)),
    )
