"""Settings for the test suite: the product's own, pointed at scratch space
(see tests.environment) before they are read."""

# isort: skip_file
from tests import environment  # noqa: F401  (sets the environment first)

from prowzi_site.settings import *  # noqa: F403

# Serve static files from the source folders, without a collectstatic run.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
