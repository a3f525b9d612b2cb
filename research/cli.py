"""The `prowzi` console script: the same program as `manage.py prowzi`."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prowzi_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["prowzi", "prowzi", *sys.argv[1:]])
