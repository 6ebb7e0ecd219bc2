"""The staff side: /join with an invite code, /panel, and the ward's priorities.

Every action re-checks the user's role for that ward on the server (`authorise`), whatever
menu or button led there; a refusal is answered politely and written to the audit log.

    /join CODE ─▶ role granted ─▶ staff commands appear in the menu
    /panel ─▶ (choose a ward if several) ─▶ menu ─▶ Priorities ─▶ Retire (button)
    /addpriority CATEGORY Title | description      /reword ID New title | description
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.domain import priorities as priority_domain
from bot.domain import roles
from bot.domain.categories import CATEGORIES
from bot.domain.errors import RuleError
from bot.domain.roles import Action, NotAllowed, Staff
from bot.i18n import DEFAULT_LANGUAGE, N_, label, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.commands import resident_commands
from handlers.common import (
    Context,
    allowed,
    answer,
    audit_action,
    authorise,
    record_id,
    refuse,
    reply,
    resident_of,
    services,
)
from handlers.working_ward import working_ward
from storage import priorities as priority_store
from storage import residents as resident_store
from storage import roles as role_store

log = logging.getLogger(__name__)

STAFF_COMMANDS: list[tuple[str, str]] = [
    ("panel", N_("Your ward panel's tools")),
    ("addpriority", N_("Add a priority: CATEGORY Title | description")),
    ("reword", N_("Reword a priority: ID New title | description")),
    ("invite", N_("Make a one-time invite code: ROLE")),
    ("respond", N_("Answer a concern: WV-XXXXX your answer")),
    ("template", N_("Save an answer template: CATEGORY STATUS text")),
    ("wedid", N_("You said, we did: [#priority] [WV-…] what was done")),
    ("broadcast", N_("News to your ward's subscribers: /broadcast your message")),
    ("meeting", N_("Schedule a meeting: DATE TIME | venue | open/closed | link")),
    ("cancelmeeting", N_("Cancel a meeting: ID")),
    ("newvote", N_("Let young people vote on the agenda: one choice per line")),
    ("stats", N_("Figures and a chart for your ward (or: /stats borough)")),
    ("export", N_("CSV for the minutes: /export FROM TO (YYYY-MM-DD)")),
    ("poster", N_("A printable A4 poster with a QR code for your ward")),
]


def staff_commands(language: str) -> list[BotCommand]:
    return resident_commands(language) + [
        BotCommand(n, label(language, d)) for n, d in STAFF_COMMANDS
    ]


async def show_staff_commands(context: Context, chat_id: int, language: str) -> None:
    """Staff see their tools in the command menu of their own chat only."""
    await context.bot.set_my_commands(staff_commands(language), scope=BotCommandScopeChat(chat_id))


def _menu_digest(language: str, commands: list[BotCommand]) -> str:
    text = "\n".join([language, *(f"{c.command} {c.description}" for c in commands)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def sync_staff_commands(application: Application) -> int:  # type: ignore[type-arg]
    """After start-up: every staff member's chat gets the staff menu in their language
    (roles granted by the CLI too), and a chat that is no longer staff loses it.

    Only menus that changed since they were last sent go out: a city has thousands of
    staff, and one setMyCommands each at every start took seconds of Telegram's time and
    ours (bench/scale.py). Returns the menus sent or taken away."""
    svc = application.bot_data["services"]
    ids = set(await role_store.staff_user_ids(svc.db)) | set(svc.settings.admin_ids)
    languages = await resident_store.language_of(svc.db, sorted(ids))
    before = await role_store.menus_sent(svc.db)
    menus: dict[str, tuple[list[BotCommand], str]] = {}
    sent: dict[int, str] = {}
    try:
        for user_id in sorted(ids):
            language = languages.get(user_id, DEFAULT_LANGUAGE)
            if language not in menus:
                commands = staff_commands(language)
                menus[language] = (commands, _menu_digest(language, commands))
            commands, digest = menus[language]
            if before.get(user_id) == digest:
                continue
            try:
                await application.bot.set_my_commands(commands, scope=BotCommandScopeChat(user_id))
            except BadRequest:  # a chat the bot has never seen yet
                continue
            sent[user_id] = digest
        removed = [user_id for user_id in before if user_id not in ids]
        for user_id in removed:
            with contextlib.suppress(BadRequest):
                await application.bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
    except TelegramError as err:  # Telegram down: what was not sent goes at the next start
        log.warning("staff menus not all sent (%s); the rest go at the next start", err)
        removed = []
    await role_store.record_menus(svc.db, sent, removed)
    return len(sent) + len(removed)


async def join_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    if not context.args:
        await reply(
            update,
            t(
                language,
                "To join your ward panel's tools, send /join followed by your invite code.",
            ),
        )
        return
    try:
        invite = await roles.join(svc.db, svc.clock, resident.user_id, context.args[0])
    except RuleError as err:
        await reply(update, t(language, err.message, **err.values))
        return
    place = svc.wards.place_name(invite.scope)
    await reply(
        update,
        join(
            [
                t(
                    language,
                    "✅ You are now a {role} for {place}.",
                    role=t(language, roles.ROLE_LABELS[roles.Role(invite.role)]),
                    place=place,
                ),
                t(language, "Open your tools with /panel.")
                if invite.role != roles.Role.YOUTH
                else t(language, "When your panel asks what to talk about, vote with /vote."),
            ]
        ),
    )
    if invite.role != roles.Role.YOUTH:
        await show_staff_commands(context, resident.user_id, language)


async def _staff(context: Context, user_id: int) -> Staff:
    svc = services(context)
    return await roles.staff_of(svc.db, svc.settings.admin_ids, user_id)


async def panel_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    staff = await _staff(context, resident.user_id)
    if not staff.is_staff:
        await audit_action(
            context,
            resident.user_id,
            "panel",
            None,
            detail="not staff",
            refused=True,
        )
        await reply(
            update,
            t(
                language,
                "This is for ward panels and neighbourhood teams. If you have an invite "
                "code, send /join followed by the code.",
            ),
        )
        return
    wards = staff.staff_wards
    wanted = (
        context.args[0].upper()
        if context.args
        else await role_store.focus(svc.db, resident.user_id)
    )
    if wanted is None and len(wards) == 1:
        wanted = wards[0]
    if wanted is None and staff.admin and resident.ward_code:
        wanted = resident.ward_code
    if wanted is None or svc.wards.ward(wanted) is None or not (staff.admin or wanted in wards):
        await _choose_ward(update, context, language, wards)
        return
    await role_store.set_focus(svc.db, resident.user_id, wanted)
    await _menu(update, context, language, staff, wanted)


async def _choose_ward(update: Update, context: Context, language: str, wards: list[str]) -> None:
    directory = services(context).wards
    rows = [
        [
            InlineKeyboardButton(
                directory.name_of(code),
                callback_data=cb.STAFF_WARD.build(code=code),
            )
        ]
        for code in wards
    ]
    if not rows:
        await reply(update, t(language, "Which ward? Send /panel followed by the ward code."))
        return
    await reply(update, t(language, "Which ward are you working on?"), InlineKeyboardMarkup(rows))


async def _menu(
    update: Update, context: Context, language: str, staff: Staff, ward_code: str
) -> None:
    ward = services(context).wards.ward(ward_code)
    assert ward is not None
    held = sorted(staff.roles_in(ward_code))
    role_names = ", ".join(label(language, roles.ROLE_LABELS[r]) for r in held) or label(
        language, "admin"
    )
    rows = []
    if staff.may(Action.MANAGE_PRIORITIES, ward.code, ward.borough_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Priorities"),
                    callback_data=cb.STAFF_PRIORITIES.build(code=ward.code),
                )
            ]
        )
    if staff.may(Action.SCHEDULE_MEETING, ward.code, ward.borough_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Meetings"),
                    callback_data=cb.STAFF_MEETINGS.build(code=ward.code),
                )
            ]
        )
    if staff.may(Action.OPEN_VOTE, ward.code, ward.borough_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Votes"), callback_data=cb.STAFF_VOTES.build(code=ward.code)
                )
            ]
        )
    if staff.may(Action.VIEW_STATS, ward.code, ward.borough_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Stats"), callback_data=cb.STATS_SHOW.build(code=ward.code)
                )
            ]
        )
    if staff.may(Action.REVIEW_CONCERNS, ward.code, ward.borough_code):
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Concerns"),
                    callback_data=cb.STAFF_CONCERNS.build(code=ward.code),
                )
            ]
        )
    if len(staff.staff_wards) > 1:
        rows.append(
            [
                InlineKeyboardButton(
                    label(language, "Switch ward"), callback_data=cb.STAFF_SWITCH.build()
                )
            ]
        )
    lines: list[Html | str] = [
        t(
            language,
            "<b>Panel tools</b> for {ward} ward, {borough}",
            ward=ward.name,
            borough=ward.borough_name,
        ),
        t(language, "Your role: {roles}", roles=role_names),
    ]
    await reply(update, join(lines), InlineKeyboardMarkup(rows) if rows else None)


async def ward_chosen(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_WARD.parse(query.data)
    assert parsed is not None
    svc = services(context)
    resident = await resident_of(update, context)
    staff = await _staff(context, resident.user_id)
    code = parsed["code"]
    if not (staff.admin or code in staff.staff_wards) or svc.wards.ward(code) is None:
        await audit_action(
            context,
            resident.user_id,
            "panel",
            code,
            detail="not their ward",
            refused=True,
        )
        await refuse(
            update, resident.language, NotAllowed(N_("Sorry, you can't do that for this ward."))
        )
        return
    await answer(update)
    await role_store.set_focus(svc.db, resident.user_id, code)
    await _menu(update, context, resident.language, staff, code)


async def switch_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await answer(update)
    resident = await resident_of(update, context)
    staff = await _staff(context, resident.user_id)
    await _choose_ward(update, context, resident.language, staff.staff_wards)


def _priority_lines(language: str, views: list[priority_domain.PriorityView]) -> list[Html | str]:
    if not views:
        return [t(language, "No active priorities yet.")]
    return [
        t(
            language,
            "#{id} {title} · {category}",
            id=v.priority.id,
            title=v.priority.title,
            category=t(language, v.category_label),
        )
        for v in views
    ]


async def priorities_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_PRIORITIES.parse(query.data)
    assert parsed is not None
    if not await allowed(update, context, Action.MANAGE_PRIORITIES, parsed["code"]):
        return
    await answer(update)
    language = (await resident_of(update, context)).language
    await _show_priorities(update, context, language, parsed["code"])


async def _show_priorities(update: Update, context: Context, language: str, ward_code: str) -> None:
    svc = services(context)
    ward = svc.wards.ward(ward_code)
    assert ward is not None
    views = await priority_domain.ward_priorities(svc.db, ward_code)
    lines: list[Html | str] = [
        t(
            language,
            "<b>Priorities for {ward}</b> ({count} active; a ward keeps {min} to {max})",
            ward=ward.name,
            count=len(views),
            min=priority_domain.MIN_ACTIVE,
            max=priority_domain.MAX_ACTIVE,
        ),
        *_priority_lines(language, views),
        "",
        t(language, "Add one: /addpriority CATEGORY Title | description"),
        t(language, "Categories: {codes}", codes=", ".join(CATEGORIES)),
        t(language, "Reword one: /reword ID New title | description"),
    ]
    rows = [
        [
            InlineKeyboardButton(
                label(language, "Retire #{id}", id=v.priority.id),
                callback_data=cb.STAFF_RETIRE.build(id=str(v.priority.id)),
            )
        ]
        for v in views
    ]
    await reply(update, join(lines), InlineKeyboardMarkup(rows) if rows else None)


async def retire_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_RETIRE.parse(query.data)
    assert parsed is not None
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    priority = await priority_store.get(svc.db, int(parsed["id"]))
    if priority is None:
        await answer(update, label(language, "There is no such priority."))
        return
    try:
        await authorise(
            context,
            resident.user_id,
            Action.MANAGE_PRIORITIES,
            priority.ward_code,
            target=f"priority:{priority.id}",
        )
        retired = await priority_domain.retire_priority(
            svc.db, svc.clock, priority.id, by=roles.actor(resident.user_id)
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "retire_priority",
        priority.ward_code,
        target=f"priority:{priority.id}",
    )
    await answer(update, label(language, "Retired."))
    await reply(update, t(language, "Retired: {title}", title=retired.title))
    await _show_priorities(update, context, language, priority.ward_code)


def _split(text: str) -> tuple[str, str]:
    title, _, description = text.partition("|")
    return title.strip(), description.strip()


async def add_priority_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    ward_code = await working_ward(context, resident)
    try:
        await authorise(context, resident.user_id, Action.MANAGE_PRIORITIES, ward_code)
        if len(context.args or []) < 2:
            raise RuleError(N_("Usage: /addpriority CATEGORY Title | description"))
        category = context.args[0].lower()
        title, description = _split(" ".join(context.args[1:]))
        priority = await priority_domain.add_priority(
            svc.db,
            svc.clock,
            svc.wards,
            ward_code,
            title,
            category,
            description,
            by=roles.actor(resident.user_id),
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "add_priority",
        ward_code,
        target=f"priority:{priority.id}",
    )
    await reply(
        update, t(language, "Added priority #{id}: {title}", id=priority.id, title=priority.title)
    )
    await _show_priorities(update, context, language, ward_code)


async def reword_command(update: Update, context: Context) -> None:
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    try:
        args = context.args or []
        priority_id = record_id(args[0]) if len(args) >= 2 else None
        if priority_id is None:
            raise RuleError(N_("Usage: /reword ID New title | description"))
        priority = await priority_store.get(svc.db, priority_id)
        if priority is None:
            raise RuleError(N_("There is no such priority."))
        await authorise(
            context,
            resident.user_id,
            Action.MANAGE_PRIORITIES,
            priority.ward_code,
            target=f"priority:{priority.id}",
        )
        title, description = _split(" ".join(context.args[1:]))
        updated = await priority_domain.reword_priority(
            svc.db, svc.clock, priority.id, title, description, by=roles.actor(resident.user_id)
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    await audit_action(
        context,
        resident.user_id,
        "reword_priority",
        priority.ward_code,
        target=f"priority:{priority.id}",
    )
    await reply(update, t(language, "Reworded #{id}: {title}", id=updated.id, title=updated.title))


async def invite_command(update: Update, context: Context) -> None:
    """/invite ROLE: a chair (for their ward) or an admin makes a one-time code."""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    args = context.args or []
    choices = ", ".join(r.value for r in roles.Role)
    if len(args) != 1 or args[0].lower() not in {r.value for r in roles.Role}:
        await reply(
            update, t(language, "Usage: /invite ROLE, where ROLE is one of: {roles}", roles=choices)
        )
        return
    ward_code = await working_ward(context, resident)
    try:
        invite = await roles.create_invite(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            by_user=resident.user_id,
            scope=ward_code,
            role=roles.Role(args[0].lower()),
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    await reply(
        update,
        join(
            [
                t(
                    language,
                    "Invite code for a {role} of {ward}: <code>{code}</code>",
                    role=t(language, roles.ROLE_LABELS[roles.Role(invite.role)]),
                    ward=svc.wards.name_of(ward_code),
                    code=invite.code,
                ),
                t(
                    language,
                    "It works once, until {until} (UTC). They send: /join {code}",
                    until=invite.expires_at[:16].replace("T", " "),
                    code=invite.code,
                ),
            ]
        ),
    )
