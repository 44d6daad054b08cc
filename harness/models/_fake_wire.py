"""Response bodies of the fake provider servers, in the OpenAI and Anthropic wire formats.

Token counts are whitespace words (plus a little framing per message), so tests can predict usage:
a prompt's tokens are ``sum(len(content.split()) + 3)`` over its messages (+ system blocks), and a
reply's tokens are ``len(text.split())``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from typing import Any

Reply = Callable[[dict[str, Any], int], str]
"""``reply(request_body, choice_index) -> text``: what the fake model says."""

_counter = itertools.count()


def words(text: str) -> int:
    return len(text.split())


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the request's last user message (either wire format)."""
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return _content_text(m.get("content"))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def default_reply(body: dict[str, Any], index: int) -> str:
    """Deterministic for a seeded request (prompt, seed, index); fresh for an unseeded one."""
    digest = hashlib.sha256(last_user_text(body).encode()).hexdigest()[:10]
    seed = body.get("seed")
    tag = f"s{seed}" if seed is not None else f"r{next(_counter)}"
    return f"answer {digest} {tag} choice {index}"


def openai_completion(body: dict[str, Any], reply: Reply, prefix_cache: set[str]) -> dict[str, Any]:
    n = int(body.get("n") or 1)
    msgs = body.get("messages") or []
    prompt = sum(words(_content_text(m.get("content"))) + 3 for m in msgs)
    # Automatic prompt caching, as OpenAI does it: a repeated prefix (all but the last message).
    prefix_key = hashlib.sha256(repr(msgs[:-1]).encode()).hexdigest()
    prefix = sum(words(_content_text(m.get("content"))) + 3 for m in msgs[:-1])
    cached = prefix if prefix_key in prefix_cache and prefix >= 16 else 0
    prefix_cache.add(prefix_key)
    choices = []
    total_out = 0
    for i in range(n):
        text = reply(body, i)
        toks = text.split()
        total_out += len(toks)
        choice: dict[str, Any] = {
            "index": i,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if body.get("logprobs"):
            choice["logprobs"] = {
                "content": [
                    {
                        "token": t,
                        "logprob": -0.05 * (1 + j % 7),
                        "bytes": list(t.encode()),
                        "top_logprobs": [],
                    }
                    for j, t in enumerate(toks)
                ],
                "refusal": None,
            }
        choices.append(choice)
    return {
        "id": f"chatcmpl-{next(_counter)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": total_out,
            "total_tokens": prompt + total_out,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }


def anthropic_message(body: dict[str, Any], reply: Reply, prefix_cache: set[str]) -> dict[str, Any]:
    blocks: list[tuple[str, dict[str, Any]]] = []
    system = body.get("system")
    for b in [{"type": "text", "text": system}] if isinstance(system, str) else system or []:
        blocks.append(("system", b))
    for m in body.get("messages") or []:
        content = m.get("content")
        for b in [{"type": "text", "text": content}] if isinstance(content, str) else content or []:
            blocks.append((m.get("role", "user"), b))
    sizes = [words(b.get("text", "")) + 3 for _, b in blocks]
    marked = [i for i, (_, b) in enumerate(blocks) if b.get("cache_control")]
    read = write = 0
    if marked:
        cut = marked[-1] + 1
        key = hashlib.sha256(repr(blocks[:cut]).encode()).hexdigest()
        if key in prefix_cache:
            read = sum(sizes[:cut])
        else:
            write = sum(sizes[:cut])
            prefix_cache.add(key)
    text = reply(body, 0)
    stops = body.get("stop_sequences") or []
    stop_reason, stop_seq = "end_turn", None
    for s in stops:
        if s in text:
            text, stop_reason, stop_seq = text[: text.index(s)], "stop_sequence", s
    return {
        "id": f"msg_fake{next(_counter)}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": stop_seq,
        "usage": {
            "input_tokens": sum(sizes) - read - write,
            "output_tokens": words(text),
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
        },
    }


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
}


def error_body(anthropic: bool, status: int, message: str) -> dict[str, Any]:
    if anthropic:
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
        }
    kind = (
        "rate_limit_exceeded"
        if status == 429
        else "invalid_request_error"
        if status < 500
        else "server_error"
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
