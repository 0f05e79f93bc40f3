"""The "ollama" LLM backend through the real ollama client, against a loopback stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest
from agent_testing import ERROR, OllamaStandIn, script

from conftest import free_port, need, need_ipv6
from voip_core import PluginError, plugins
from voip_core.backends import ChatMessage, LLMBackend

QUESTION = [
    ChatMessage(role="system", content="You are a phone agent."),
    ChatMessage(role="user", content="What are your opening hours?"),
]


@pytest.fixture(autouse=True)
def _ollama_installed() -> None:
    import importlib.util

    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")


async def test_deltas_stream_as_the_model_writes_them():
    steps = [(0.05, "We are"), (0.0, " open"), (0.6, " from nine"), (0.0, " to five.")]
    with OllamaStandIn([steps]) as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url, temperature=0.2)
        assert isinstance(llm, LLMBackend)
        started = time.monotonic()
        arrivals = []
        async for delta in llm.chat(QUESTION):
            arrivals.append((time.monotonic() - started, delta))
    assert "".join(delta for _, delta in arrivals) == "We are open from nine to five."
    # The first deltas are there before the model has finished: streaming, not buffered.
    assert arrivals[1][0] < arrivals[2][0] - 0.4
    body = server.streams[0].body
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "You are a phone agent."},
        {"role": "user", "content": "What are your opening hours?"},
    ]
    assert body["options"] == {"temperature": 0.2}
    assert body["keep_alive"] == "30m" and body["think"] is False


async def test_host_comes_from_ollama_host(monkeypatch):
    with OllamaStandIn([script("Hi there.")]) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        llm = plugins.llm_backend("ollama", model="llama3.2", options={"seed": 7})
        assert [delta async for delta in llm.chat(QUESTION)] == ["Hi", " there."]
        await llm.load()  # the server has the model
    assert server.streams[0].body["options"] == {"seed": 7}


async def test_ipv6_loopback():
    need_ipv6()
    with OllamaStandIn([script("Hello.")], host="::1") as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url)
        assert "".join([delta async for delta in llm.chat(QUESTION)]) == "Hello."


async def test_a_model_not_pulled_says_how_to_get_it():
    with OllamaStandIn([script("x")], models=["qwen3:0.6b"]) as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url)
        with pytest.raises(PluginError, match=r"no model 'llama3.2': run `ollama pull llama3.2`"):
            [delta async for delta in llm.chat(QUESTION)]
        with pytest.raises(PluginError, match=r"it has: qwen3:0.6b"):
            await llm.load()


async def test_an_unreachable_server_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port(kind=socket.SOCK_STREAM)}"  # a TCP port nobody listens on
    llm = plugins.llm_backend("ollama", model="llama3.2", host=url, timeout=5)
    with pytest.raises(PluginError, match=rf"not reachable at {url}: start it"):
        [delta async for delta in llm.chat(QUESTION)]
    with pytest.raises(PluginError, match="not reachable"):
        await llm.load()


async def test_an_error_in_the_stream_ends_it_with_a_plugin_error():
    steps = [(0.0, "Let me"), (0.0, " see"), (0.0, f"{ERROR} out of memory")]
    with OllamaStandIn([steps]) as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url)
        received = []
        with pytest.raises(PluginError, match="out of memory"):
            async for delta in llm.chat(QUESTION):
                received.append(delta)
    assert received == ["Let me", " see"]


async def test_a_silent_server_times_out():
    with OllamaStandIn([[(3.0, "late")]]) as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url, timeout=0.3)
        with pytest.raises(PluginError, match=r"did not answer within 0.3 s"):
            [delta async for delta in llm.chat(QUESTION)]


async def test_stopping_early_hangs_up_on_the_server():
    """Barge-in: the reply is abandoned after its first words; the server sees the hang-up."""
    steps = [(0.0, "One."), *[(0.05, f" {n}.") for n in range(2, 60)]]
    with OllamaStandIn([steps]) as server:
        llm = plugins.llm_backend("ollama", model="llama3.2", host=server.url)

        async def first_words() -> None:
            async with contextlib.aclosing(llm.chat(QUESTION)) as deltas:
                async for _ in deltas:
                    await asyncio.sleep(3600)  # until cancelled

        task = asyncio.create_task(first_words())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(server.streams[0].ended.wait, 5)
    stream = server.streams[0]
    assert stream.client_left and not stream.finished
    assert len(stream.sent) < 20  # it stopped writing soon after the client left
