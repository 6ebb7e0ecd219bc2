"""The command menu residents see in Telegram, in every language we have a catalog for."""

from __future__ import annotations

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats

from bot.i18n import DEFAULT_LANGUAGE, N_, available_languages, label

RESIDENT_COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Start, or find your ward")),
    ("ward", N_("Your ward, or change it")),
    ("priorities", N_("What your ward panel is working on")),
    ("concern", N_("Raise a concern")),
    ("myconcerns", N_("Your concerns and their answers")),
    ("meetings", N_("When and where your ward panel meets")),
    ("vote", N_("Vote on what your ward panel talks about")),
    ("updates", N_("Hear what your ward panel does: at once, weekly, or not")),
    ("language", N_("Choose the language I write in")),
    ("privacy", N_("What we keep about you, and why")),
    ("mydata", N_("Everything we keep about you, as a file")),
    ("forget", N_("Erase what we keep about you")),
    ("help", N_("What this bot can do")),
]


def resident_commands(language: str) -> list[BotCommand]:
    return [BotCommand(name, label(language, text)) for name, text in RESIDENT_COMMANDS]


async def set_commands(bot: Bot) -> None:
    """setMyCommands for private chats: the default list, then one per catalog language."""
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(resident_commands(DEFAULT_LANGUAGE), scope=scope)
    for language in available_languages():
        if language != DEFAULT_LANGUAGE:
            await bot.set_my_commands(
                resident_commands(language), scope=scope, language_code=language
            )
