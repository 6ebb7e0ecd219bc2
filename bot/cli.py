"""The `wardvoice` command line: run the bot, import data, manage priorities."""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path

from telegram.error import InvalidToken, NetworkError

from bot import runtime
from bot.clock import SystemClock
from bot.config import ConfigError, Settings, load_settings
from bot.domain import imports, roles, stats
from bot.domain.categories import CATEGORIES
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.domain.finding import Choices, Found, find_by_text
from bot.domain.priorities import (
    PriorityRuleError,
    add_priority,
    record_action,
    retire_priority,
    reword_priority,
    ward_priorities,
)
from bot.geo.boundaries import BoundaryFileError
from bot.geo.geocoding import GeocoderConfigError, build_geocoders
from handlers.stats import render_stats
from storage import priorities as priority_store
from storage.db import Database, StorageError

CLI_USER = "cli"


def _progress(line: str) -> None:
    print(f"  … {line}", file=sys.stderr, flush=True)


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = await Database.open(settings.db_path)
    try:
        return await work(db)
    finally:
        await db.close()


async def _import_wards(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        print(f"Importing wards from {args.file} into {settings.db_path}", file=sys.stderr)
        result = await imports.import_wards(db, Path(args.file), SystemClock(), _progress)
        c = result.counts
        print(
            f"Imported {c.wards} wards in {c.boroughs} boroughs (20{result.year} boundaries): "
            f"{c.added} added, {c.updated} changed, {c.unchanged} unchanged, {c.retired} retired."
        )
        if result.merged_duplicates:
            print(f"Merged {result.merged_duplicates} features that shared a ward code.")
        print(
            f"Residents: {c.residents_kept} kept their ward, {c.residents_replaced} placed again "
            f"from the point they gave, {c.residents_to_ask} will be asked again."
        )
        print("Restart the bot to use the new boundaries.")
        return 0

    return await _with_db(settings, work)


async def _import_postcodes(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        print(f"Importing postcodes from {args.file} into {settings.db_path}", file=sys.stderr)
        c = await imports.import_postcodes(db, Path(args.file), _progress)
        print(
            f"Imported {c.imported} postcodes ({c.with_ward} with a ward code) from {c.rows} rows; "
            f"skipped {c.skipped_bad_postcode} with no valid postcode and {c.skipped_no_point} "
            "with no usable point."
        )
        return 0

    return await _with_db(settings, work)


async def _find_ward(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        directory = await WardDirectory.load(db)
        geocoders = build_geocoders(settings.geocoder, db)
        try:
            answer = await find_by_text(directory, geocoders, " ".join(args.text))
        finally:
            await geocoders.aclose()
        if isinstance(answer, Found):
            ward = answer.ward
            print(f"{ward.code}\t{ward.name}\t{ward.borough_name}\t(by {answer.how.value})")
            return 0
        if isinstance(answer, Choices):
            for ward in answer.wards:
                print(f"{ward.code}\t{ward.name}\t{ward.borough_name}")
            return 0
        print(f"Not found: {answer.reason.value}", file=sys.stderr)
        return 1

    return await _with_db(settings, work)


async def _priorities(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        clock = SystemClock()
        if args.action == "list":
            rows = (
                await priority_store.all_for_ward(db, args.ward)
                if args.all
                else [v.priority for v in await ward_priorities(db, args.ward)]
            )
            if not rows:
                print(f"No priorities for {args.ward}.")
            for p in rows:
                state = f"retired {p.retired_at[:10]}" if p.retired_at else "active"
                print(f"{p.id}\t{p.category}\t{p.title}\tsince {p.set_at[:10]}\t{state}")
            return 0
        if args.action == "add":
            directory = await WardDirectory.load(db)
            p = await add_priority(
                db,
                clock,
                directory,
                args.ward,
                args.title,
                args.category,
                args.description,
                by=CLI_USER,
            )
            print(f"Added priority {p.id} to {p.ward_code}: {p.title}")
        elif args.action == "reword":
            p = await reword_priority(db, clock, args.id, args.title, args.description, by=CLI_USER)
            print(f"Reworded priority {p.id}: {p.title}")
        elif args.action == "retire":
            p = await retire_priority(db, clock, args.id, by=CLI_USER)
            print(f"Retired priority {p.id}: {p.title}")
        elif args.action == "action":
            when = date.fromisoformat(args.date) if args.date else None
            o = await record_action(
                db,
                clock,
                args.id,
                args.we_did,
                you_said=args.you_said,
                action_date=when,
                by=CLI_USER,
            )
            print(f"Recorded action {o.id} on priority {args.id} ({o.action_date})")
        return 0

    return await _with_db(settings, work)


async def _roles(settings: Settings, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        clock = SystemClock()
        directory = await WardDirectory.load(db)
        if args.command == "grant":
            added = await roles.grant(db, clock, directory, args.user, args.scope or "", args.role)
            print(
                f"Granted {args.role} to {args.user}"
                + (f" for {args.scope}" if args.scope else "")
                + ("" if added else " (already held)")
            )
        elif args.command == "revoke":
            removed = await roles.revoke(db, clock, args.user, args.scope, args.role)
            print(f"Revoked {removed} role(s) of {args.user}")
        else:
            invite = await roles.create_invite(
                db,
                clock,
                directory,
                settings.admin_ids,
                by_user=None,
                scope=args.scope,
                role=roles.Role(args.role),
                days=args.days,
            )
            print(
                f"Invite code {invite.code}: {invite.role} for {invite.scope}, "
                f"valid until {invite.expires_at[:16].replace('T', ' ')} UTC, once."
            )
            print(f"The new {invite.role.replace('_', ' ')} sends the bot: /join {invite.code}")
        return 0

    return await _with_db(settings, work)


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    """The figures staff see in /stats, in the terminal (no role check: the shell is trusted)."""

    async def work(db: Database) -> int:
        directory = await WardDirectory.load(db)
        scope = stats.scope_of(directory, args.scope.upper())
        if scope is None:
            print(
                f"wardvoice: there is no ward or borough with the code {args.scope}",
                file=sys.stderr,
            )
            return 1
        figures = await stats.compute(db, SystemClock(), scope, settings.tz)
        text = re.sub(r"<[^>]+>", "", render_stats("en", figures))
        print(html.unescape(text))
        return 0

    return await _with_db(settings, work)


async def _poster(settings: Settings, args: argparse.Namespace) -> int:
    """A printable A4 poster of a ward with a QR code of its deep link (the shell is trusted)."""
    from bot import poster  # matplotlib and segno load only for this command

    async def work(db: Database) -> int:
        directory = await WardDirectory.load(db)
        ward = directory.ward(args.ward.strip().upper())
        if ward is None:
            print(f"wardvoice: there is no ward with the code {args.ward}", file=sys.stderr)
            return 1
        username = await poster.bot_username(settings)
        suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
        fmt = args.format or (suffix if suffix in poster.FORMATS else "pdf")
        out = Path(args.out or f"poster-{ward.code}.{fmt}")
        made = await poster.make_poster(
            db,
            SystemClock(),
            directory,
            ward.code,
            username=username,
            language=args.language,
            tz=settings.tz,
            fmt=fmt,
        )
        try:
            await asyncio.to_thread(out.write_bytes, made.content)
        except OSError as err:
            print(f"wardvoice: cannot write {out}: {err.strerror}", file=sys.stderr)
            return 1
        print(f"Wrote {out}: an A4 poster for {ward.name} ward ({ward.borough_name}).")
        print(f"Its QR code opens {made.link}")
        return 0

    return await _with_db(settings, work)


async def _export_site(settings: Settings, args: argparse.Namespace) -> int:
    """The public record of every ward in force as a static site (HTML, JSON, Atom, iCal)."""
    import time

    from bot.site import SiteExportError, export_site

    async def work(db: Database) -> int:
        started = time.perf_counter()
        out = Path(args.dir)
        try:
            result = await export_site(
                db,
                out,
                now=SystemClock().now(),
                tz=settings.tz,
                base_url=args.base_url or "",
                progress=_progress,
            )
        except SiteExportError as err:
            print(f"wardvoice: {err}", file=sys.stderr)
            return 1
        print(
            f"Wrote the public record of {result.wards} wards in {result.boroughs} boroughs "
            f"to {out} ({result.files} files) in {time.perf_counter() - started:.1f} s."
        )
        if result.removed:
            print(f"Removed {result.removed} folders of wards no longer in force.")
        print(f"Open {out / 'index.html'}, or copy the folder to any web host.")
        return 0

    return await _with_db(settings, work)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await runtime.run(settings)
    return 0


async def _try(settings: Settings, args: argparse.Namespace) -> int:
    from bot.try_chat import try_chat  # the stand-in server is only needed here

    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)  # the chat, not the bot's log
    return await try_chat(settings, demo=args.demo, admin=args.admin, language=args.language)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wardvoice", description="WardVoice: your ward panel, on Telegram."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (long polling)").set_defaults(handler=_run)

    p = sub.add_parser(
        "try", help="chat with the bot in this terminal: no Telegram account or token needed"
    )
    p.add_argument("--demo", action="store_true", help="use the demo wards even if wards exist")
    p.add_argument("--admin", action="store_true", help="be an admin, to try the staff tools")
    p.add_argument("--language", default="en", help="your Telegram language code (en, pl...)")
    p.set_defaults(handler=_try)

    p = sub.add_parser("import-wards", help="import ONS ward boundaries from a GeoJSON file")
    p.add_argument("file", help="GeoJSON with WDyyCD/WDyyNM/LADyyCD/LADyyNM properties")
    p.set_defaults(handler=_import_wards)

    p = sub.add_parser("import-postcodes", help="import an offline postcode table from a CSV file")
    p.add_argument("file", help="CSV with postcode, lat, lon (and a ward code column if any)")
    p.set_defaults(handler=_import_postcodes)

    p = sub.add_parser("find-ward", help="find a ward as the bot would (postcode, name, address)")
    p.add_argument("text", nargs="+")
    p.set_defaults(handler=_find_ward)

    p = sub.add_parser("priorities", help="manage a ward's priorities (3 to 5 active)")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("list", help="a ward's priorities")
    a.add_argument("ward", help="ward code, e.g. E05013806")
    a.add_argument("--all", action="store_true", help="include retired priorities")
    a = actions.add_parser("add", help="add a priority to a ward")
    a.add_argument("ward", help="ward code, e.g. E05013806")
    a.add_argument("--title", required=True)
    a.add_argument("--category", required=True, choices=sorted(CATEGORIES))
    a.add_argument("--description", default="")
    a = actions.add_parser("reword", help="change a priority's title or description")
    a.add_argument("id", type=int)
    a.add_argument("--title", required=True)
    a.add_argument("--description", default="")
    a = actions.add_parser("retire", help="retire a priority")
    a.add_argument("id", type=int)
    a = actions.add_parser("action", help='record what was done on a priority ("we did")')
    a.add_argument("id", type=int)
    a.add_argument("we_did", help="what was done")
    a.add_argument("--you-said", default="", help="what residents raised (default: the title)")
    a.add_argument("--date", help="when it was done, YYYY-MM-DD (default: today)")
    p.set_defaults(handler=_priorities)

    role_names = [r.value for r in roles.Role]
    p = sub.add_parser("grant", help="give a Telegram user a role for a ward (or admin)")
    p.add_argument("user", type=int, help="Telegram user id")
    p.add_argument("role", choices=[*role_names, "admin"])
    p.add_argument("scope", nargs="?", help="ward code (or borough code for youth); not for admin")
    p.set_defaults(handler=_roles)
    p = sub.add_parser("revoke", help="take a role away (all of a ward's roles if none is named)")
    p.add_argument("user", type=int, help="Telegram user id")
    p.add_argument("scope", nargs="?", help="ward code; omit with --role admin")
    p.add_argument("--role", choices=[*role_names, "admin"])
    p.set_defaults(handler=_roles)
    p = sub.add_parser("stats", help="the figures staff see, for a ward or a borough")
    p.add_argument("scope", help="ward code, or borough code for all its wards")
    p.set_defaults(handler=_stats)

    p = sub.add_parser("invite", help="make a one-time invite code for a role in a ward")
    p.add_argument("scope", help="ward code (or borough code for a youth panel)")
    p.add_argument("role", choices=role_names)
    p.add_argument("--days", type=int, default=roles.INVITE_DAYS, help="valid for this many days")
    p.set_defaults(handler=_roles)

    p = sub.add_parser("poster", help="a printable A4 poster of a ward with a QR code to the bot")
    p.add_argument("ward", help="ward code, e.g. E05013806")
    p.add_argument("--out", help="file to write (default: poster-WARD.pdf)")
    p.add_argument("--format", choices=["pdf", "png"], help="pdf (default) or png (300 dpi)")
    p.add_argument("--language", default="en", help="language of the poster (en, pl...)")
    p.set_defaults(handler=_poster)
    p = sub.add_parser("export-site", help="the public record as a static site, JSON and feeds")
    p.add_argument("dir", help="folder to write (new, empty, or an earlier export)")
    p.add_argument(
        "--base-url",
        help="where the site will be served, e.g. https://example.org/wards/ (for feed links)",
    )
    p.set_defaults(handler=_export_site)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # python-telegram-bot 22: durations as timedelta, without a deprecation warning per 429.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, bot token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return asyncio.run(args.handler(settings, args))
    except (
        ConfigError,
        StorageError,
        BoundaryFileError,
        imports.PostcodeFileError,
        GeocoderConfigError,
    ) as err:
        print(f"wardvoice: {err}", file=sys.stderr)
        return 1
    except (PriorityRuleError, RuleError) as err:
        print(f"wardvoice: {err}", file=sys.stderr)
        return 1
    except InvalidToken:
        print(
            "wardvoice: Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather",
            file=sys.stderr,
        )
        return 1
    except NetworkError as err:
        print(f"wardvoice: cannot reach the Telegram Bot API: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
