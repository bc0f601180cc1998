"""Study 1 — AdaSAM: the O(1/√(bT)) rate and its linear speedup in b (``samtheory.studies.adasam``).

    python experiments/study_adasam.py [--full] [--out DIR] [--seed S]

prints the verdict table and writes DIR/report.md with the figures (PNG and PDF).
"""
import sys

from samtheory.cli import study_script

if __name__ == "__main__":
    sys.exit(study_script("adasam"))
