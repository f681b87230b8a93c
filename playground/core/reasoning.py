"""Split a streamed answer into reasoning (``<think>...</think>``) and the answer proper.

Qwen3's thinking mode writes its reasoning inline between ``<think>`` and ``</think>``. A tag may
be cut across two stream chunks, so the splitter holds back a possible tag prefix until the next
chunk says what it is. Pure and synchronous: it is tested with plain lists of chunks.
"""

from __future__ import annotations

from playground.core.events import ReasoningDelta, TextDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class ThinkSplitter:
    def __init__(self, starts_in_reasoning: bool = False) -> None:
        # Some chat templates (Qwen3 *-Thinking-2507) put the opening tag in the prompt, so the
        # model's output starts inside the reasoning and only the closing tag appears.
        self._in_reasoning = starts_in_reasoning
        self._pending = ""
        self._strip_newlines = False

    def feed(self, chunk: str) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        buffer = self._pending + chunk
        self._pending = ""
        while buffer:
            tag = CLOSE_TAG if self._in_reasoning else OPEN_TAG
            index = buffer.find(tag)
            if index >= 0:
                self._emit(out, buffer[:index])
                buffer = buffer[index + len(tag) :]
                self._in_reasoning = not self._in_reasoning
                # The answer conventionally starts after a blank line, and so does the
                # reasoning: drop those newlines, even when they come in a later chunk.
                self._strip_newlines = True
                continue
            keep = _partial_tag_suffix(buffer, tag)
            self._emit(out, buffer[: len(buffer) - keep])
            self._pending = buffer[len(buffer) - keep :]
            break
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        """End of stream: whatever was held back is plain text after all."""
        out: list[TextDelta | ReasoningDelta] = []
        self._emit(out, self._pending)
        self._pending = ""
        return out

    def _emit(self, out: list[TextDelta | ReasoningDelta], text: str) -> None:
        if self._strip_newlines:
            text = text.lstrip("\n")
            if text:
                self._strip_newlines = False
        if not text:
            return
        out.append(ReasoningDelta(text) if self._in_reasoning else TextDelta(text))


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0
