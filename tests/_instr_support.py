"""Former home of the instrumentation test helpers, now in ``tests/support.py`` (and the
``instrumented`` fixture in ``tests/conftest.py``). Kept so that files importing
``tests._instr_support`` keep working; new code imports ``tests.support``."""

from __future__ import annotations

from tests.conftest import instrumented as instrumented
from tests.support import BASE_URL as BASE_URL
from tests.support import LIFECYCLE as LIFECYCLE
from tests.support import SEED as SEED
from tests.support import SSE_HEADERS as SSE_HEADERS
from tests.support import TEXT as TEXT
from tests.support import Server as Server
from tests.support import async_client as async_client
from tests.support import attrs as attrs
from tests.support import chunked as chunked
from tests.support import client as client
from tests.support import event_names as event_names
from tests.support import events_of as events_of
from tests.support import exception_types as exception_types
from tests.support import json_response as json_response
from tests.support import metric_sum as metric_sum
from tests.support import only_span as only_span
from tests.support import sse as sse
from tests.support import text_stream as text_stream
