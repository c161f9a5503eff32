"""`python -m monitoring_pipeline.config` prints the README's config reference table."""

import sys

from monitoring_pipeline.config import reference_table

sys.stdout.write(reference_table())
