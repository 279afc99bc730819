"""The isolation probe's options, levels, error mapping, matrix section and findings (pure)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dbprobe.database.url import Backend
from dbprobe.errors import ConfigError, ErrorClass
from dbprobe.probes.isolation.hermitage import select_tests
from dbprobe.probes.isolation.matrix import IsolationSection, matrix_findings
from dbprobe.probes.isolation.probe import LEVELS, IsolationOptions, levels_for, step_status
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy, StepStatus, Verdict
from dbprobe.report.section_views import read_section
from dbprobe.report.sections_console import format_section_views
from dbprobe.result.findings import Severity

# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"levels": ("snapshot",)}, "unknown level 'snapshot' in --level: choose from"),
        ({"tests": ("G3",)}, "unknown test 'G3' in --test: choose from G0, G1a"),
        ({"sqlite_busy_timeout_ms": 0}, "--busy-timeout-ms must be between 1 and 60000, got 0"),
        ({"lock_wait_limit_s": 0.0}, "--lock-wait-limit must be above 0 and at most 600 s"),
        (
            {"sqlite_busy_timeout_ms": 2000, "lock_wait_limit_s": 1.0},
            "--busy-timeout-ms 2000 must be shorter than --lock-wait-limit 1 s",
        ),
    ],
)
def test_bad_option_values_raise_config_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IsolationOptions(**kwargs)  # type: ignore[arg-type]


def test_levels_are_postgres_isolation_levels_and_sqlite_begin_modes_in_fixed_order() -> None:
    assert [lv.name for lv in levels_for(Backend.POSTGRESQL, ())] == [
        "read_committed",
        "repeatable_read",
        "serializable",
    ]
    assert [lv.name for lv in levels_for(Backend.SQLITE, ())] == ["deferred", "immediate"]
    chosen = levels_for(Backend.POSTGRESQL, ("serializable", "read_committed"))
    assert [lv.name for lv in chosen] == ["read_committed", "serializable"]


def test_a_level_of_the_other_backend_is_refused_naming_what_is_offered() -> None:
    with pytest.raises(ConfigError, match="'deferred' is not available on postgresql: postgresql"):
        levels_for(Backend.POSTGRESQL, ("deferred",))
    with pytest.raises(ConfigError, match="sqlite offers deferred, immediate"):
        levels_for(Backend.SQLITE, ("repeatable_read",))


def test_failed_steps_map_to_what_they_mean_for_the_verdict() -> None:
    assert step_status(ErrorClass.SERIALIZATION, Backend.POSTGRESQL) is StepStatus.SERIALIZATION
    assert step_status(ErrorClass.SERIALIZATION, Backend.SQLITE) is StepStatus.SERIALIZATION
    assert step_status(ErrorClass.DEADLOCK, Backend.POSTGRESQL) is StepStatus.DEADLOCK
    # SQLITE_BUSY is SQLite refusing a second writer; 55P03 is the probe's own limit firing.
    assert step_status(ErrorClass.LOCK_TIMEOUT, Backend.SQLITE) is StepStatus.BUSY
    assert step_status(ErrorClass.LOCK_TIMEOUT, Backend.POSTGRESQL) is StepStatus.FAILED
    assert step_status(ErrorClass.CONNECTION, Backend.POSTGRESQL) is StepStatus.FAILED


# --------------------------------------------------------------------------- the section


def _section() -> IsolationSection:
    allowed = Verdict(
        Outcome.ALLOWED, "both committed 10 + 1", step=7, observations={"final": "1 => 11"}
    )
    aborted = Verdict(Outcome.PREVENTED, "T2 was aborted", PreventedBy.ABORT, step=4)
    error = Verdict(Outcome.ERROR, "T2 failed at step 2", step=2)
    clean = Verdict(Outcome.PREVENTED, "no read showed the anomaly", PreventedBy.VISIBILITY)
    return IsolationSection(
        backend="postgresql",
        levels=LEVELS[Backend.POSTGRESQL][:2],
        tests=select_tests(["G1a", "P4"]),
        verdicts={
            "read_committed": {"G1a": clean, "P4": allowed},
            "repeatable_read": {"G1a": error, "P4": aborted},
        },
    )


def test_section_json_holds_the_matrix_notes_and_means_of_prevention() -> None:
    data = _section().to_json()
    assert _section().name == "isolation"
    assert data["matrix"] == {
        "read_committed": {"G1a": "prevented", "P4": "allowed"},
        "repeatable_read": {"G1a": "error: T2 failed at step 2", "P4": "prevented"},
    }
    assert data["notes"]["read_committed"]["P4"] == "both committed 10 + 1"
    assert data["prevented_by"] == {
        "read_committed": {"G1a": "visibility"},
        "repeatable_read": {"P4": "abort"},
    }
    assert data["observations"]["read_committed"]["P4"] == {"final": "1 => 11"}
    assert [t["name"] for t in data["tests"]] == ["G1a", "P4"]
    assert [lv["name"] for lv in data["levels"]] == ["read_committed", "repeatable_read"]


def test_section_renders_a_table_with_tests_as_rows_and_levels_as_columns() -> None:
    # As the report renders it: from the section's JSON.
    console = Console(record=True, width=200, file=io.StringIO())
    section = _section()
    console.print(*format_section_views([read_section(section.name, section.to_json())]))
    out = console.export_text()
    header = next(line for line in out.splitlines() if "read_committed" in line)
    assert header.index("test") < header.index("read_committed") < header.index("repeatable_read")
    p4_row = next(line for line in out.splitlines() if line.startswith("│ P4"))
    assert "allowed" in p4_row
    assert "prevented (abort)" in p4_row
    assert "repeatable_read G1a: T2 failed at step 2" in out


def test_one_info_anomaly_finding_per_allowed_cell_and_a_warning_per_error() -> None:
    findings = matrix_findings(_section())
    assert [(f.kind, f.severity, f.operation) for f in findings] == [
        ("anomaly", Severity.INFO, "P4"),
        ("isolation_test_error", Severity.WARNING, "G1a"),
    ]
    anomaly = findings[0]
    assert anomaly.message == "read_committed allows P4 (Lost Update): both committed 10 + 1"
    assert anomaly.evidence.level == "read_committed"
    assert anomaly.evidence.observations == {"final": "1 => 11"}
