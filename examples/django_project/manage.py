#!/usr/bin/env python
"""Django's command line for the example project.

Against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/django_project/manage.py runserver 8000 --noreload
    curl -i http://127.0.0.1:8000/checkout/      # a 500, and an alert on the receiver
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
