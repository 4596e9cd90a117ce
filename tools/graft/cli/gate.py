"""`graft gate --base REV [--head REV | --working-tree]`: fail on regressions and broken bounds."""

from __future__ import annotations

import argparse

from graft import api
from graft.core.texttable import align_rows


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, metavar="REV", help="revision to compare against")
    head = parser.add_mutually_exclusive_group()
    head.add_argument("--head", default="HEAD", metavar="REV", help="revision under test (default: HEAD)")
    head.add_argument(
        "--working-tree",
        action="store_true",
        help="use the checkout's metrics/metrics.json and params.yaml instead of a commit",
    )
    parser.set_defaults(handler=run)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def run(args: argparse.Namespace) -> int:
    from graft.compare.gate import describe_failure

    report = api.gate(args.base, head=args.head, working_tree=args.working_tree)
    head = report.head if report.head_sha is None else f"{report.head} ({report.head_sha[:8]})"
    where = f"head {head} vs base {report.base} ({report.base_sha[:8]})"
    if not report.passed:
        print(f"gate FAILED: {where}")
        for check in report.failures:
            print(f"  FAIL {describe_failure(check)}")
        return 1
    print(f"gate passed: {where}")
    rows = [["metric", "check", "base", "head", "result"]]
    for c in report.checks:
        limit = (
            f"{c.direction}, tol {c.tolerance:.6g}"
            if c.kind == "regression"
            else ", ".join(
                f"{side} {v:.6g}"
                for side, v in (
                    ("min", c.bound.min if c.bound else None),
                    ("max", c.bound.max if c.bound else None),
                )
                if v is not None
            )
        )
        rows.append([c.metric, limit, _fmt(c.base), _fmt(c.head), c.detail])
    for line in align_rows(rows):
        print(f"  {line}")
    return 0
