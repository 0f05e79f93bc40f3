"""Ready-made apps: PlayCall (say a WAV file) and RecordCall (record whoever calls).

>>> from voip_core.audio import RecordCall
>>> RecordCall.record_to, RecordCall.record_layout
('recordings', 'stereo')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from voip_core.audio.call import AudioCall

__all__ = ["PlayCall", "RecordCall"]


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class PlayCall(AudioCall):
    """Plays a WAV file (any rate, any channels) as soon as the call starts.

    Pass it per call (``user_agent.dial(uri, app=PlayCall, play="hello.wav")``)
    or set :attr:`wav_file` on a subclass. With ``hang_up_after`` the call
    ends when the file has been sent.

    Args:
        play: The WAV file to play (default :attr:`wav_file`).
        hang_up_after: Hang up once the file has been sent.
    """

    #: The file a subclass plays when no ``play`` is given.
    wav_file: ClassVar[str | Path | None] = None

    play: str | Path | None = None
    hang_up_after: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        path = self.play or self.wav_file
        #: Seconds of audio queued from the file (0.0 without one).
        self.played = self.send_wav(path) if path is not None else 0.0

    def on_audio_sent(self) -> None:
        if self.hang_up_after and self.played:
            self.hang_up()


class RecordCall(AudioCall):
    """Answers and records both directions to :attr:`record_to` until the caller hangs up.

    ``voip serve --app record --record-dir DIR`` uses it: one stereo WAV per
    call (caller left, callee right), named after its start time and caller.
    """

    record_to: ClassVar[str | Path | None] = "recordings"
