"""The Groq chat client: settings from the environment, timeouts, bounded retries.

The SDK's own retry loop is switched off (`max_retries=0`) and this module retries
instead, so every HTTP request is counted (`Completion.requests`; the target is one
request per output) and the wait honours the provider's `Retry-After`:

* 429 and 5xx answers and dropped connections are retried up to `max_retries` times,
  waiting `Retry-After` (or `retry-after-ms`) when the provider sends it, else
  `backoff_base_s * 2**attempt`, capped at `backoff_max_s`. When the provider asks
  for a longer wait than the cap, the client gives up at once: a person is waiting
  on the page and the offline writer answers instantly.
* A timeout is not retried (the wait was already spent).
* Any other error (401, 400, ...) is not retried.

Every failure raises `ProviderError`; the writers catch it and fall back to the
offline writer, flagging `provider_error`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol, cast

from engine.core import config

if TYPE_CHECKING:
    from groq.types.chat import ChatCompletionMessageParam


@dataclass(frozen=True)
class LlmSettings:
    """How to reach the provider. `from_env` reads GROQ_API_KEY, GROQ_MODEL, GROQ_BASE_URL."""

    api_key: str | None
    model: str
    base_url: str | None = None
    timeout_s: float = 20.0
    max_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    temperature: float = 0.2  # low: the same facts should give much the same text
    max_tokens: int = 400

    @classmethod
    def from_env(cls, **overrides) -> LlmSettings:
        settings = cls(
            api_key=os.environ.get("GROQ_API_KEY") or None,
            model=config.groq_model(),
            base_url=os.environ.get("GROQ_BASE_URL") or None,
        )
        return replace(settings, **overrides)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    requests: int  # HTTP requests this completion took (1 when nothing was retried)


class ProviderError(Exception):
    """The provider could not produce a completion; `requests` says how many were tried."""

    def __init__(self, message: str, requests: int):
        super().__init__(message)
        self.requests = requests


class ChatClient(Protocol):
    """What the writers need from a provider (tests may pass any object like this)."""

    model: str

    def complete(self, messages: list[dict], *, max_tokens: int | None = None) -> Completion: ...


def _retry_after_seconds(response) -> float | None:
    """The wait the provider asked for, from `retry-after-ms` or `Retry-After` (seconds or a date)."""
    if response is None:
        return None
    headers = response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class GroqClient:
    """Chat completions through the `groq` SDK with this module's retry policy."""

    def __init__(self, settings: LlmSettings, sleep: Callable[[float], None] = time.sleep):
        import groq  # imported here: the offline app never needs the SDK loaded

        if not settings.api_key:
            raise ValueError("GroqClient needs an API key; use default_client() to get None without one.")
        self.settings = settings
        self.model = settings.model
        self._sleep = sleep
        self._groq = groq
        self._client = groq.Groq(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=0,
        )

    def _delay(self, attempt: int, response) -> float:
        asked = _retry_after_seconds(response)
        if asked is not None:
            return asked
        return min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2**attempt)

    def complete(self, messages: list[dict], *, max_tokens: int | None = None) -> Completion:
        """One completion; raises ProviderError after the retry policy above gives up."""
        g = self._groq
        requests = 0
        for attempt in range(self.settings.max_retries + 1):
            requests += 1
            response = None
            try:
                result = self._client.chat.completions.create(
                    model=self.settings.model,
                    # Our messages are plain {"role", "content"} dicts, the shape the SDK's types describe.
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    temperature=self.settings.temperature,
                    max_tokens=max_tokens or self.settings.max_tokens,
                )
            except g.APITimeoutError:
                raise ProviderError(
                    f"the provider did not answer within {self.settings.timeout_s:g} s", requests
                ) from None
            except g.APIStatusError as exc:
                if exc.status_code != 429 and exc.status_code < 500:
                    raise ProviderError(
                        f"the provider refused the request (HTTP {exc.status_code})", requests
                    ) from None
                reason, response = f"HTTP {exc.status_code}", exc.response
            except g.APIConnectionError:
                reason = "could not connect"
            except g.APIError as exc:  # e.g. an answer that is not a chat completion
                raise ProviderError(
                    f"the provider's answer could not be read ({type(exc).__name__})", requests
                ) from None
            else:
                text = (result.choices[0].message.content or "") if result.choices else ""
                return Completion(text=text, model=result.model or self.settings.model, requests=requests)
            if attempt == self.settings.max_retries:
                raise ProviderError(f"the provider failed {requests} times (last: {reason})", requests)
            delay = self._delay(attempt, response)
            if delay > self.settings.backoff_max_s:
                raise ProviderError(f"the provider asked to wait {delay:.0f} s ({reason})", requests)
            self._sleep(delay)
        raise ProviderError("no attempt was made", requests)  # unreachable: max_retries >= 0


_clients: dict[LlmSettings, GroqClient] = {}
_clients_lock = threading.Lock()


def default_client(settings: LlmSettings | None = None) -> GroqClient | None:
    """The process's Groq client for these settings (default: from the environment),
    or None when no GROQ_API_KEY is set (the offline writer is used then)."""
    settings = settings or LlmSettings.from_env()
    if not settings.api_key:
        return None
    with _clients_lock:
        if settings not in _clients:
            _clients[settings] = GroqClient(settings)
        return _clients[settings]


class _Auto:
    """Sentinel: pick the client from the environment."""

    def __repr__(self) -> str:
        return "AUTO"


AUTO = _Auto()


def resolve_client(client) -> ChatClient | None:
    """AUTO -> default_client(); None -> offline; anything else is used as given."""
    return default_client() if client is AUTO else client
