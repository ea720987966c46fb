"""GA4 report rows -> ReportRow. api.py turns runReport's positional row (`dimensionValues`, `metricValues`, in the
order of the answer's `dimensionHeaders` / `metricHeaders`) into `{"id", "report", "property_id", "dimensions": {name:
value}, "metrics": {name: number}}`; a `date` dimension (GA4's YYYYMMDD) becomes the row's date (YYYY-MM-DD).
Metric values arrive as strings (TYPE_INTEGER, TYPE_FLOAT, TYPE_CURRENCY ...): numbers here. Rows carry no
modification time: the sync keys each state by a hash of the row (an unchanged row publishes nothing)."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, opt_text, text
from events.entities_ads import ReportRow

DATE_DIMENSION = "date"


def iso_date(value: str) -> str:
    """GA4's 20260131 as 2026-01-31 (a value already in ISO form stays)."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 and value.isdigit() else value


def row_id(report: str, dimensions: dict[str, str]) -> str:
    """The report's name and the row's dimension values: the same row of a later run replaces it."""
    return ":".join([report, *(dimensions[name] for name in dimensions)])


def report_row(obj: dict[str, Any]) -> ReportRow:
    dimensions = {str(k): text(v) for k, v in obj["dimensions"].items()}
    return ReportRow(
        report=text(obj.get("report")),
        property_id=text(obj.get("property_id")),
        date=opt_text(dimensions.get(DATE_DIMENSION)),
        dimensions=dimensions,
        metrics={str(k): float(v) for k, v in obj["metrics"].items()},
    )


def upsert_row(out: EventBuilder, obj: dict[str, Any]) -> None:
    out.upsert("report_row", obj["id"], None, report_row(obj))


MAPPERS = {"report_row": upsert_row}
