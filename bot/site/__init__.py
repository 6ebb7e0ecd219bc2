"""The public record as a static site: `wardvoice export-site DIR` (see `bot.site.export`)."""

from bot.site.export import ExportResult, SiteExportError, export_site

__all__ = ["ExportResult", "SiteExportError", "export_site"]
