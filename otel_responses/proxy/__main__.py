"""``python -m otel_responses.proxy …`` = ``otel-responses proxy …``."""

import sys

from ._command import main

sys.exit(main())
