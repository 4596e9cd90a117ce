"""`graft gate --base REV [--head REV | --working-tree]`: fail on regressions and broken bounds.

Exit 0 when every check passes, 1 (a check that failed) otherwise; the result is printed
either way (``--format json``: schemas/gate.json).
"""

from __future__ import annotations

import argparse
from typing import Any

from graft import api
from graft.cli.common import Ui, add_base, add_format, add_offline
from graft.core.errors import CheckFailed
from graft.core.texttable import align_rows


def register(parser: argparse.ArgumentParser) -> None:
    add_base(parser, "to compare against", required=True)
    head = parser.add_mutually_exclusive_group()
    head.add_argument("--head", default="HEAD", metavar="REV", help="revision under test (default: HEAD)")
    head.add_argument(
        "--working-tree",
        action="store_true",
        help="use the checkout's metrics and params instead of a commit (e.g. right after dvc repro)",
    )
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _limit(c: Any) -> str:
    if c.kind == "regression":
        return f"{c.direction}, tol {c.tolerance:.6g}"
    sides = (("min", c.bound.min if c.bound else None), ("max", c.bound.max if c.bound else None))
    return ", ".join(f"{side} {v:.6g}" for side, v in sides if v is not None)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.compare.gate import check_verdict, describe_failure

    report = api.gate(args.base, head=args.head, working_tree=args.working_tree, cwd=ui.root)
    if ui.json_mode:
        from graft.compare.gate import GateResult

        ui.json(GateResult.of(report))
    else:
        head = report.head if report.head_sha is None else f"{report.head} ({report.head_sha[:8]})"
        where = f"head {head} vs base {report.base} ({report.base_sha[:8]})"
        if report.passed:
            ui.out(f"gate passed: {where}")
            rows = [["metric", "check", "base", "head", "result", "verdict"]]
            rows += [
                [c.metric, _limit(c), _fmt(c.base), _fmt(c.head), c.detail, check_verdict(c).label or "-"]
                for c in report.checks
            ]
            for line in align_rows(rows):
                ui.out(f"  {line}")
        else:
            ui.out(f"gate FAILED: {where}")
            for check in report.failures:
                ui.out(f"  FAIL {describe_failure(check)}")
    if not report.passed:
        names = ", ".join(dict.fromkeys(c.metric for c in report.failures))
        raise CheckFailed(f"gate failed: {len(report.failures)} check(s) ({names})")
    return 0
