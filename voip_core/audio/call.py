"""AudioCall: RTP in and out as float32 numpy audio (see :mod:`voip_core.audio`)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np

from voip_core.audio.recording import CallRecorder
from voip_core.codecs.base import FloatArray
from voip_core.errors import CodecError, ParseError
from voip_core.resample import Resampler, resample
from voip_core.rtp.clock import Entry, MediaClock
from voip_core.rtp.dtmf import DTMFReceiver, dtmf_packets
from voip_core.rtp.jitter import JitterBuffer, Slot
from voip_core.rtp.packet import RTPPacket, sequence_distance
from voip_core.rtp.session import Session
from voip_core.wav import read_wav

if TYPE_CHECKING:
    from voip_core.codecs.base import FrameDecoder, RTPCodec

__all__ = ["AudioCall"]

logger = logging.getLogger(__name__)


class _PluginCodecs:
    """Class attribute that reads the codecs registered with the plugin manager.

    Subclasses may replace it with a plain list (``supported_codecs = [PCMU]``).
    """

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Sequence[type[RTPCodec]]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> Sequence[type[RTPCodec]]: ...
    def __get__(self, instance: object | None, owner: type[Any]) -> Sequence[type[RTPCodec]]:
        global _plugin_codecs
        if _plugin_codecs is None:  # imported on first use: importing voip_core stays light
            from voip_core.plugins import codecs

            _plugin_codecs = codecs
        return _plugin_codecs()


_plugin_codecs: Callable[[], list[type[RTPCodec]]] | None = None


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class AudioCall(Session):
    """A call that hears and speaks float32 mono audio at ``sampling_rate_hz``.

    Args:
        sampling_rate_hz: Rate of the audio handed to :meth:`audio_received`
            and taken by :meth:`send_audio` (16 kHz suits speech recognition).
        resample_quality: soxr quality between the app's and the codec's rates.

    Example:
        Collect what the caller says:

        >>> class Recorder(AudioCall):
        ...     def __post_init__(self):
        ...         super().__post_init__()
        ...         self.heard = []
        ...
        ...     def audio_received(self, *, audio, rms):
        ...         self.heard.append(audio)
        >>> Recorder.rtp_packet_duration
        0.02
    """

    # No annotation: dataclasses would read (and so call) the descriptor at class creation.
    supported_codecs = _PluginCodecs()
    #: Duration of one RTP packet, in seconds.
    rtp_packet_duration: ClassVar[float] = 0.02

    sampling_rate_hz: int = 16000
    resample_quality: str = "HQ"

    #: Hear and speak at the negotiated codec's own sample rate instead:
    #: ``sampling_rate_hz`` is set to it once the codec is chosen, and no
    #: audio is resampled either way. For apps that pass audio through
    #: (:class:`~voip_core.audio.EchoCall`, a bridge, a recorder) rather than
    #: feed it to a model that wants one rate.
    use_codec_rate: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.codec: RTPCodec = self.negotiate_codec(self.media)
        except BaseException:
            # A 488: the half-made call must not keep the remote's address.
            self.close()
            raise
        self._encoder = self.codec.create_encoder()
        if self.use_codec_rate:
            self.sampling_rate_hz = self.codec.sample_rate
        self.frame_size = round(self.sampling_rate_hz * self.rtp_packet_duration)
        # The resamplers (codec rate <-> app rate) are made on first use, with these
        # rates: many calls never hear or say anything.
        self._resampling = (self.codec.sample_rate, self.sampling_rate_hz, self.resample_quality)
        self._inbound_resampler: Resampler | None = None
        self._outbound_resampler: Resampler | None = None
        # The remote sends with the payload type we declared; that is its own
        # number when we answered its offer, ours when it answered ours [RFC 3264 §6.1].
        own_formats = self.sdp_formats()
        self.receive_payload_types = {self.codec.payload_type} | {
            f.payload_type for f in own_formats if self.codec.matches(f)
        }
        # telephone-event at the codec's clock rate if offered, else the first [RFC 4733 §2.1].
        events = [
            f for f in self.media.media_formats if f.encoding_name.lower() == "telephone-event"
        ]
        event = next((f for f in events if f.clock_rate == self.codec.clock_rate), None)
        event = event or (events[0] if events else None)
        #: The payload type we send DTMF with (None: the peer takes no RFC 4733 events).
        self.telephone_event_payload_type = event.payload_type if event is not None else None
        self.telephone_event_clock_rate = event.clock_rate if event is not None else 8000
        self._event_payload_types = {f.payload_type for f in events} | {
            f.payload_type
            for f in own_formats
            if f.encoding_name == "telephone-event"
            and f.payload_type not in self.receive_payload_types
        }
        self._dtmf_receiver: DTMFReceiver | None = None
        self._dtmf_expiry: asyncio.TimerHandle | None = None
        self._dtmf_sender: asyncio.Task[None] | None = None
        self.dtmf_errors = 0
        self._sending_events = False
        self.ssrc = random.getrandbits(32)
        self._sequence_number = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._last_packet_time: float | None = None
        self._last_push_time = 0.0
        # The stream of packets being sent (see _send_tick), paced by the media clock.
        self._sending_audio = False
        self._send_generation = 0  # one more with every start and stop
        self._send_entry: Entry | None = None
        self._send_start = 0.0
        self._send_index = 0
        self._send_marker = False
        # Audio queued by send_audio, resampled a little ahead of sending.
        self._pending_out: collections.deque[FloatArray] = collections.deque()
        self._pending_out_samples = 0
        self._clock: MediaClock | None = None
        self._remote_ssrc: int | None = None
        self._highest_sequence = 0
        self.decode_errors = 0
        self.foreign_payload_packets = 0
        self._late_or_duplicate = 0
        self.concealed_frames = 0
        #: The jitter buffer (made with the first packet; None with use_jitter_buffer False).
        self.jitter_buffer: JitterBuffer | None = None
        self._playout_entry: Entry | None = None
        self._stream = 0
        self._idle = True  # nothing queued to send
        # When the frame being delivered and the one being sent are due (for recording).
        self._media_time: float | None = None
        self._media_time_out = 0.0
        self._started_at = time.time()
        #: Both directions, when recording (:meth:`start_recording`, :attr:`record_to`).
        self.recorder: CallRecorder | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        if self.record_to is not None:
            self.start_recording()
        if self._loop is not None:
            self.start_rtcp(self.codec.clock_rate, self.ssrc)
        if self.comfort_silence and self._loop is not None:
            self._loop.call_soon(self._start_sender)  # our stream starts with the call

    # The decoder is made with the first packet received, as the resamplers are
    # made on first use: many calls (a signalling test, a call rejected or hung
    # up at once) never receive one. The encoder is made with the call, so
    # whatever a codec loads on first use (opuslib) does not hold back the
    # first packet sent.
    @functools.cached_property
    def _decoder(self) -> FrameDecoder:
        return self.codec.create_decoder()

    @property
    def _inbound(self) -> Resampler:
        """The resampler from the codec's rate to ``sampling_rate_hz`` (received audio)."""
        resampler = self._inbound_resampler
        if resampler is None:
            codec_rate, app_rate, quality = self._resampling
            # A lead-in of the filter's look-ahead: each packet's frame comes out with it.
            resampler = self._inbound_resampler = Resampler(
                codec_rate, app_rate, quality=quality, lead_in=True
            )
        return resampler

    @property
    def _outbound(self) -> Resampler:
        """The resampler from ``sampling_rate_hz`` to the codec's rate (audio to send)."""
        resampler = self._outbound_resampler
        if resampler is None:
            codec_rate, app_rate, quality = self._resampling
            resampler = self._outbound_resampler = Resampler(app_rate, codec_rate, quality=quality)
        return resampler

    def _codec_options(self) -> dict[str, Any]:
        return {
            "frame_duration_ms": round(self.rtp_packet_duration * 1000),
            "preferred_sample_rate": self.sampling_rate_hz,
        }

    # Receiving ------------------------------------------------------------------------------

    #: Up to this many lost packets in a row are concealed; a longer gap is a
    #: new start (the peer paused, e.g. DTX or hold) and is not filled in.
    max_concealed_packets: ClassVar[int] = 5
    #: Play received audio out through an adaptive jitter buffer
    #: (:class:`~voip_core.rtp.jitter.JitterBuffer`); False hands packets over
    #: as they arrive (lowest delay, no reordering).
    use_jitter_buffer: ClassVar[bool] = True
    #: Bounds of the jitter buffer's delay, in seconds, and where it starts:
    #: the delay follows the measured jitter [RFC 3550 §6.4.1] within them.
    jitter_min_delay: ClassVar[float] = 0.02
    jitter_max_delay: ClassVar[float] = 0.2
    jitter_initial_delay: ClassVar[float] = 0.04

    def packet_received(self, packet: RTPPacket) -> None:
        """Take one packet: into the jitter buffer, which plays it out on time.

        The buffer puts packets back in order, drops duplicates and packets
        that come after their time, and has short gaps concealed by the
        decoder (Opus uses the next packet's in-band FEC); a timer on the
        event loop plays out what is due, one per call, not a task per
        packet. Every complete frame goes to :meth:`audio_received`.
        telephone-event packets go to :meth:`dtmf_received`.
        """
        self.packets_received += 1
        if packet.payload_type not in self.receive_payload_types:
            if packet.payload_type in self._event_payload_types:
                self._telephone_event_received(packet)
            else:
                self.foreign_payload_packets += 1
            return
        if not self.use_jitter_buffer:
            self._arrival_order(packet)
            return
        buffer = self.jitter_buffer
        if buffer is None:
            buffer = self.jitter_buffer = JitterBuffer(
                clock_rate=self.codec.clock_rate,
                packet_duration=self.rtp_packet_duration,
                min_delay=self.jitter_min_delay,
                max_delay=self.jitter_max_delay,
                initial_delay=self.jitter_initial_delay,
                max_concealed=self.max_concealed_packets,
            )
        now = self._event_loop().time()
        buffer.push(packet, now)
        entry = self._playout_entry
        if entry is not None and now < entry[0]:
            due = buffer.next_due
            if due is not None and entry[0] <= due:
                return  # nothing is due before the play-out already armed (the common case)
        self._play_out(buffer.pop(now))

    def _play_out(self, slots: list[Slot]) -> None:
        """Decode (or conceal) each slot the jitter buffer gave, then arm its timer."""
        for slot in slots:
            self._media_time = slot.playout_time  # when it plays, whatever the loop's delays
            if slot.stream != self._stream:  # a new SSRC or a restarted sender
                self._stream = slot.stream
                self._decoder = self.codec.create_decoder()
            if slot.packet is None:
                self.concealed_frames += 1
                following = slot.next_packet
                self._deliver(self._decoder.conceal(following.payload if following else None))
            else:
                self._decode(slot.packet.payload)
        buffer = self.jitter_buffer
        due = buffer.next_due if buffer is not None else None
        if due is None or self.closed.is_set():
            return
        entry = self._playout_entry
        if entry is not None:
            if entry[0] <= due:
                return
            MediaClock.cancel(entry)
        self._playout_entry = self._media_clock().at(due, self._playout_due, due)

    def _playout_due(self, due: float) -> None:
        self._playout_entry = None
        if self.jitter_buffer is not None:
            # The clock may run it a little early: what is due then is due now.
            now = self._event_loop().time()
            self._play_out(self.jitter_buffer.pop(due if due > now else now))

    @property
    def late_or_duplicate_packets(self) -> int:
        """Packets dropped as duplicates or as come after their time."""
        buffer = self.jitter_buffer
        if buffer is None:
            return self._late_or_duplicate
        return buffer.stats.late + buffer.stats.duplicates + self._late_or_duplicate

    def _arrival_order(self, packet: RTPPacket) -> None:
        """Without a jitter buffer: duplicates and late packets dropped, short gaps concealed."""
        if packet.ssrc != self._remote_ssrc:
            self._remote_ssrc = packet.ssrc
        else:
            step = sequence_distance(self._highest_sequence, packet.sequence_number)
            if step <= 0:
                self._late_or_duplicate += 1
                return
            if 1 < step <= self.max_concealed_packets + 1:
                for missing in range(step - 1):
                    next_payload = packet.payload if missing == step - 2 else None
                    self.concealed_frames += 1
                    self._deliver(self._decoder.conceal(next_payload))
        self._highest_sequence = packet.sequence_number
        self._decode(packet.payload)

    def _decode(self, payload: bytes) -> None:
        try:
            pcm = self._decoder.decode(payload)
        except (CodecError, ValueError) as error:
            self.decode_errors += 1
            if self.decode_errors & (self.decode_errors - 1) == 0:
                logger.warning(
                    "%r: undecodable %s payload (%s); concealed (%d so far)",
                    self,
                    self.codec.encoding_name,
                    error,
                    self.decode_errors,
                )
            pcm = self._decoder.conceal()
        self._deliver(pcm)

    def accepts_payload_type(self, payload_type: int) -> bool:
        """The negotiated codec's payload types, and telephone-event."""
        return (
            payload_type in self.receive_payload_types or payload_type in self._event_payload_types
        )

    # DTMF [RFC 4733] -------------------------------------------------------------------------

    def dtmf_received(self, digit: str, duration: float | None) -> None:
        """A key pressed by the remote: ``0``-``9``, ``*``, ``#``, ``A``-``D``, ``!`` (flash).

        ``duration`` in seconds; ``None`` when the peer did not say (a SIP
        INFO without Duration). RFC 4733 events are reported once each,
        however many end packets arrive. Override it; the default logs it.
        """
        logger.info("%r: DTMF %s (%s s)", self, digit, duration)

    def _telephone_event_received(self, packet: RTPPacket) -> None:
        receiver = self._dtmf_receiver
        if receiver is None:
            receiver = self._dtmf_receiver = DTMFReceiver(self.telephone_event_clock_rate)
        now = self._event_loop().time()
        try:
            digits = receiver.feed(packet, now)
        except ParseError as error:
            self.dtmf_errors += 1
            if self.dtmf_errors & (self.dtmf_errors - 1) == 0:
                logger.warning(
                    "%r: bad telephone-event dropped: %s (%d so far)", self, error, self.dtmf_errors
                )
            return
        self._report_digits(digits)
        if self._dtmf_expiry is not None:
            self._dtmf_expiry.cancel()
            self._dtmf_expiry = None
        deadline = receiver.deadline
        if deadline is not None:  # an event without its end packets ends by timeout
            self._dtmf_expiry = self._event_loop().call_at(deadline + 0.001, self._expire_dtmf)

    def _expire_dtmf(self) -> None:
        self._dtmf_expiry = None
        if self._dtmf_receiver is not None and not self.closed.is_set():
            self._report_digits(self._dtmf_receiver.expire(self._event_loop().time()))

    def _report_digits(self, digits: list[tuple[str, float]]) -> None:
        for digit, duration in digits:
            try:
                self.dtmf_received(digit, duration)
            except Exception:
                logger.exception("%r: dtmf_received failed", self)

    def send_dtmf(
        self, digits: str, *, tone_duration: float = 0.1, gap: float = 0.05
    ) -> asyncio.Task[None]:
        """Send ``digits`` (``0-9 * # A-D``, ``!`` flash, ``,`` a 0.5 s pause) as RFC 4733 events.

        Each tone lasts ``tone_duration`` with ``gap`` between tones; audio
        due meanwhile is not sent (the events take its place in the stream),
        and the RTP timestamps go on from the audio's [RFC 4733 §2.5.1.2].
        Strings sent one after another are queued. Returns the task that
        sends them (await it to know they went).

        Raises:
            ValueError: a character that is no DTMF digit.
            RuntimeError: the peer took no telephone-event in SDP (the dialog's
                :meth:`~voip_core.sip.dialog.Dialog.send_dtmf_info` sends SIP INFO).
        """
        dtmf_packets(
            digits, clock_rate=8000, payload_type=0, ssrc=0, first_sequence=0, first_timestamp=0
        )
        if self.telephone_event_payload_type is None:
            raise RuntimeError(f"{self!r}: the peer did not negotiate telephone-event [RFC 4733]")
        loop = self._event_loop()
        previous = self._dtmf_sender
        task = loop.create_task(self._send_events(digits, tone_duration, gap, previous))
        self._dtmf_sender = task
        task.add_done_callback(self._sender_done)
        return task

    async def _send_events(
        self, digits: str, tone_duration: float, gap: float, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.shield(previous)
        assert self.telephone_event_payload_type is not None
        loop = self._event_loop()
        start = loop.time()
        rate_ratio = self.telephone_event_clock_rate / self.codec.clock_rate
        schedule = dtmf_packets(
            digits,
            clock_rate=self.telephone_event_clock_rate,
            payload_type=self.telephone_event_payload_type,
            ssrc=self.ssrc,
            first_sequence=0,
            first_timestamp=round(self._timestamp_at(start) * rate_ratio) & 0xFFFFFFFF,
            tone_duration=tone_duration,
            gap=gap,
            packet_interval=self.rtp_packet_duration,
        )
        self._sending_events = True
        try:
            for offset, packet in schedule.packets:
                await asyncio.sleep(max(0.0, start + offset - loop.time()))
                packet.sequence_number = self._sequence_number
                self._sequence_number = (self._sequence_number + 1) & 0xFFFF
                self.send_packet(packet)
                self._last_packet_time = loop.time()
        finally:
            self._sending_events = False
            self._timestamp = round(schedule.next_timestamp / rate_ratio) & 0xFFFFFFFF
            self._last_packet_time = loop.time()

    def _timestamp_at(self, now: float) -> int:
        """The RTP timestamp of a packet sent at ``now``, going on from the last one sent."""
        if self._last_packet_time is None:
            return self._timestamp
        silent = max(0, round((now - self._last_packet_time) / self.rtp_packet_duration) - 1)
        return (self._timestamp + silent * self.codec.timestamp_increment) & 0xFFFFFFFF

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _media_clock(self) -> MediaClock:
        """The loop's :class:`~voip_core.rtp.clock.MediaClock`: it paces sending and play-out."""
        clock = self._clock
        if clock is None:
            clock = self._clock = MediaClock.of(self._event_loop())
        return clock

    def _deliver(self, pcm: FloatArray) -> None:
        inbound = self._inbound_resampler or self._inbound
        if inbound.passthrough and len(pcm) == self.frame_size and not len(inbound.fifo):
            self._hand_over(pcm)  # a whole frame at the app's rate: no copy through the FIFO
            return
        frame = inbound.push_frame(pcm, self.frame_size)
        if frame is not None:
            self._hand_over(frame)  # the packet's frame, whole: no copy through the FIFO
            return
        pop, size = inbound.fifo.pop, self.frame_size
        while (frame := pop(size)) is not None:
            self._hand_over(frame)

    def _hand_over(self, frame: FloatArray) -> None:
        if self.recorder is not None:
            # Placed by the media clock (the jitter buffer's schedule), so that
            # the event loop running late does not open gaps in the recording.
            at = self._media_time if self._media_time is not None else self._event_loop().time()
            self.recorder.heard(frame, at)
        self.audio_received(audio=frame, rms=self.rms(frame))

    def flush_inbound(self) -> None:
        """Deliver what the jitter buffer and the resampler still hold (the remote stopped).

        The last partial frame is padded with silence.
        """
        if self.jitter_buffer is not None and len(self.jitter_buffer):
            self._play_out(self.jitter_buffer.flush())
        self._inbound.finish()
        for frame in self._inbound.pop_frames(self.frame_size):
            self._hand_over(frame)
        rest = self._inbound.fifo.pop_all()
        if len(rest):
            frame = np.zeros(self.frame_size, np.float32)
            frame[: len(rest)] = rest
            self._hand_over(frame)

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        """Called with each frame of received audio (``frame_size`` samples). Override it."""

    # Sending --------------------------------------------------------------------------------

    def send_audio(self, audio: FloatArray) -> None:
        """Queue mono float audio at ``sampling_rate_hz`` to be sent; returns at once.

        Audio queued by consecutive calls is sent back to back without a seam,
        so a TTS may call this with each chunk as it comes, and a bridge with
        every 20 ms it receives. :meth:`on_audio_sent` is called when
        everything queued has been sent. Safe to call from another thread.

        Raises:
            ValueError: ``audio`` is not one-dimensional floating-point audio.
        """
        samples = np.asarray(audio)
        if samples.ndim != 1 or samples.dtype.kind != "f":
            raise ValueError(
                f"send_audio takes 1-D float audio (full scale 1.0), got {samples.dtype} "
                f"with shape {samples.shape}"
            )
        samples = samples.astype(np.float32)  # a copy: the caller may reuse its array
        if not np.isfinite(samples).all():
            np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or (self._loop is not None and running is not self._loop):
            if self._loop is None:
                raise RuntimeError("send_audio needs the call's event loop to be running")
            self._loop.call_soon_threadsafe(self._queue_audio, samples)
            return
        self._loop = running
        self._queue_audio(samples)

    def _queue_audio(self, samples: FloatArray) -> None:
        if self.closed.is_set():
            logger.debug("%r: closed; %d samples not sent", self, len(samples))
            return
        assert self._loop is not None
        if len(samples):
            # Resampled as the sender needs it (_feed_outbound): a long reply
            # queued at once does not hold the loop up, nor every call's packets.
            self._pending_out.append(samples)
            self._pending_out_samples += len(samples)
        self._last_push_time = self._loop.time()
        self._idle = False
        self._start_sender()

    #: Audio queued by :meth:`send_audio` is resampled this many packets at a time.
    resample_ahead_packets: ClassVar[int] = 5

    def _feed_outbound(self, needed: int) -> None:
        """Resample queued audio until the FIFO holds ``needed`` samples or none is left."""
        outbound = self._outbound
        fifo = outbound.fifo
        pending = self._pending_out
        piece_size = self.frame_size * self.resample_ahead_packets
        while pending and len(fifo) < needed:
            head = pending[0]
            if len(head) <= piece_size:
                piece = pending.popleft()
            else:
                piece, pending[0] = head[:piece_size], head[piece_size:]
            self._pending_out_samples -= len(piece)
            outbound.push(piece)

    def _start_sender(self) -> None:
        """Start a stream of packets, unless one is under way (or the call has closed)."""
        if self.closed.is_set() or self._sending_audio:
            return
        loop = self._event_loop()
        duration = self.rtp_packet_duration
        start = loop.time()
        last = self._last_packet_time
        if last is not None:
            # Never closer than one packet time to the previous talkspurt (after a
            # barge-in), and the timestamp keeps counting through the silence
            # [RFC 3550 §5.1].
            start = max(start, last + duration)
            silent = max(0, round((start - last) / duration) - 1)
            self._timestamp = (
                self._timestamp + silent * self.codec.timestamp_increment
            ) & 0xFFFFFFFF
        # The first packet after a time without packets starts a talkspurt
        # [RFC 3551 §4.1]; a stream that goes on (comfort silence) has none.
        self._send_marker = last is None or start - last > 1.5 * duration
        self._sending_audio = True
        self._send_generation += 1
        self._send_start = start
        self._send_index = 0
        self._send_entry = self._media_clock().at(start, self._send_tick)

    def _stop_sender(self) -> None:
        self._sending_audio = False
        self._send_generation += 1
        if self._send_entry is not None:
            MediaClock.cancel(self._send_entry)
            self._send_entry = None

    def _end_stream(self) -> None:
        """Nothing more to send: the stream ends, and the app hears so."""
        self._stop_sender()
        if not self._idle:
            self._idle = True
            self.on_audio_sent()

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%r: sending DTMF failed", self, exc_info=task.exception())

    def cancel_outbound_audio(self) -> None:
        """Drop all queued audio; sending stops before the next packet.

        With :attr:`comfort_silence`, silence goes on from the next packet time.
        """
        self._stop_sender()
        self._pending_out.clear()
        self._pending_out_samples = 0
        if self._outbound_resampler is not None:  # none made: nothing queued
            self._outbound_resampler.reset()
        self._idle = True
        if self.comfort_silence and not self.closed.is_set():
            self._event_loop().call_soon(self._start_sender)

    @property
    def sending(self) -> bool:
        """True while queued audio is being sent (not silence)."""
        return self._sending_audio and not self._idle

    @property
    def outbound_queued(self) -> float:
        """Seconds of audio queued with :meth:`send_audio` and not sent yet.

        What was sent of a reply so far is what was queued minus this: a
        voice agent that is interrupted knows how much of its answer was heard.
        """
        queued = self._pending_out_samples / self.sampling_rate_hz
        resampler = self._outbound_resampler
        if resampler is None:
            return queued
        return queued + len(resampler.fifo) / self._resampling[0]

    #: With nothing to say, send silent packets (True) or none (False, the
    #: default: RFC 3551 §4.1 lets a sender stop between talkspurts). Some
    #: carriers and NATs drop a call, or close its pinhole, when no RTP comes
    #: from our side for a while; they want a steady stream from the start.
    comfort_silence: ClassVar[bool] = False

    def on_audio_sent(self) -> None:
        """Called when all audio queued with :meth:`send_audio` has been sent. Override it."""

    #: When the sender is this many packets behind its schedule (the event loop
    #: was blocked), it starts a new schedule instead of sending a burst.
    max_catch_up_packets: ClassVar[int] = 3

    def _send_tick(self, _: object = None) -> None:
        """Send the packet due now and schedule the next one.

        Each packet is due at the stream's start plus its index times the
        packet duration, on the loop's clock, so that pacing does not drift.
        """
        self._send_entry = None
        try:
            self._send_next()
        except Exception:
            self._stop_sender()
            logger.exception("%r: sending audio failed", self)

    def _send_next(self) -> None:
        if self.closed.is_set():
            self._end_stream()
            return
        loop = self._event_loop()
        duration = self.rtp_packet_duration
        index = self._send_index
        due = self._send_start + index * duration
        now = loop.time()
        if now - due > self.max_catch_up_packets * duration:
            self._send_start, due = now - index * duration, now  # the loop stalled: no burst
        samples = self.codec.samples_per_frame
        outbound = self._outbound
        fifo = outbound.fifo
        frame = fifo.pop(samples)
        if frame is None and self._pending_out:
            self._feed_outbound(samples)
            frame = fifo.pop(samples)
        if frame is None:
            if outbound.holding and now - self._last_push_time < outbound.latency + 2 * duration:
                # The resampler still holds audio and the app is still feeding
                # it: skip this packet time rather than end the stream.
                self._timestamp = (self._timestamp + self.codec.timestamp_increment) & 0xFFFFFFFF
                self._send_marker = True
                self._schedule_next(index + 1)
                return
            outbound.finish()
            frame = fifo.pop(samples)
            if frame is None:
                rest = fifo.pop_all()
                if not len(rest):
                    if not self.comfort_silence:
                        self._end_stream()
                        return
                    if not self._idle:  # what was queued has gone
                        self._idle = True
                        generation = self._send_generation
                        self.on_audio_sent()
                        if generation != self._send_generation:
                            return  # the app cancelled (and maybe restarted) meanwhile
                frame = np.zeros(samples, np.float32)
                frame[: len(rest)] = rest
        # After a frame with nothing to send (DTX) the next packet starts a talkspurt.
        self._media_time_out = due
        self._send_marker = not self._send_frame(frame, marker=self._send_marker)
        self._schedule_next(index + 1)

    def _schedule_next(self, index: int) -> None:
        if self._sending_audio and not self.closed.is_set():
            self._send_index = index
            due = self._send_start + index * self.rtp_packet_duration
            self._send_entry = self._media_clock().at(due, self._send_tick)

    def _send_frame(self, frame: FloatArray, *, marker: bool) -> bool:
        """Encode and send one frame; False when the codec had nothing to send (DTX)."""
        assert self.codec.payload_type is not None
        if self._sending_events:
            return False  # DTMF replaces the audio meanwhile; the events keep the timestamps
        payload = self._encoder.encode(frame)
        timestamp = self._timestamp
        self._timestamp = (timestamp + self.codec.timestamp_increment) & 0xFFFFFFFF
        if self.recorder is not None:
            self.recorder.said(frame, self._resampling[0], self._media_time_out)
        if not payload:
            return False
        packet = RTPPacket(
            marker=marker,
            payload_type=self.codec.payload_type,
            sequence_number=self._sequence_number,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
        )
        self.send_packet(packet)
        self._sequence_number = (self._sequence_number + 1) & 0xFFFF
        self._last_packet_time = self._event_loop().time()
        return True

    # Playing and recording ----------------------------------------------------------------

    #: Record every call of this class into this folder (one WAV per call, written
    #: when the call ends, named after its start time and caller); None: do not.
    record_to: ClassVar[str | Path | None] = None
    #: How :attr:`record_to` files are laid out (see :meth:`CallRecorder.write`).
    record_layout: ClassVar[str] = "stereo"

    def start_recording(self) -> CallRecorder:
        """Record both directions from now on; returns the :class:`CallRecorder`.

        Write it when you like (``call.recorder.write("call.wav")``); with
        :attr:`record_to` set, calls record from the start and write themselves.
        """
        if self.recorder is None:
            outgoing = bool(getattr(self.dialog, "outgoing", False))
            self.recorder = CallRecorder(self.sampling_rate_hz, we_called=outgoing)
        return self.recorder

    def send_wav(self, path: str | Path) -> float:
        """Queue a WAV file (PCM, any rate and channel count) to be sent; returns its seconds.

        Channels are mixed down and the rate converted (soxr) to
        ``sampling_rate_hz``; :meth:`on_audio_sent` follows when it has gone.
        """
        audio, rate = read_wav(path)
        if rate != self.sampling_rate_hz:
            audio = resample(audio, rate, self.sampling_rate_hz)
        self.send_audio(audio)
        return len(audio) / self.sampling_rate_hz

    def _save_recording(self) -> None:
        recorder, folder = self.recorder, self.record_to
        if recorder is None or folder is None or recorder.duration == 0:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._started_at))
        who = re.sub(r"[^A-Za-z0-9@._+-]+", "_", str(self.caller or "unknown"))[:80]
        path = Path(folder) / f"{stamp}-{who}-{self.ssrc:08x}.wav"
        layout = self.record_layout

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            for written in recorder.write(path, layout):
                logger.info("%r: recorded to %s", self, written)

        # A long call makes a large file: written off the event loop.
        saving = self._event_loop().run_in_executor(None, write)
        _saving.add(saving)
        saving.add_done_callback(_saved)

    def close(self) -> None:
        """Stop sending and receiving (and write the recording, with :attr:`record_to`)."""
        if hasattr(self, "_outbound_resampler") and not self.closed.is_set():
            self._save_recording()
            if self.jitter_buffer is not None:
                logger.info(
                    "%r: %d packets received, jitter buffer %s, delay %.0f ms",
                    self,
                    self.packets_received,
                    self.jitter_buffer.stats,
                    self.jitter_buffer.target_delay * 1000,
                )
        if hasattr(self, "_outbound_resampler"):  # past the codec negotiation
            self.cancel_outbound_audio()
            if self._dtmf_sender is not None:
                self._dtmf_sender.cancel()
            if self._dtmf_expiry is not None:
                self._dtmf_expiry.cancel()
            if self._playout_entry is not None:
                MediaClock.cancel(self._playout_entry)
                self._playout_entry = None
        super().close()

    # Helpers --------------------------------------------------------------------------------

    @staticmethod
    def rms(audio: FloatArray) -> float:
        """Root mean square of ``audio`` (0.0 for an empty array).

        >>> AudioCall.rms(np.full(160, 0.5, np.float32))
        0.5
        """
        count = len(audio)
        if not count:
            return 0.0
        return math.sqrt(float(np.dot(audio, audio)) / count)

    @staticmethod
    def resample(audio: FloatArray, source_rate_hz: int, target_rate_hz: int) -> FloatArray:
        """Resample a whole signal (one shot, soxr HQ).

        >>> len(AudioCall.resample(np.zeros(4800, np.float32), 48000, 16000))
        1600
        """
        return resample(audio, source_rate_hz, target_rate_hz)


_saving: set[asyncio.Future[None]] = set()


def _saved(saving: asyncio.Future[None]) -> None:
    _saving.discard(saving)
    if not saving.cancelled() and saving.exception() is not None:
        logger.error("writing a call recording failed: %s", saving.exception())
