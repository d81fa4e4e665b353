"""Forecast a series from a CSV with the shipped zero-shot forecaster: no training.

    python examples/forecast_csv.py my.csv   # a CSV with a date column and a value column
    python examples/forecast_csv.py --smoke  # writes a 48-month CSV of its own first (CI)
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from genzoo.cli import main as genzoo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", nargs="?", type=Path)
    p.add_argument("--time-col", default="month", help="the CSV's date column")
    p.add_argument("--smoke", action="store_true", help="forecast a CSV this script writes")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp())
    csv = args.csv
    if csv is None:
        if not args.smoke:
            p.error("give a CSV, or --smoke")
        csv = folder / "monthly.csv"
        rows = [f"{2020 + m // 12}-{m % 12 + 1:02d},{100 + m + 10 * math.sin(2 * math.pi * m / 12):.2f}"
                for m in range(48)]
        csv.write_text("month,value\n" + "\n".join(rows) + "\n")
    # the same verb a user types: genzoo forecast predict --model zero-shot --csv FILE
    code = genzoo(["forecast", "predict", "--model", "zero-shot", "--csv", str(csv),
                   "--time-col", args.time_col, "-o", str(folder / "forecast.csv")])
    print((folder / "forecast.csv").read_text() if code == 0 else f"genzoo exited with {code}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
