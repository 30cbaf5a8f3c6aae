"""``zeroauth doctor``: diagnose an MCP server's authorization, requirement by requirement.

``diagnose(url, DoctorOptions(...))`` walks the discovery chain like a spec-compliant client
(``run``), over a safe fetcher (``fetch``), turning what it learned (``facts``) into checks
(``checks_*``: pure functions), rendered as tables or JSON (``render``).
"""

from zeroauth.cli.doctor.fetch import Fetched, Fetcher
from zeroauth.cli.doctor.model import Check, Report
from zeroauth.cli.doctor.run import DoctorOptions, diagnose

__all__ = ["Check", "DoctorOptions", "Fetched", "Fetcher", "Report", "diagnose"]
