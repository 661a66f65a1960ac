"""``python -m leadmodel``: the ``leadmodel`` command."""

from leadmodel.cli import app

app(prog_name="leadmodel")
