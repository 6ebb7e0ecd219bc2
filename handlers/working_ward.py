"""Which ward a staff member's typed command is about, when the command does not say.

The ward chosen in /panel (kept in `staff_focus`), else their only staff ward, else the
ward they live in. This only picks a ward: whether they may act on it is `authorise`'s
answer, every time.
"""

from __future__ import annotations

from bot.domain import roles
from handlers.common import Context, services
from storage import roles as role_store
from storage.residents import Resident


async def working_ward(context: Context, resident: Resident) -> str:
    """The ward code to act on; "" when there is none (which `authorise` refuses)."""
    svc = services(context)
    focus = await role_store.focus(svc.db, resident.user_id)
    if focus is not None:
        return focus
    staff = await roles.staff_of(svc.db, svc.settings.admin_ids, resident.user_id)
    if len(staff.staff_wards) == 1:
        return staff.staff_wards[0]
    return resident.ward_code or ""
