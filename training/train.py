"""Scheduled training entry point: the same job as `leadmodel train`, for cron or CI.

Usage: python training/train.py --data PATH [--mapping YAML] [--config YAML] [--json]
All logic lives in `leadmodel.train`; this file only forwards to the CLI command.
"""

from __future__ import annotations

import sys

from leadmodel.cli import app

if __name__ == "__main__":
    sys.exit(app(["train", *sys.argv[1:]]))
