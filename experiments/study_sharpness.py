"""Study 7 — Sharpness: flat minima, balance and stability edges on landscapes with valleys of minima (``samtheory.studies.sharpness``).

    python experiments/study_sharpness.py [--full] [--out DIR] [--seed S] [--resume]
                                          [--workers N | --scheduler ADDRESS]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF) and the
claims as DIR/claims.csv and DIR/claims.parquet; the points stay in DIR/runs/ (``--resume``).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("sharpness"))
