"""Audio calls: RTP in and out as float32 numpy audio.

:class:`AudioCall` decodes incoming packets with the negotiated codec,
resamples to ``sampling_rate_hz`` and calls :meth:`AudioCall.audio_received`
once per 20 ms frame; :meth:`AudioCall.send_audio` queues audio that a
sender task encodes and sends, paced every packet time on the event-loop
clock. :class:`VoiceActivityCall` cuts the incoming audio into utterances by
energy, and :class:`EchoCall` sends every utterance back.

Example: an app that echoes what the caller says, twice as loud:

>>> from voip_core import EchoCall
>>> class LoudEcho(EchoCall):
...     def voice_received(self, audio):
...         self.send_audio(audio * 2)
>>> LoudEcho.silence_gap  # seconds of silence that end an utterance
0.5
"""

from __future__ import annotations

from voip_core.audio.apps import PlayCall, RecordCall
from voip_core.audio.call import AudioCall
from voip_core.audio.recording import CallRecorder
from voip_core.audio.voice import EchoCall, VoiceActivityCall

__all__ = ["AudioCall", "CallRecorder", "EchoCall", "PlayCall", "RecordCall", "VoiceActivityCall"]
