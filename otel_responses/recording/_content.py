"""Opted-in output content, as the GenAI conventions' ``gen_ai.output.messages`` JSON."""

from __future__ import annotations

import json

from .._redact import scrub_secrets


def output_messages(text: list[str], finish_reason: str) -> str:
    """The captured text as one assistant message. Opted-in content is the model's text, but
    never a key or token it quotes."""
    return json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": scrub_secrets("".join(text))}],
                "finish_reason": finish_reason,
            }
        ]
    )
