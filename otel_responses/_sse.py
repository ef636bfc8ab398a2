"""Incremental Server-Sent Events decoder for byte chunks as they arrive.

Written here rather than reusing ``httpx-sse``: that package decodes ``str`` lines from an
``httpx.Response`` (``iter_lines``), so it cannot sit on a raw byte stream that the app's own
SSE parser is also reading, has no bound on line length, and decodes every payload to text. This
decoder works on bytes (a chunk may split a line, a CRLF or a UTF-8 sequence anywhere), never
buffers a line past ``max_line_bytes``, and hands the payload on as ``bytes`` so that the hot path
(``*.delta`` events) never pays for text decoding or JSON parsing.

Framing follows the WHATWG "event stream interpretation": LF, CR and CRLF line ends, comments,
``event``/``data``/``id``/``retry`` fields, one optional space after the colon, multi-line data
joined with LF, a leading BOM, and an unterminated last event discarded at the end of the stream.
One deliberate difference: a frame without an ``event:`` line is reported with ``event == ""``
rather than ``"message"``, because for the Responses API the type then lives in the JSON ``type``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""Large enough for a code-interpreter PNG or an image-generation result inline (tens of KiB to a
few MiB base64); small enough that a stream with no line ends cannot exhaust memory."""

_BOM = b"\xef\xbb\xbf"
_TYPE_CACHE_MAX = 256
_TYPES: dict[bytes, str] = {}
"""Event type names decoded once per process (bounded: a hostile server's names are decoded
each time once it is full)."""


class SSEMessage(NamedTuple):
    """One dispatched SSE event. ``event`` is ``""`` when the frame had no ``event:`` line."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


MessageSink = Callable[[str, bytes], None]
"""Receives ``(event type or "", data bytes)`` for each dispatched event."""


class SSEDecoder:
    """Feeds byte chunks, calls ``on_message`` for each complete event.

    ``on_error`` receives an exception ``on_message`` raised, or one decoding a chunk raised (a
    chunk that is not ``bytes``), and decoding goes on with the next event or chunk; without it
    the exception propagates out of :meth:`feed`. With it, :meth:`feed` never raises.

    ``on_oversized`` is called once for every line dropped for exceeding ``max_line_bytes``
    (and the event it belonged to is not dispatched). ``last_event_id`` and ``retry`` keep the
    stream's last ``id:``/``retry:`` values as the WHATWG algorithm does.
    """

    __slots__ = (
        "_at_start",
        "_between",
        "_data",
        "_data_size",
        "_discarding",
        "_event",
        "_frame_broken",
        "_max_line",
        "_on_error",
        "_on_message",
        "_on_oversized",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "last_event_id",
        "oversized_lines",
        "retry",
    )

    def __init__(
        self,
        on_message: MessageSink,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        on_oversized: Callable[[], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if max_line_bytes <= 0:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes!r}")
        self._on_message = on_message
        self._on_oversized = on_oversized
        self._on_error = on_error
        self._max_line = max_line_bytes
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skip_lf = False
        self._at_start = True
        self._between = False
        """Between frames, nothing pending (no partial line, data, event, CR or oversized
        line): a chunk that is exactly one frame may take :meth:`feed`'s short path."""
        self._discarding = False
        self._frame_broken = False
        self._event = b""
        self._data: list[bytes] = []
        self._data_size = 0
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self.oversized_lines = 0

    def redirect(self, on_message: MessageSink) -> None:
        """Dispatch the events completed from now on to ``on_message`` instead."""
        self._on_message = on_message

    def feed(self, chunk: bytes) -> None:
        """Decode one chunk; complete events are dispatched before this returns."""
        try:
            if self._between and len(chunk) <= self._max_line:
                # The per-event hot path: most servers send each frame in a chunk of its own,
                # ``event: T`` (optional), ``data: D`` and a blank line. Such a chunk is dispatched
                # here with no line loop (and _dispatch inlined: a Python call costs some hundreds
                # of instructions); any other is decoded by the general path below, which would
                # dispatch it the same way. (No line of a chunk within the bound can be oversized.
                # LF and CR are searched for as the ints ``10`` and ``13``, found without the
                # TypeError CPython 3.11's bytes ``in`` raises and clears for a bytes needle;
                # ``partition`` rather than ``split``, which compares byte by byte where
                # ``partition`` runs memchr.)
                lone_cr = 13 in chunk
                if lone_cr:  # CRLF line ends (Gemini's), normalised as the general path does
                    chunk = chunk.replace(b"\r\n", b"\n")
                    lone_cr = 13 in chunk  # (a lone CR ends a line too: the general path's)
                if chunk[-2:] != b"\n\n":
                    payload = b"\n"  # (not a whole frame)
                elif chunk[:6] == b"data: ":
                    event = b""
                    payload = chunk[6:-2]
                elif chunk[:7] == b"event: ":
                    head, _, payload = chunk.partition(b"\n")
                    event = head[7:]
                    payload = payload[6:-2] if payload[:6] == b"data: " else b"\n"
                else:
                    payload = b"\n"
                # Another line end (a second line or frame, or none): the general path.
                if 10 not in payload and not lone_cr:
                    name = _TYPES.get(event)
                    if name is None:
                        name = _type_name(event)
                    self._on_message(name, payload)  # (its failure: on_error, below)
                    return
                del payload  # (a chunk of many frames: its copy dropped before _general)
            self._general(chunk)
            self._between = not (
                self._pending
                or self._data
                or self._event
                or self._skip_lf
                or self._at_start
                or self._discarding
                or self._frame_broken
            )
        except Exception as exc:
            # on_message's failure on the hot path (the general path reports each event's
            # own), or the decoder's (a chunk that is not bytes): reported, decoding goes on.
            if self._on_error is None:
                raise
            self._between = False  # (the general path decides whether a frame was cut)
            self._on_error(exc)

    def _dispatch(self, event: bytes, payload: bytes) -> None:
        name = _TYPES.get(event)
        if name is None:
            name = _type_name(event)
        try:
            self._on_message(name, payload)
        except Exception as exc:
            if self._on_error is None:
                raise
            self._on_error(exc)  # one bad event must not cost the rest

    def _general(self, chunk: bytes) -> None:
        if self._skip_lf and chunk:
            # (An empty chunk must not consume the pending CR's chance to pair with an LF.)
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._at_start:
            head = b"".join(self._pending) + chunk
            self._pending.clear()
            if len(head) < 3 and _BOM.startswith(head):
                self._pending.append(head)
                return
            self._at_start = False
            chunk = head[3:] if head.startswith(_BOM) else head
        if 13 in chunk:  # b"\r" (see _lines on why bytes are compared as ints and slices)
            if chunk[-1:] == b"\r":
                # The LF that may follow belongs to this line end; drop it from the next chunk.
                self._skip_lf = True
            # Pending bytes never hold a CR (they were split at every line end), and a CRLF cut
            # between chunks is handled by _skip_lf, so normalising the chunk alone is enough.
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        pending = self._pending
        if len(lines) == 1:
            # No line end: the chunk only extends the pending line. Pieces are kept in a list so
            # a long line arriving in many small chunks costs linear, not quadratic, copying.
            if not self._discarding and chunk:
                pending.append(chunk)
                self._pending_size += len(chunk)
                if self._pending_size > self._max_line:
                    self._drop_pending()
            return
        size = len(chunk)
        if pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
            pending.clear()
            size += self._pending_size
            self._pending_size = 0
        partial = lines.pop()
        if self._discarding:
            # The first line is the tail of an oversized line: drop it, resume after it.
            self._discarding = False
            del lines[0]
        if lines:
            # A buffer within the bound cannot hold an oversized line: skip the per-line check.
            self._lines(lines, size > self._max_line)
        if partial:
            pending.append(partial)
            self._pending_size = len(partial)
            if self._pending_size > self._max_line:
                self._drop_pending()

    def _drop_pending(self) -> None:
        self._pending.clear()
        self._pending_size = 0
        self._discarding = True
        self._oversized()

    def _oversized(self) -> None:
        self.oversized_lines += 1
        self._frame_broken = True
        if self._on_oversized is not None:
            self._on_oversized()

    def _lines(self, lines: list[bytes], check_length: bool) -> None:
        # State lives in locals for the loop and is written back once.
        data = self._data
        size = self._data_size
        event = self._event
        broken = self._frame_broken
        limit = self._max_line
        for line in lines:
            if not line:
                if data and not broken:
                    self._dispatch(event, data[0] if len(data) == 1 else b"\n".join(data))
                    data = []
                elif data:
                    data = []
                size = 0
                event = b""
                broken = False
                continue
            if check_length and len(line) > limit:
                self._oversized()
                broken = True
                continue
            # Slices compared, not bytes.startswith: CPython 3.11 parses startswith's arguments
            # with a format built per call, several times the cost of the comparison itself.
            if line[:6] == b"data: ":
                value = line[6:]
            elif line[:7] == b"event: ":
                event = line[7:]
                continue
            elif line[0] == 58:  # b":" starts a comment
                continue
            else:
                field, colon, value = line.partition(b":")
                if colon and value[:1] == b" ":
                    value = value[1:]
                if field != b"data":
                    if field == b"event":
                        event = value
                    elif field == b"id":
                        if b"\0" not in value:
                            self.last_event_id = value.decode("utf-8", "replace")
                    elif field == b"retry" and value.isdigit():
                        self.retry = int(value)
                    continue  # other fields are ignored, as the standard says
            size += len(value) + 1
            if size > limit:
                self._oversized()
                broken = True
                continue
            data.append(value)
        self._data = data
        self._data_size = size
        self._event = event
        self._frame_broken = broken


def _type_name(event: bytes) -> str:
    name = event.decode("utf-8", "replace")
    if len(_TYPES) < _TYPE_CACHE_MAX:
        _TYPES[event] = name
    return name


def decode_all(body: bytes, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[SSEMessage]:
    """Decode a complete SSE body into messages (a convenience for tests and replay)."""
    out: list[SSEMessage] = []
    decoder: SSEDecoder

    def sink(event: str, data: bytes) -> None:
        out.append(
            SSEMessage(event, data.decode("utf-8", "replace"), decoder.last_event_id, decoder.retry)
        )

    decoder = SSEDecoder(sink, max_line_bytes=max_line_bytes)
    decoder.feed(body)
    return out
