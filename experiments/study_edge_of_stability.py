"""Study 6 — Edge of stability: sharpness reached under GD, USAM and SAM against the predicted edges (``samtheory.studies.edge_of_stability``).

    python experiments/study_edge_of_stability.py [--full] [--out DIR] [--seed S] [--resume]
                                                  [--workers N | --scheduler ADDRESS]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF) and the
claims as DIR/claims.csv and DIR/claims.parquet; the points stay in DIR/runs/ (``--resume``).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("edge_of_stability"))
