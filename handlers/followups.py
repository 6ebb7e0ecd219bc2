""" "Did this make a difference?" ratings (1-5) from the scheduled follow-up.

Only someone the follow-up was sent to can rate that concern: a forged or forwarded
button is refused. Pressing another number later changes the rating.
"""

from __future__ import annotations

from telegram import Update

from bot.domain import followups
from bot.domain.errors import RuleError
from bot.i18n import label, t
from handlers import callback_data as cb
from handlers.common import Context, answer, edit_quietly, refuse, resident_of, services


async def rating_pressed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    parsed = cb.RATE.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    svc = services(context)
    score = int(parsed["score"])
    try:
        await followups.rate(svc.db, svc.clock, int(parsed["id"]), resident.user_id, score)
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await answer(update, label(resident.language, "Thank you."))
    await edit_quietly(
        update,
        t(
            resident.language,
            "Thank you: you rated it {score} out of 5. It helps the panel see what works. "
            "(Tap again to change it.)",
            score=score,
        ),
        query.message.reply_markup if query.message is not None else None,  # type: ignore[union-attr]
    )
