"""An evaluation comparison as a plain-text table (terminal, Slack code block) and as JSON (``--json``, CI)."""

from __future__ import annotations

from typing import Any

from agents.evaluation.runs import Comparison

MAX_LISTED_DIFFERENCES = 20


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("pass" if passed else "FAIL")


def comparison_table(comparison: Comparison) -> str:
    candidate, live = comparison.candidate, comparison.live
    lines = [
        f"{candidate.prompt_name} v{candidate.prompt_version} (candidate) against v{live.prompt_version} (live) "
        f"on set {candidate.set_name}: {len(candidate.results)} cases, model {candidate.model}",
        f"{'grader':<16} {'candidate':>9} {'live':>9} {'change':>8}",
    ]
    for name in sorted(set(candidate.rates) | set(live.rates)):
        new, old = candidate.rates.get(name), live.rates.get(name)
        change = f"{new - old:+.3f}" if new is not None and old is not None else ""
        shown_new = f"{new:.3f}" if new is not None else "n/a"
        shown_old = f"{old:.3f}" if old is not None else "n/a"
        lines.append(f"{name:<16} {shown_new:>9} {shown_old:>9} {change:>8}")
    for label, report in (("candidate", candidate), ("live", live)):
        lines.append(
            f"{label:<9} tokens {report.input_tokens} in / {report.output_tokens} out; latency per case "
            f"p50 {report.latency_percentile(0.5):.0f} ms, p95 {report.latency_percentile(0.95):.0f} ms; "
            f"run #{report.run_id} took {report.wall_seconds:.1f} s"
        )
    if comparison.differences:
        lines.append(f"Cases judged differently ({len(comparison.differences)}):")
        for difference in comparison.differences[:MAX_LISTED_DIFFERENCES]:
            lines.append(
                f"  {difference.grader}: {_verdict(difference.before)} -> {_verdict(difference.after)} "
                f"[{difference.key}] {difference.question[:80]}"
            )
        if len(comparison.differences) > MAX_LISTED_DIFFERENCES:
            lines.append(f"  ... and {len(comparison.differences) - MAX_LISTED_DIFFERENCES} more")
    if comparison.passed:
        lines.append(f"PASSED: no grader dropped by more than {comparison.threshold:.3f}")
    else:
        dropped = ", ".join(f"{name} by {drop:.3f}" for name, drop in comparison.regressions.items())
        lines.append(f"FAILED: worse than the live version beyond the threshold {comparison.threshold:.3f}: {dropped}")
    return "\n".join(lines)


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """``candidate`` and ``live`` map grader name to pass rate (the contract); the rest is detail."""
    candidate, live = comparison.candidate, comparison.live
    return {
        "candidate": candidate.rates,
        "live": live.rates,
        "passed": comparison.passed,
        "threshold": comparison.threshold,
        "regressions": comparison.regressions,
        "set": candidate.set_name,
        "prompt": candidate.prompt_name,
        "candidate_version": candidate.prompt_version,
        "live_version": live.prompt_version,
        "cases": len(candidate.results),
        "runs": {
            label: {
                "run_id": report.run_id,
                "input_tokens": report.input_tokens,
                "output_tokens": report.output_tokens,
                "latency_ms_p50": report.latency_percentile(0.5),
                "latency_ms_p95": report.latency_percentile(0.95),
                "wall_seconds": report.wall_seconds,
            }
            for label, report in (("candidate", candidate), ("live", live))
        },
        "differences": [difference.model_dump() for difference in comparison.differences],
    }
