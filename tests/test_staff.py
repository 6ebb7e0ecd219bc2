"""Staff roles: invites, the panel's priorities in the bot, and every refusal, audited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain import roles
from bot.domain.priorities import add_priority
from handlers import callback_data as cb
from storage import audit
from tests.conftest import World
from tests.staffing import invite_code, join_as, refusals
from tests.synthetic import synthetic_wards_geojson

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"


async def _row_counts(world: World) -> tuple[int, ...]:
    tables = ("priorities", "priority_history", "roles", "invites")
    return tuple([int(await world.db.fetchval(f"SELECT count(*) FROM {t}")) for t in tables])


async def test_chair_joins_with_an_invite_and_sets_three_priorities(world: World) -> None:
    chair = world.person()
    await chair.says(f"/start {KINGSMEAD}")
    code = await invite_code(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    joined = await chair.says(f"/join {code.lower()}")
    assert "You are now a panel chair for Kingsmead" in joined.text
    staff_menu = world.api.commands_for({"type": "chat", "chat_id": chair.sim.chat_id})
    assert "panel" in [c["command"] for c in staff_menu]
    assert "panel" not in [
        c["command"] for c in world.api.commands_for({"type": "all_private_chats"})
    ]

    menu = await chair.says("/panel")
    assert "Panel tools for Kingsmead ward, Northbank" in menu.text
    await chair.taps("Priorities")
    for category, title in [
        ("asb", "Groups outside the shops"),
        ("roads", "Speeding on Mill Lane"),
        ("street", "Fly-tipping in the alley | behind the library"),
    ]:
        added = await chair.says(f"/addpriority {category} {title}")
        assert "Added priority" in added.text
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    shown = await resident.says("/priorities")
    assert "Speeding on Mill Lane" in shown.text and "behind the library" in shown.text
    lines = await audit.recent(world.db)
    assert [line.action for line in lines if line.outcome == "done"].count("add_priority") == 3


async def test_resident_who_types_staff_commands_is_refused_and_nothing_changes(
    world: World,
) -> None:
    svc = world.services
    for n in range(4):
        await add_priority(
            svc.db, svc.clock, svc.wards, KINGSMEAD, f"Priority {n}", "asb", by="test"
        )
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    before, refused = await _row_counts(world), await refusals(world)
    panel = await resident.says("/panel")
    assert "This is for ward panels and neighbourhood teams" in panel.text
    added = await resident.says("/addpriority asb Something new")
    reworded = await resident.says("/reword 1 Hijacked title")
    retire = await resident.presses(cb.STAFF_RETIRE.build(id="1"))
    listing = await resident.presses(cb.STAFF_PRIORITIES.build(code=KINGSMEAD))
    for reply in (added, reworded):
        assert "Sorry, you can't do that for this ward." in reply.text
    for reply in (retire, listing):
        assert reply.answers[0].params["text"] == "Sorry, you can't do that for this ward."
    assert await _row_counts(world) == before
    assert await refusals(world) == refused + 5


async def test_panel_member_of_one_ward_cannot_act_on_another(world: World) -> None:
    svc = world.services
    ids = [
        (
            await add_priority(
                svc.db, svc.clock, svc.wards, OLD_TOWN, f"Old Town {n}", "noise", by="t"
            )
        ).id
        for n in range(4)
    ]
    member = await join_as(world, KINGSMEAD, roles.Role.PANEL_MEMBER)
    before = await _row_counts(world)
    retire = await member.presses(cb.STAFF_RETIRE.build(id=str(ids[0])))
    assert retire.answers[0].params["text"] == "Sorry, you can't do that for this ward."
    reword = await member.says(f"/reword {ids[1]} Not your ward")
    assert "Sorry, you can't do that" in reword.text
    other = await member.presses(cb.STAFF_WARD.build(code=OLD_TOWN))
    assert "Sorry" in other.answers[0].params["text"]
    assert await _row_counts(world) == before


async def test_team_member_may_not_manage_priorities(world: World) -> None:
    team = await join_as(world, KINGSMEAD, roles.Role.TEAM_MEMBER)
    menu = await team.says("/panel")
    assert "Priorities" not in [b["text"] for b in menu.buttons]
    forged = await team.presses(cb.STAFF_PRIORITIES.build(code=KINGSMEAD))
    assert forged.answers[0].params["text"] == "Sorry, you can't do that for this ward."


async def test_chair_retires_a_priority_with_a_button_within_the_bounds(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    svc = world.services
    for n in range(4):
        await add_priority(
            svc.db, svc.clock, svc.wards, KINGSMEAD, f"Priority {n}", "asb", by="test"
        )
    await chair.says("/panel")
    await chair.taps("Priorities")
    retired = await chair.taps("Retire #1")
    assert "Retired: Priority 0" in retired.text
    refused = await chair.taps("Retire #2")
    assert "must keep at least 3" in refused.answers[0].params["text"]


async def test_expired_and_reused_invites_are_refused_and_audited(world: World) -> None:
    expired = await invite_code(world, KINGSMEAD, roles.Role.PANEL_MEMBER, days=1)
    world.clock.advance(days=1, seconds=1)
    person = world.person()
    reply = await person.says(f"/join {expired}")
    assert "has expired" in reply.text
    code = await invite_code(world, KINGSMEAD, roles.Role.PANEL_MEMBER)
    first, second = world.person(), world.person()
    assert "You are now" in (await first.says(f"/join {code}")).text
    assert "already been used" in (await second.says(f"/join {code}")).text
    assert "isn't valid" in (await second.says("/join NOTACODE99")).text
    joined = await world.db.fetchall("SELECT user_id FROM roles")
    assert [r[0] for r in joined] == [first.user_id]
    assert await refusals(world) == 3


async def test_chair_may_invite_members_but_not_chairs_for_their_ward_only(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    svc = world.services
    invite = await roles.create_invite(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        by_user=chair.user_id,
        scope=KINGSMEAD,
        role=roles.Role.PANEL_MEMBER,
    )
    assert invite.role == "panel_member"
    for scope, role in [(KINGSMEAD, roles.Role.PANEL_CHAIR), (OLD_TOWN, roles.Role.PANEL_MEMBER)]:
        with pytest.raises(roles.NotAllowed):
            await roles.create_invite(
                svc.db,
                svc.clock,
                svc.wards,
                svc.settings.admin_ids,
                by_user=chair.user_id,
                scope=scope,
                role=role,
            )


async def test_admin_from_configuration_may_work_on_any_ward(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, admin_ids=frozenset({1001}))
    admin = world.person()  # the first person is user 1001
    assert admin.user_id == 1001
    menu = await admin.says(f"/panel {OLD_TOWN}")
    assert "Panel tools for Old Town ward" in menu.text


def test_operator_grants_revokes_and_invites_from_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDVOICE_DB", str(tmp_path / "w.db"))
    assert main(["import-wards", str(synthetic_wards_geojson(tmp_path / "w.geojson"))]) == 0
    assert main(["grant", "42", "panel_chair", KINGSMEAD]) == 0
    assert main(["grant", "43", "youth", "E09900001"]) == 0, "youth panels may be borough-wide"
    assert main(["grant", "44", "admin"]) == 0
    assert main(["invite", KINGSMEAD, "team_member"]) == 0
    out = capsys.readouterr().out
    assert "Granted panel_chair to 42 for E05900002" in out and "/join " in out
    assert main(["revoke", "42", KINGSMEAD]) == 0
    assert "Revoked 1 role(s) of 42" in capsys.readouterr().out
    assert main(["grant", "45", "panel_member", "E05999999"]) == 1
    assert "no ward or borough" in capsys.readouterr().err


async def test_chair_makes_an_invite_in_the_bot_that_a_new_member_redeems(world: World) -> None:
    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    made = await chair.says("/invite panel_member")
    code = re.search(r"/join ([2-9A-Z]{10})", made.text)
    assert code, made.text
    member = world.person()
    assert (
        "You are now a panel member for Kingsmead"
        in (await member.says(f"/join {code.group(1)}")).text
    )
    refused = await chair.says("/invite panel_chair")
    assert "can't make that invite" in refused.text
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    assert "can't make that invite" in (await resident.says("/invite youth")).text


async def test_staff_with_roles_in_two_wards_choose_which_one_they_work_on(world: World) -> None:
    member = await join_as(world, KINGSMEAD, roles.Role.PANEL_MEMBER)
    code = await invite_code(world, OLD_TOWN, roles.Role.TEAM_MEMBER)
    await member.says(f"/join {code}")
    choose = await member.says("/panel")
    assert "Which ward are you working on?" in choose.text
    menu = await member.taps("Old Town")
    assert "Panel tools for Old Town ward" in menu.text
    assert "Priorities" not in [b["text"] for b in menu.buttons], "a team member there"
    switched = await member.taps("Switch ward")
    back = await member.taps("Kingsmead")
    assert "Which ward" in switched.text and "Panel tools for Kingsmead ward" in back.text
    assert "Priorities" in [b["text"] for b in back.buttons], "a panel member here"


async def test_start_up_sends_only_the_staff_menus_that_changed(world: World) -> None:
    """A city has thousands of staff: sending every menu at every start delayed the first
    answer by seconds (bench/scale.py). A menu goes again only when it changed, and a
    chat that is no longer staff loses it."""
    from handlers.staff import sync_staff_commands
    from storage import roles as role_store

    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    member = await join_as(world, KINGSMEAD, roles.Role.PANEL_MEMBER)
    assert await sync_staff_commands(world.application) == 2, "first start: both menus go"
    assert await sync_staff_commands(world.application) == 0, "nothing changed, nothing sent"

    await role_store.revoke(world.db, member.user_id, KINGSMEAD, None)
    before = len(world.api.calls)
    assert await sync_staff_commands(world.application) == 1
    assert [c.method for c in world.api.calls[before:]] == ["deleteMyCommands"]
    assert world.api.commands_for({"type": "chat", "chat_id": member.sim.chat_id}) == []
    assert "panel" in [
        c["command"] for c in world.api.commands_for({"type": "chat", "chat_id": chair.sim.chat_id})
    ]
    assert set(await role_store.menus_sent(world.db)) == {chair.user_id}
