"""``zeroauth doctor --format sarif``: the reports as one SARIF 2.1.0 log for code scanning.

OASIS SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html): one
``run`` (§3.14) whose ``tool.driver`` (§3.18) lists one ``reportingDescriptor`` rule per
requirement ID the reports cite (§3.49: ``id``, the catalogue sentence as ``shortDescription``,
``helpUri`` the section of the specification or RFC it comes from, ``help`` naming the
``docs/requirements.md`` section), one ``artifact`` per diagnosed server URL (§3.24), and one
``result`` (§3.27) per warning or failure: ``ruleId``/``ruleIndex``, ``level`` (§3.27.10:
``error`` for a failure, ``warning`` or ``note`` for a warning), ``message.text``, and the
server URL as the ``physicalLocation.artifactLocation`` (§3.4). Passing and n/a checks are
not results; the rules still list every requirement checked.

``helpUri`` must be an absolute URI (§3.49.12), so it is the specification's link; the
repository-relative docs page is named in ``help`` and ``properties.docs``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from zeroauth import __version__
from zeroauth._catalog import GROUPS, Entry, lookup
from zeroauth.cli.doctor.model import Check, Report, Severity

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "docs_anchor", "render_sarif", "sarif_log"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_DOCS = "docs/requirements.md"
_TITLES = dict(GROUPS)
# a rule's defaultConfiguration.level (§3.50.3) by the catalogue level; anything else: note
_DEFAULT_LEVEL: dict[str, Severity] = {
    "MUST": "error",
    "MUST NOT": "error",
    "SHOULD": "warning",
    "SHOULD NOT": "warning",
}


def docs_anchor(entry: Entry | None) -> str:
    """``docs/requirements.md#mcp-server-resource-server``: the table that lists ``entry``."""
    if entry is None:
        return _DOCS
    title = _TITLES.get(entry.group, "")
    slug = "-".join("".join(c for c in title.lower() if c.isalnum() or c in " -").split())
    return f"{_DOCS}#{slug}" if slug else _DOCS


def _rule(id: str, title: str) -> dict[str, Any]:
    entry = lookup(id)
    docs = docs_anchor(entry)
    if entry is None:  # every printed ID is catalogued; kept total for safety
        return {
            "id": id,
            "shortDescription": {"text": title},
            "help": {"text": f"See {docs}."},
            "properties": {"docs": docs},
        }
    level = _DEFAULT_LEVEL.get(entry.level, "note")
    return {
        "id": entry.id,
        "shortDescription": {"text": entry.text},
        "fullDescription": {"text": f"{entry.level}: {entry.text} ({entry.source.label})"},
        "helpUri": entry.source.link,
        "help": {
            "text": f"{entry.text} Source: {entry.source.label}. Listed in {docs}.",
            "markdown": f"{entry.text}\n\nSource: [{entry.source.label}]({entry.source.link}). "
            f"Listed in `{docs}` (`zeroauth explain {entry.id}`).",
        },
        "defaultConfiguration": {"level": level},
        "properties": {"level": entry.level, "source": entry.source.label, "docs": docs},
    }


def _result(check: Check, rule_index: int, artifact_index: int, url: str) -> dict[str, Any]:
    text = check.message
    if check.fix:
        text += f". Fix: {check.fix}"
    return {
        "ruleId": check.id,
        "ruleIndex": rule_index,
        "level": check.severity,
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": url, "index": artifact_index}},
                "message": {"text": check.section or url},
            }
        ],
        "partialFingerprints": {"zeroauthCheck/v1": f"{url}#{check.check_id}"},
        "properties": {
            key: value
            for key, value in (
                ("check", check.check_id),
                ("status", check.status),
                ("expected", check.expected),
                ("where", check.where),
            )
            if value is not None
        },
    }


def sarif_log(reports: Sequence[Report]) -> dict[str, Any]:
    """The SARIF log of ``reports`` (one run, one artifact per URL) as a JSON-ready mapping."""
    rule_ids: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    artifacts = [{"location": {"uri": report.url}} for report in reports]
    for artifact_index, report in enumerate(reports):
        for check in report.checks:
            if check.id not in rule_ids:
                rule_ids[check.id] = len(rules)
                rules.append(_rule(check.id, check.title))
            if check.status in ("warn", "fail"):
                results.append(_result(check, rule_ids[check.id], artifact_index, report.url))
    driver = {
        "name": "zeroauth doctor",
        "version": __version__,
        "rules": rules,
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": driver},
                "artifacts": artifacts,
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def render_sarif(reports: Sequence[Report]) -> str:
    return json.dumps(sarif_log(reports), indent=2, ensure_ascii=False)
