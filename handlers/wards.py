"""Finding and changing a resident's ward: /ward, shared locations, typed searches, picks.

    /start or /ward ──▶ [finding ward] ──location──────────────▶ placed
                            │        ──postcode/address──────▶ placed
                            │        ──ward name──▶ buttons ──pick──▶ placed
                            └─ nothing found ──▶ says why, still finding

"Finding" is a flag on the resident in SQLite, so a restart never loses it.
"""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot.domain.finding import (
    Answer,
    Choices,
    Found,
    How,
    Miss,
    NotFound,
    find_by_point,
    find_by_text,
    place_resident,
)
from bot.geo.index import Ward
from bot.i18n import N_, label, t
from bot.render import Html, join
from handlers import callback_data as cb
from handlers.common import (
    Context,
    answer,
    edit_quietly,
    now_iso,
    remember_resident,
    reply,
    resident_of,
    services,
)
from handlers.updates import ask_once as ask_updates_once
from storage import residents as resident_store
from storage.residents import Resident

MISS_TEXT: dict[Miss, str] = {
    Miss.NO_WARDS: N_(
        "WardVoice is not set up for any area yet, so I can't find your ward. "
        "Please try again later."
    ),
    Miss.OUTSIDE: N_(
        "That place is outside the area we cover. Share a location, or type a postcode, "
        "inside the area."
    ),
    Miss.UNKNOWN_POSTCODE: N_(
        "I couldn't find the postcode {query}. Please check it, or share your location instead."
    ),
    Miss.OUTCODE: N_(
        "{query} covers several wards. Please type your whole postcode (for example "
        "{query} 1AA), or share your location."
    ),
    Miss.NOTHING_MATCHED: N_(
        "I couldn't find a ward or place called “{query}”. Try your postcode, or share your "
        "location."
    ),
    Miss.GEOCODER_DOWN: N_(
        "I can't look up addresses right now. Please type your postcode, or share your location."
    ),
    Miss.TOO_LONG: N_(
        "That's longer than a place name or postcode. Please type just your postcode, or share "
        "your location."
    ),
    Miss.EMPTY: N_("Please type your postcode or the name of your ward, or share your location."),
    Miss.BAD_POINT: N_("That location doesn't look right. Please share it again."),
    Miss.UNKNOWN_WARD: N_("That link doesn't lead to a ward I know. It may be out of date."),
}

HOW_TEXT: dict[How, str] = {
    How.LOCATION: N_("from the location you shared"),
    How.POSTCODE: N_("from your postcode"),
    How.ADDRESS: N_("from the address you typed"),
    How.NAME: N_("you chose it by name"),
    How.LINK: N_("from the link you followed"),
}


def location_keyboard(language: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(label(language, "📍 Share my location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=label(language, "Postcode, address or ward name"),
    )


def ward_line(language: str, ward: Ward) -> Html:
    return t(language, "<b>{ward}</b> ward, {borough}", ward=ward.name, borough=ward.borough_name)


def ward_button_label(language: str, ward: Ward) -> str:
    return label(language, "{ward} ({borough})", ward=ward.name, borough=ward.borough_name)


def ask_where(language: str) -> Html:
    return join(
        [
            t(
                language,
                "Where do you live? Tap <b>Share my location</b> below, or type your postcode, "
                "your address or the name of your ward.",
            ),
            t(language, "I only use it to find your ward."),
        ]
    )


def placed_text(language: str, found: Found, previous: Ward | None) -> Html:
    lines = []
    if found.label:
        lines.append(t(language, "I found: {place}", place=found.label))
    if previous is not None and previous.code != found.ward.code:
        lines.append(
            t(
                language,
                "Your ward is now {ward} (it was {old}).",
                ward=ward_line(language, found.ward),
                old=previous.name,
            )
        )
    else:
        lines.append(t(language, "📍 You're in {ward}.", ward=ward_line(language, found.ward)))
    if found.distance_m > 0:
        lines.append(
            t(
                language,
                "That point is just outside every ward, so I chose the nearest one, {metres} m "
                "away. If that's wrong, type your postcode.",
                metres=round(found.distance_m),
            )
        )
    lines.append("")
    lines.append(t(language, "See what your ward panel is working on: /priorities"))
    lines.append(t(language, "Change your ward any time: /ward"))
    return join(lines)


def miss_text(language: str, miss: NotFound) -> Html:
    return t(language, MISS_TEXT[miss.reason], query=miss.query)


def choices_markup(language: str, wards: list[Ward]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ward_button_label(language, ward),
                    callback_data=cb.WARD_PICK.build(code=ward.code),
                )
            ]
            for ward in wards
        ]
    )


async def settle(update: Update, context: Context, resident: Resident, answer: Answer) -> None:
    """Reply to a search: place the resident, offer choices, or say why nothing was found."""
    language = resident.language
    svc = services(context)
    if isinstance(answer, Found):
        previous = svc.wards.ward(resident.ward_code) if resident.ward_code else None
        placed = await place_resident(svc.db, svc.clock, resident.user_id, answer)
        remember_resident(context, placed)
        await reply(update, placed_text(language, answer, previous), ReplyKeyboardRemove())
        await ask_updates_once(update, context)
    elif isinstance(answer, Choices):
        await reply(
            update,
            join(
                [
                    t(language, "Which ward do you mean? Tap yours:"),
                    t(language, "Not there? Type your postcode, or share your location."),
                ]
            ),
            choices_markup(language, answer.wards),
        )
    else:
        await reply(update, miss_text(language, answer), location_keyboard(language))


async def begin_finding(
    update: Update, context: Context, resident: Resident, intro: Html | None = None
) -> None:
    """Ask where the resident lives; `intro` (a welcome) opens the same message."""
    svc = services(context)
    opening: list[Html | str] = [] if intro is None else [intro, ""]
    if len(svc.wards) == 0:
        await reply(update, join([*opening, miss_text(resident.language, NotFound(Miss.NO_WARDS))]))
        return
    remember_resident(
        context, await resident_store.start_finding_ward(svc.db, resident.user_id, now_iso(context))
    )
    await reply(
        update, join([*opening, ask_where(resident.language)]), location_keyboard(resident.language)
    )


async def tell_if_ward_lost(update: Update, context: Context) -> None:
    """Runs before every handler: a resident whose ward vanished in a boundary re-import is
    told once, at their next message, then finds a ward like anyone new."""
    if update.effective_user is None or update.effective_chat is None:
        return
    resident = await resident_of(update, context)
    if not resident.ward_lost:
        return
    remember_resident(
        context,
        await resident_store.clear_ward_lost(
            services(context).db, resident.user_id, now_iso(context)
        ),
    )
    await reply(
        update,
        t(
            resident.language,
            "Ward boundaries have been redrawn, and I couldn't tell which new ward you are in. "
            "Please tell me where you live again.",
        ),
    )


async def ward_command(update: Update, context: Context) -> None:
    """/ward: show the resident's ward, with a button to change it."""
    resident = await resident_of(update, context)
    ward = services(context).wards.ward(resident.ward_code) if resident.ward_code else None
    if ward is None:
        await begin_finding(update, context, resident)
        return
    language = resident.language
    how = How(resident.placed_by) if resident.placed_by in set(How) else None
    lines = [t(language, "📍 Your ward: {ward}", ward=ward_line(language, ward))]
    if how is not None:
        lines.append(t(language, "(I know this {how}.)", how=t(language, HOW_TEXT[how])))
    lines.append(t(language, "Ward code: {code}", code=ward.code))
    lines.append("")
    lines.append(
        t(
            language,
            "Your ward panel is a group of local residents who meet every few weeks and set "
            "the neighbourhood team's priorities. See them with /priorities.",
        )
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label(language, "See priorities"), callback_data=cb.PRIORITIES_SHOW.build()
                )
            ],
            [
                InlineKeyboardButton(
                    label(language, "Change my ward"), callback_data=cb.WARD_CHANGE.build()
                )
            ],
        ]
    )
    await reply(update, join(lines), markup)


async def change_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await answer(update)
    resident = await resident_of(update, context)
    await begin_finding(update, context, resident)


async def location_shared(update: Update, context: Context) -> None:
    """A shared location always means "this is where I am": find its ward."""
    message = update.effective_message
    assert message is not None and message.location is not None
    resident = await resident_of(update, context)
    answer = find_by_point(
        services(context).wards, message.location.latitude, message.location.longitude
    )
    await settle(update, context, resident, answer)


async def text_sent(update: Update, context: Context) -> None:
    """Typed text is a ward search while the resident is finding their ward."""
    message = update.effective_message
    assert message is not None
    resident = await resident_of(update, context)
    language = resident.language
    if not resident.finding_ward and resident.ward_code is not None:
        await reply(
            update,
            join(
                [
                    t(language, "To change your ward, send /ward."),
                    t(language, "To see what your ward panel is working on, send /priorities."),
                    t(language, "Everything I can do: /help"),
                ]
            ),
        )
        return
    svc = services(context)
    await message.chat.send_action("typing")
    answer = await find_by_text(svc.wards, svc.geocoders, message.text or "")
    await settle(update, context, resident, answer)


async def ward_picked(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.WARD_PICK.parse(query.data)
    resident = await resident_of(update, context)
    language = resident.language
    ward = services(context).wards.ward(parsed["code"]) if parsed else None
    if ward is None:
        await answer(
            update, label(language, "That ward is no longer on the list. Please search again.")
        )
        return
    await answer(update)
    await edit_quietly(update, t(language, "✅ {ward}", ward=ward_line(language, ward)))
    await settle(update, context, resident, Found(ward, How.NAME))
