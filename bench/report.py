"""What a section hands back, and the two files a run writes: results.json and results.md."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of a section's table: what was measured, its value, and how it compares."""

    measure: str
    value: str
    versus: str = ""


@dataclass
class Section:
    name: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)  # everything measured, for results.json
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: dict[str, bool] = field(default_factory=dict)  # "(a) >= 5x faster than (c)": met?
    seconds: float = 0.0
    error: str = ""

    def row(self, measure: str, value: str, versus: str = "") -> None:
        self.rows.append(Row(measure, value, versus))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "wall_seconds": round(self.seconds, 1), **self.figures}
        if self.targets:
            out["targets"] = self.targets
        if self.notes:
            out["notes"] = self.notes
        if self.error:
            out["error"] = self.error
        return out


def write_json(path: Path, header: dict[str, Any], sections: list[Section]) -> None:
    body = {**header, "sections": {s.name: s.as_dict() for s in sections}}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def markdown(header: dict[str, Any], sections: list[Section]) -> str:
    machine = header["machine"]
    lines = [
        f"# Benchmarks ({'quick' if header['quick'] else 'full'} run, {header['date']})",
        "",
        (
            f"Machine: {machine['cpu_count']} CPUs ({machine['cpu']}), torch {machine['torch']} with "
            f"{machine['torch_threads']} threads (OMP_WAIT_POLICY={machine['omp_wait_policy'] or 'unset'}), "
            f"Python {machine['python']}; load average {machine['load_before']} "
            f"before, {machine['load_after']} after; {header['seconds']:.0f} s in all."
        ),
        "Every ratio compares two things measured in the same run; absolute times move with the machine's load.",
    ]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.error:
            lines.append(f"**Failed:** {section.error}")
            continue
        lines += ["| measure | value | versus |", "|---|---|---|"]
        lines += [f"| {r.measure} | {r.value} | {r.versus} |" for r in section.rows]
        after = [f"Target {target}: **{'met' if met else 'NOT met'}**" for target, met in section.targets.items()]
        after += section.notes
        if after:
            lines += [""] + [f"- {line}" for line in after]
    return "\n".join(lines) + "\n"
