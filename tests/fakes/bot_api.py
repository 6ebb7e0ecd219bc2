"""Moved to `bot/standin/bot_api.py` (`wardvoice try` uses it too); this name stays for the tests.

The module object itself is aliased, so monkeypatching either name patches both.
"""

import sys

from bot.standin import bot_api as _moved

sys.modules[__name__] = _moved
