"""Telegram update handlers, one module per conversation area; `register` wires them."""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import (
    broadcast,
    concerns,
    fallbacks,
    followups,
    language,
    meetings,
    myconcerns,
    poster,
    priorities,
    privacy,
    review,
    staff,
    start,
    stats,
    updates,
    vote_setup,
    votes,
    wards,
)
from handlers import callback_data as cb
from handlers.errors import error_handler

PRIVATE = filters.ChatType.PRIVATE


def register(application: Application) -> None:  # type: ignore[type-arg]
    """All handlers, in the order they are tried (first match wins within a group)."""
    add = application.add_handler
    add(MessageHandler(PRIVATE & ~filters.UpdateType.EDITED, wards.tell_if_ward_lost), group=-1)
    add(MessageHandler(PRIVATE & filters.UpdateType.EDITED, fallbacks.edited_message))
    add(concerns.conversation())
    add(CommandHandler("start", start.start_command, filters=PRIVATE))
    add(CommandHandler("help", start.help_command, filters=PRIVATE))
    add(CommandHandler("language", language.language_command, filters=PRIVATE))
    add(CommandHandler("ward", wards.ward_command, filters=PRIVATE))
    add(CommandHandler("priorities", priorities.priorities_command, filters=PRIVATE))
    add(CommandHandler("myconcerns", myconcerns.my_concerns_command, filters=PRIVATE))
    add(CommandHandler("cancel", fallbacks.nothing_to_cancel, filters=PRIVATE))
    add(CommandHandler("join", staff.join_command, filters=PRIVATE))
    add(CommandHandler("panel", staff.panel_command, filters=PRIVATE))
    add(CommandHandler("addpriority", staff.add_priority_command, filters=PRIVATE))
    add(CommandHandler("reword", staff.reword_command, filters=PRIVATE))
    add(CommandHandler("invite", staff.invite_command, filters=PRIVATE))
    add(CommandHandler("meetings", meetings.meetings_command, filters=PRIVATE))
    add(CommandHandler("meeting", meetings.meeting_command, filters=PRIVATE))
    add(CommandHandler("cancelmeeting", meetings.cancel_meeting_command, filters=PRIVATE))
    add(CommandHandler("stats", stats.stats_command, filters=PRIVATE))
    add(CommandHandler("export", stats.export_command, filters=PRIVATE))
    add(CommandHandler("poster", poster.poster_command, filters=PRIVATE))
    add(CommandHandler("respond", review.respond_command, filters=PRIVATE))
    add(CommandHandler("template", review.template_command, filters=PRIVATE))
    add(CommandHandler("wedid", review.we_did_command, filters=PRIVATE))
    add(CommandHandler("privacy", privacy.privacy_command, filters=PRIVATE))
    add(CommandHandler("mydata", privacy.my_data_command, filters=PRIVATE))
    add(CommandHandler("forget", privacy.forget_command, filters=PRIVATE))
    add(CommandHandler("updates", updates.updates_command, filters=PRIVATE))
    add(CommandHandler("broadcast", broadcast.broadcast_command, filters=PRIVATE))
    add(CommandHandler("vote", votes.vote_command, filters=PRIVATE))
    add(CommandHandler("newvote", vote_setup.new_vote_command, filters=PRIVATE))
    add(ChatMemberHandler(updates.member_changed, ChatMemberHandler.MY_CHAT_MEMBER))

    # First, refuse every button press whose data matches none of our formats. It must come
    # before the others: python-telegram-bot hands a press with empty data to the first
    # CallbackQueryHandler whatever its pattern.
    add(CallbackQueryHandler(fallbacks.stale_button, pattern=cb.is_unknown))
    add(CallbackQueryHandler(wards.ward_picked, pattern=cb.WARD_PICK.pattern))
    add(CallbackQueryHandler(wards.change_pressed, pattern=cb.WARD_CHANGE.pattern))
    add(CallbackQueryHandler(priorities.priorities_pressed, pattern=cb.PRIORITIES_SHOW.pattern))
    add(CallbackQueryHandler(myconcerns.page_pressed, pattern=cb.MY_CONCERNS_PAGE.pattern))
    add(CallbackQueryHandler(myconcerns.open_pressed, pattern=cb.MY_CONCERN_OPEN.pattern))
    add(CallbackQueryHandler(staff.ward_chosen, pattern=cb.STAFF_WARD.pattern))
    add(CallbackQueryHandler(staff.switch_pressed, pattern=cb.STAFF_SWITCH.pattern))
    add(CallbackQueryHandler(staff.priorities_pressed, pattern=cb.STAFF_PRIORITIES.pattern))
    add(CallbackQueryHandler(staff.retire_pressed, pattern=cb.STAFF_RETIRE.pattern))
    add(CallbackQueryHandler(meetings.staff_meetings_pressed, pattern=cb.STAFF_MEETINGS.pattern))
    add(CallbackQueryHandler(meetings.cancel_pressed, pattern=cb.MEETING_CANCEL.pattern))
    add(CallbackQueryHandler(stats.stats_pressed, pattern=cb.STATS_SHOW.pattern))
    add(CallbackQueryHandler(review.queue_pressed, pattern=cb.STAFF_CONCERNS.pattern))
    add(CallbackQueryHandler(review.category_pressed, pattern=cb.STAFF_CATEGORY.pattern))
    add(CallbackQueryHandler(review.concern_pressed, pattern=cb.STAFF_CONCERN.pattern))
    add(CallbackQueryHandler(review.status_pressed, pattern=cb.STAFF_STATUS.pattern))
    add(CallbackQueryHandler(review.template_pressed, pattern=cb.STAFF_TEMPLATE.pattern))
    add(CallbackQueryHandler(review.link_pressed, pattern=cb.STAFF_LINK.pattern))
    add(CallbackQueryHandler(review.hide_pressed, pattern=cb.STAFF_HIDE.pattern))
    add(CallbackQueryHandler(review.block_pressed, pattern=cb.STAFF_BLOCK.pattern))
    add(CallbackQueryHandler(updates.choice_pressed, pattern=cb.UPDATES_SET.pattern))
    add(CallbackQueryHandler(broadcast.send_pressed, pattern=cb.BROADCAST_SEND.pattern))
    add(CallbackQueryHandler(broadcast.cancel_pressed, pattern=cb.BROADCAST_CANCEL.pattern))
    add(CallbackQueryHandler(privacy.forget_pressed, pattern=cb.FORGET_CONFIRM.pattern))
    add(CallbackQueryHandler(privacy.keep_pressed, pattern=cb.FORGET_KEEP.pattern))
    add(CallbackQueryHandler(followups.rating_pressed, pattern=cb.RATE.pattern))
    add(CallbackQueryHandler(language.language_pressed, pattern=cb.LANGUAGE_SET.pattern))
    add(CallbackQueryHandler(votes.pick_pressed, pattern=cb.VOTE_PICK.pattern))
    add(CallbackQueryHandler(vote_setup.setting_pressed, pattern=cb.VOTE_SET.pattern))
    add(CallbackQueryHandler(vote_setup.open_pressed, pattern=cb.VOTE_OPEN.pattern))
    add(CallbackQueryHandler(vote_setup.discard_pressed, pattern=cb.VOTE_DISCARD.pattern))
    add(CallbackQueryHandler(vote_setup.draft_pressed, pattern=cb.VOTE_DRAFT.pattern))
    add(CallbackQueryHandler(vote_setup.close_asked, pattern=cb.VOTE_CLOSE_ASK.pattern))
    add(CallbackQueryHandler(vote_setup.close_pressed, pattern=cb.VOTE_CLOSE.pattern))
    add(CallbackQueryHandler(vote_setup.chart_pressed, pattern=cb.VOTE_CHART.pattern))
    add(CallbackQueryHandler(vote_setup.staff_votes_pressed, pattern=cb.STAFF_VOTES.pattern))
    add(CallbackQueryHandler(concerns.late_button, pattern=cb.is_concern_button))
    # Our own format, but not for now (a concern button after that concern ended).
    add(CallbackQueryHandler(fallbacks.stale_button))

    add(MessageHandler(PRIVATE & filters.LOCATION, wards.location_shared))
    add(MessageHandler(PRIVATE & filters.COMMAND, fallbacks.unknown_command))
    add(MessageHandler(PRIVATE & filters.TEXT, wards.text_sent))
    add(MessageHandler(PRIVATE & filters.UpdateType.MESSAGE, fallbacks.unsupported_message))
    add(MessageHandler(filters.ChatType.GROUPS & filters.COMMAND, fallbacks.group_message))

    application.add_error_handler(error_handler)
