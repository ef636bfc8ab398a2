"""The stream core's counts: the hot path's runs of deltas give the counts a plain count would.

:meth:`Stream.delta` keeps a run of same-type, in-order deltas apart and adds it to the counts
when another type arrives or the stream is decided. Random mixes of deltas (several types,
sequence numbers in order, repeated or absent, text or none), lifecycle events, keep-alives and a
terminal event are fed to the core and to a model that counts every call as it comes; the
counts, event and delta totals, anomalies and the time per output chunk must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_responses import _stream
from otel_responses._stream import MAX_EVENT_TYPES, OTHER, Stream
from otel_responses.dialects._facts import Event, Kind


class _Quiet:
    """An observer that records nothing (the core's counts are what is under test)."""

    def lifecycle(self, event: Event) -> None:
        pass

    def anomaly(self, kind: str, event_type: str | None, sequence: int | None) -> None:
        pass

    def first_token(self, seconds: float) -> None:
        pass

    def identity(self, response_id: str | None, model: str | None, tier: str | None) -> None:
        pass

    def attempt(self, attempt: Any) -> None:
        pass


@dataclass
class _Model:
    """Counts each call as it comes, the way the core did before it kept runs."""

    counts: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=dict)
    events: int = 0
    deltas: int = 0
    last_seq: int = -1
    ended: bool = False
    delta_times: list[int] = field(default_factory=list)

    def admit(self, event_type: str, seq: int | None) -> bool:
        self.events += 1
        if self.ended or (seq is not None and seq <= self.last_seq):
            kind = "after_terminal" if self.ended else "repeated_sequence"
            self.anomalies[kind] = self.anomalies.get(kind, 0) + 1
            return False
        if seq is not None:
            self.last_seq = seq
        if event_type in self.counts:
            self.counts[event_type] += 1
        elif len(self.counts) < MAX_EVENT_TYPES:
            self.counts[event_type] = 1
        else:
            self.counts[OTHER] = self.counts.get(OTHER, 0) + 1
        return True


_TYPES = [f"t{i}.delta" for i in range(4)]
_STEP = st.one_of(
    st.tuples(
        st.just("delta"),
        st.sampled_from(_TYPES),
        st.one_of(st.none(), st.integers(-2, 40)),
        st.one_of(st.none(), st.just("tok")),
    ),
    st.tuples(st.just("event"), st.sampled_from(["a.added", "b.done"]), st.none(), st.none()),
    st.tuples(st.just("count"), st.just("ping"), st.none(), st.none()),
    st.tuples(st.just("terminal"), st.just("done"), st.none(), st.none()),
)


def _run(steps: list[tuple[str, str, int | None, str | None]], capturing: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:  # (hypothesis runs take no function fixture)
        now = [0]
        patch.setattr(_stream, "now_ns", lambda: now[0])
        _check(steps, capturing, now)


def _check(
    steps: list[tuple[str, str, int | None, str | None]], capturing: bool, now: list[int]
) -> None:
    stream = Stream(_Quiet(), capturing=capturing, max_chars=100, start_ns=0)
    model = _Model()
    for step, (kind, event_type, seq, text) in enumerate(steps, start=1):
        now[0] = step * 1000  # the core's clock, read at each event
        if kind == "delta":
            seq = seq if seq is None or seq >= 0 else None  # (dialects pass no negative)
            stream.delta(event_type, seq, text)
            if model.admit(event_type, seq):
                model.deltas += 1
                model.delta_times.append(now[0])
        elif kind == "count":
            stream.count(event_type)
            model.admit(event_type, None)
        else:
            terminal = kind == "terminal"
            stream.event(Event(event_type, kind=Kind.TERMINAL if terminal else Kind.LIFECYCLE))
            if model.admit(event_type, None) and terminal:
                model.ended = True
    ending = stream.decide(None, None)
    assert ending.outcome in ("completed", "truncated")
    assert stream.counts == model.counts
    assert (stream.n_events, stream.n_deltas) == (model.events, model.deltas)
    assert stream.anomalies == model.anomalies
    times = model.delta_times
    expected_gap = (times[-1] - times[0]) / (len(times) - 1) / 1e9 if len(times) > 1 else None
    assert stream.time_per_output_chunk() == expected_gap


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=60), st.booleans())
def test_counts_match_counting_every_call(
    steps: list[tuple[str, str, int | None, str | None]], capturing: bool
) -> None:
    _run(steps, capturing)


def test_a_long_run_then_another_type_then_the_first_again() -> None:
    steps: list[tuple[str, str, int | None, str | None]] = [
        *(("delta", "a.delta", i, None) for i in range(50)),
        *(("delta", "b.delta", 50 + i, None) for i in range(5)),
        ("delta", "a.delta", 55, None),
        ("delta", "a.delta", 55, None),  # repeated: an anomaly, not counted
        ("terminal", "done", None, None),
        ("delta", "a.delta", 56, None),  # after the terminal event: an anomaly
    ]
    _run(steps, capturing=False)


def test_a_type_folded_into_other_starts_no_run() -> None:
    """Past MAX_EVENT_TYPES, a new type's deltas are all counted as ``_OTHER``."""
    fill: list[tuple[str, str, int | None, str | None]] = [
        ("event", f"e{i}", None, None) for i in range(MAX_EVENT_TYPES)
    ]
    _run([*fill, *(("delta", "late.delta", None, None) for _ in range(10))], capturing=False)
