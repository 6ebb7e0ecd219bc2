"""Moved to `bot/standin/demo_wards.py` (`wardvoice try` uses it too); kept for the tests.

The module object itself is aliased, so monkeypatching either name patches both.
"""

import sys

from bot.standin import demo_wards as _moved

sys.modules[__name__] = _moved
