"""Study 3 — Stable SAM: regime map (η × ρ) and saddle-escape times (``samtheory.studies.stable_sam``).

    python experiments/study_stable_sam.py [--full] [--out DIR] [--seed S]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("stable_sam"))
