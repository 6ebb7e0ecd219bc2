"""Fuzzing the handlers (issue 8): thousands of random and hostile updates of every kind the
Bot API has, through the real Application polling the fake Bot API, with legitimate flows
mixed in. Nothing may reach the error handler, and the database must be consistent after.

The generator, the driver and the checks are in tests/fuzzing.py; bench/fuzz.py runs the
same at 100,000 updates.
"""

from __future__ import annotations

import json
import logging
import random

import pytest
from telegram import Update

from bot.standin.bot_api import FakeBotAPI, default_bot_user
from tests.conftest import World
from tests.fuzzing import (
    Driver,
    ErrorLogs,
    ErrorSeen,
    Fuzzer,
    Scenario,
    bot_commands,
    check_database,
    kind_of,
)

UPDATES = 4_000  # per seed
BATCH = 60  # updates a batch (one getUpdates answer; duplicates come on top)
FLOW_SHARE = 0.4  # after a batch, the chance of one legitimate flow
SEEDS = (1, 2)


def _fuzzer(seed: int, **overrides: object) -> Fuzzer:
    options: dict = {
        "ward_codes": [f"E0590{n:04d}" for n in range(1, 13)],
        "commands": ["start", "concern", "newvote", "meeting", "join", "vote"],
        "bot_user": default_bot_user(FakeBotAPI.TOKEN, "WardVoiceTestBot"),
        "clock": lambda: 1_795_000_000.0,
        **overrides,
    }
    fuzzer = Fuzzer(seed, **options)
    # What the driver would have seen in the chats: a message with buttons for some users.
    for user in fuzzer.pool[:50]:
        keyboard = [[{"text": "Off", "callback_data": "upd:off"}]]
        message = {"message_id": 1, "date": 1, "chat": user.chat, "text": "Updates?"}
        fuzzer.observe(user.user_id, [{**message, "reply_markup": {"inline_keyboard": keyboard}}])
    return fuzzer


def test_the_generator_is_deterministic_and_telegram_shaped() -> None:
    """Same seed, same updates; every update is JSON (no NaN, no lone surrogate) that
    python-telegram-bot parses, and every update type it knows is among them."""
    first, second, other = _fuzzer(7), _fuzzer(7), _fuzzer(8)
    seen: set[str] = set()
    next_id = 1
    for _ in range(60):
        batch, following = first.batch(80, next_id)
        again, _ = second.batch(80, next_id)
        assert batch == again
        for update in batch:
            wire = json.dumps(update, allow_nan=False)
            parsed = Update.de_json(json.loads(wire), None)
            assert parsed.update_id == update["update_id"]
            seen.add(kind_of(update))
        next_id = following
    assert other.batch(80, 1)[0] != _fuzzer(7).batch(80, 1)[0]
    assert seen == set(Update.ALL_TYPES)


def test_a_batch_is_confirmable_in_one_getupdates() -> None:
    """Out-of-order runs end with their highest id and duplicates follow their original, so
    the offset after a batch (its last id + 1) confirms every update in it."""
    fuzzer = _fuzzer(3, disorder_share=0.3, duplicate_share=0.2)
    batch, next_id = fuzzer.batch(80, 500)
    ids = [u["update_id"] for u in batch]
    assert ids[-1] == max(ids) == next_id - 1
    assert sorted(set(ids)) == list(range(500, next_id))
    assert ids != sorted(ids), "some ids are out of order"
    assert len(ids) > len(set(ids)), "some updates are pushed twice"


@pytest.mark.parametrize("seed", SEEDS)
async def test_hostile_updates_break_nothing(world: World, seed: int) -> None:
    codes = [row[0] for row in await world.db.fetchall("SELECT code FROM wards ORDER BY code")]
    fuzzer = Fuzzer(
        seed,
        ward_codes=codes,
        commands=bot_commands(world.application),
        bot_user=world.api.bot_user,
        clock=lambda: world.clock.now().timestamp(),
        users=400,
    )
    driver = Driver(world.api, world.services, world.application)
    scenario = Scenario(driver, fuzzer, seed)
    rng = random.Random(seed)
    logs = ErrorLogs()
    logging.getLogger().addHandler(logs)
    try:
        await scenario.setup()
        staff = [user.user_id for user in scenario.staff]
        while driver.pushed_total < UPDATES:
            batch, driver.next_id = fuzzer.batch(BATCH, driver.next_id)
            await driver.push(batch)
            driver.observe(fuzzer, [*fuzzer.touched, *staff])
            if rng.random() < FLOW_SHARE:
                await scenario.step()
        await world.delivered()
        await world.stop()
    finally:
        logging.getLogger().removeHandler(logs)

    first: dict[str, ErrorSeen] = {}
    for error in driver.errors:
        first.setdefault(error.signature, error)
    assert not driver.errors, f"{len(driver.errors)} unhandled exceptions:\n\n" + "\n\n".join(
        f"{len([e for e in driver.errors if e.signature == key])} × {e.error[:300]}\n"
        f"at {e.where}\nfirst on {json.dumps(e.raw, ensure_ascii=True)[:3000]}"
        for key, e in first.items()
    )
    assert not world.errors
    logged = [f"{r.name}: {r.getMessage()}" for r in logs.records]
    assert not logged, logged[:5]
    report = check_database(world.services.settings.db_path)
    assert report.integrity_check == ["ok"]
    assert report.foreign_key_check == []
    assert report.broken == {}
    # The fuzz did reach what it was meant to reach.
    assert set(driver.pushed) == set(Update.ALL_TYPES)
    assert driver.duplicates and driver.out_of_order
    assert driver.flood.verdicts["drop"] and driver.flood.verdicts["notify"], "flood limiter hit"
    assert driver.unexpected == 0
    assert report.rows["concerns"] and report.rows["ballots"] and report.rows["outbox"]
    assert sum(scenario.flows.values()) >= 5
