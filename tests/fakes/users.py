"""Moved to `bot/standin/users.py` (`wardvoice try` uses it too); this name stays for the tests.

The module object itself is aliased, so monkeypatching either name patches both.
"""

import sys

from bot.standin import users as _moved

sys.modules[__name__] = _moved
