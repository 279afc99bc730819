"""Probe results: the typed model, its JSON form, and the console rendering."""

from dbprobe.result.model import (
    Finding,
    OperationReport,
    QueryCounts,
    Report,
    Resources,
    RunInfo,
    Severity,
    TargetInfo,
    ToolInfo,
)

__all__ = [
    "Finding",
    "OperationReport",
    "QueryCounts",
    "Report",
    "Resources",
    "RunInfo",
    "Severity",
    "TargetInfo",
    "ToolInfo",
]
