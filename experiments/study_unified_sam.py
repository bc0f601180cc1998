"""Study 2 — Unified SAM on PL problems: rates, neighbourhoods, samplers, the authors'
settings and their unreweighted importance sampling (``samtheory.studies.unified_sam``).

    python experiments/study_unified_sam.py [--full] [--out DIR] [--seed S] [--resume]
                                            [--workers N | --scheduler ADDRESS]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF) and the
claims as DIR/claims.csv and DIR/claims.parquet; the points stay in DIR/runs/ (``--resume``).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("unified_sam"))
