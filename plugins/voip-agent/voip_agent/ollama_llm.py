"""The ``"ollama"`` LLM backend: a chat model served by Ollama, streamed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from voip_core.errors import PluginError

if TYPE_CHECKING:
    import ollama

    from voip_core.backends import ChatMessage

__all__ = ["DEFAULT_HOST", "OllamaLLM"]

#: Where Ollama listens unless ``host`` or ``OLLAMA_HOST`` say otherwise.
DEFAULT_HOST = "http://127.0.0.1:11434"

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(kw_only=True)
class OllamaLLM:
    """A chat model on an Ollama server (``ollama serve``), through ``ollama.AsyncClient``.

    :meth:`chat` streams the reply as text deltas as the model writes them.
    The client is made on first use (one per event loop) and reused, so its
    HTTP connection stays open between turns.

    Args:
        model: The model's name as ``ollama pull`` knows it.
        host: The server's URL (default: ``$OLLAMA_HOST``, else 127.0.0.1:11434).
        temperature: Sampling temperature (None: the model's default).
        options: More model options (``num_ctx``, ``top_p``, ``seed``, ...).
        keep_alive: How long the server keeps the model loaded after a
            request (``"5m"``, seconds, or -1 for ever); a phone line wants it
            loaded, as loading costs seconds before the first word.
        think: Let thinking models think (their thoughts are never spoken);
            False by default, since every second counts on a call.
        timeout: Seconds to wait for the server (connect and each read).

    Example:
        >>> llm = OllamaLLM(model="llama3.2:1b", host="http://127.0.0.1:11434")
        >>> llm.model, llm.url
        ('llama3.2:1b', 'http://127.0.0.1:11434')
    """

    model: str = "llama3.2"
    host: str | None = None
    temperature: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_alive: float | str | None = "30m"
    think: bool = False
    timeout: float = 60.0
    _clients: dict[asyncio.AbstractEventLoop, ollama.AsyncClient] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def url(self) -> str:
        """The server's base URL."""
        host = self.host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        return host if "://" in host else f"http://{host}"

    def _client(self) -> ollama.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            try:
                import ollama
            except ImportError as error:
                raise PluginError(
                    "the ollama package is not installed: pip install 'voip-agent[ollama]'"
                ) from error
            # An HTTP proxy from the environment never reaches a server on loopback.
            local = (urlsplit(self.url).hostname or "") in _LOOPBACK
            client = ollama.AsyncClient(host=self.url, timeout=self.timeout, trust_env=not local)
            self._clients = {loop: client}  # a loop that ended took its connections along
        return client

    def _model_options(self) -> dict[str, Any]:
        options = dict(self.options)
        if self.temperature is not None:
            options["temperature"] = self.temperature
        return options

    async def chat(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """The reply to ``messages``, as text deltas.

        Raises:
            PluginError: The server cannot be reached, does not have the model,
                or failed (the message says which, and what to do).
        """
        client = self._client()
        history = [{"role": message.role, "content": message.content} for message in messages]
        try:
            stream = await client.chat(
                model=self.model,
                messages=history,
                stream=True,
                think=self.think,
                options=self._model_options() or None,
                keep_alive=self.keep_alive,
            )
            async for part in stream:
                text = part.message.content
                if text:
                    yield text
        except PluginError:
            raise
        except Exception as error:
            raise self._explain(error) from error

    async def load(self) -> None:
        """Check that the server answers and has the model (``voip serve`` calls this first).

        Raises:
            PluginError: It does not, with what to do.
        """
        client = self._client()
        try:
            listing = await client.list()
        except Exception as error:
            raise self._explain(error) from error
        names = {model.model for model in listing.models if model.model}
        if self.model not in names and f"{self.model}:latest" not in names:
            raise PluginError(
                f"Ollama at {self.url} has no model {self.model!r}: run `ollama pull "
                f"{self.model}` (it has: {', '.join(sorted(names)) or 'none'})"
            )

    async def aclose(self) -> None:
        """Close the HTTP connections of this loop's client."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _explain(self, error: BaseException) -> PluginError:
        """A PluginError that says what went wrong with Ollama and what to do."""
        import httpx
        import ollama

        if isinstance(error, ollama.ResponseError):
            if error.status_code == 404 and "not found" in str(error.error):
                return PluginError(
                    f"Ollama at {self.url} has no model {self.model!r}: "
                    f"run `ollama pull {self.model}`"
                )
            return PluginError(f"Ollama at {self.url} failed: {error.error}")
        if isinstance(error, httpx.TimeoutException):
            return PluginError(f"Ollama at {self.url} did not answer within {self.timeout:g} s")
        if isinstance(error, ConnectionError | httpx.TransportError):
            return PluginError(
                f"Ollama is not reachable at {self.url}: start it (`ollama serve`) "
                "or point OLLAMA_HOST at it"
            )
        return PluginError(f"Ollama at {self.url} failed: {type(error).__name__}: {error}")
