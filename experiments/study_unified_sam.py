"""Study 2 — Unified SAM on PL problems: rates, neighbourhoods, samplers, the authors'
settings and their unreweighted importance sampling (``samtheory.studies.unified_sam``).

    python experiments/study_unified_sam.py [--full] [--out DIR] [--seed S]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("unified_sam"))
