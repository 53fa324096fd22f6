import os

from django.core.wsgi import get_wsgi_application

from postroom.lib.datadir import restrict_umask

restrict_umask()  # before anything creates a file: data is the service user's alone
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
django_application = get_wsgi_application()

from postroom.tracking.fastpath import wrap  # noqa: E402 - needs Django set up

# The tracking image and links (/t/...) skip Django's request stack: see fastpath.
application = wrap(django_application)
