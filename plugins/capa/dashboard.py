"""The CAPA dashboard cards, in the viewer's scope: open CAPAs by age with overdue actions and
checks, and quality events by category this year with the median days to close a CAPA."""

from __future__ import annotations

from typing import Any

from core import bar_chart
from plugins.capa import trend


def capa_context(user: Any) -> dict[str, Any]:
    by_age = trend.open_capas_by_age(user)
    return {"by_age": bar_chart([row for row in by_age if row[1]]),
            "open_total": sum(n for _, n in by_age), "overdue": trend.overdue_work(user)}


SITES_SHOWN = 8  # the sites with the most events


def events_context(user: Any) -> dict[str, Any]:
    return {"by_category": bar_chart(trend.events_in_months(user, 12, "category")),
            "by_site": trend.events_in_months(user, 12, "site")[:SITES_SHOWN],
            "close_days": bar_chart(trend.median_days_to_close(user))}
