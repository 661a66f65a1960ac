"""Scheduled retraining entry point: the same job as `leadmodel retrain`, for cron or CI.

Usage: python training/retrain.py --data PATH [--mapping YAML] [--config YAML] [--name NAME]
       [--experiment NAME] [--json]
Exit 0 when the run succeeded, whether or not champion moved (`--json`: champion_moved).
All logic lives in `leadmodel.retrain`; this file only forwards to the CLI command.
"""

from __future__ import annotations

import sys

from leadmodel.cli import app

if __name__ == "__main__":
    sys.exit(app(["retrain", *sys.argv[1:]]))
