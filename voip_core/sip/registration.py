"""Registration with a registrar: REGISTER, refresh before expiry, unregister [RFC 3261 §10].

A :class:`Registration` binds our Contact to an address of record (AOR) so
that calls to the AOR reach this user agent. It answers digest challenges
through the user agent's credentials, keeps one Call-ID with a growing CSeq
for all its REGISTERs [RFC 3261 §10.2.4], takes the expiry the registrar
granted (the Contact's ``expires`` parameter, else ``Expires``) and
refreshes before it runs out; 423 Interval Too Brief is retried with the
registrar's Min-Expires [RFC 3261 §10.2.8]. On shutdown, :meth:`unregister`
removes our binding (``expires=0``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from voip_core.errors import AuthenticationError, CallFailed, ParseError
from voip_core.sip.auth import DigestSession
from voip_core.sip.endpoint import Hop, hop_for_uri, new_tag
from voip_core.sip.message import SIPRequest, SIPResponse
from voip_core.sip.uri import SIPURI

if TYPE_CHECKING:
    from voip_core.sip.useragent import UserAgent

__all__ = ["Registration", "refresh_delay"]

logger = logging.getLogger(__name__)


def refresh_delay(granted: int) -> float:
    """Seconds after a successful REGISTER to send the next one.

    Well before expiry: at 90 % of a long interval, and at least half of a
    short one, so that a lost refresh can be retransmitted in time.

    >>> refresh_delay(3600), refresh_delay(60), refresh_delay(10)
    (3240.0, 54.0, 5.0)
    """
    return max(granted / 2, granted * 0.9 if granted >= 60 else granted - 5.0)


class Registration:
    """One AOR bound to our Contact at a registrar.

    Args:
        user_agent: Sends the REGISTERs (its credentials answer challenges).
        aor: The address of record (``sip:alice@example.com``).
        registrar: Where to register; default the AOR's domain (host:port).
        expires: The interval we ask for, in seconds.
        retry_interval: Wait after a failed refresh before trying again.
    """

    def __init__(
        self,
        user_agent: UserAgent,
        aor: str | SIPURI,
        *,
        registrar: str | SIPURI | None = None,
        expires: int = 3600,
        retry_interval: float = 30.0,
    ) -> None:
        self.user_agent = user_agent
        self.aor = aor if isinstance(aor, SIPURI) else SIPURI.parse(aor)
        if registrar is None:
            registrar = SIPURI(scheme=self.aor.scheme, host=self.aor.host, port=self.aor.port)
        self.registrar = registrar if isinstance(registrar, SIPURI) else SIPURI.parse(registrar)
        self.expires = expires
        self.retry_interval = retry_interval
        self.call_id = user_agent.new_call_id("voip-core")
        self.tag = new_tag()
        self.cseq = 0
        #: Seconds the registrar granted in its last 200, or 0 when not registered.
        self.granted = 0
        self.registered = asyncio.Event()
        self.digest = DigestSession()
        self._refresh: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Registration({str(self.aor)!r}, granted={self.granted})"

    async def register(self) -> int:
        """Send REGISTER until the registrar accepts; returns the granted expiry (seconds).

        Raises:
            AuthenticationError: wrong credentials, or a challenge without them.
            CallFailed: any other final error (403, 404, 408 timeout, 503 ...).
        """
        expires = self.expires
        for _ in range(3):
            response = await self._send(expires)
            if response.status_code == 423:  # Interval Too Brief [RFC 3261 §10.2.8]
                minimum = response.headers.get("Min-Expires") or ""
                if not minimum.strip().isdigit() or int(minimum) <= expires:
                    break
                expires = int(minimum)
                continue
            break
        if response.status_code in (401, 407):
            raise AuthenticationError(f"{self.aor}: {response.status_code} {response.reason}")
        if response.status_code >= 300:
            self.registered.clear()
            raise CallFailed(response.status_code, response.reason)
        self.granted = self._granted(response, expires)
        self.registered.set()
        logger.info("registered %s at %s for %d s", self.aor, self.registrar, self.granted)
        self._schedule(refresh_delay(self.granted))
        return self.granted

    async def unregister(self) -> None:
        """Remove our binding (``expires=0``) and stop refreshing [RFC 3261 §10.2.2]."""
        self._closed = True
        self._cancel_refresh()
        if not self.registered.is_set():
            return
        self.registered.clear()
        self.granted = 0
        try:
            response = await self._send(0)
        except (AuthenticationError, CallFailed) as error:
            logger.info("unregister %s failed: %s", self.aor, error)
            return
        logger.info("unregistered %s (%d)", self.aor, response.status_code)

    def close(self) -> None:
        """Stop refreshing without unregistering (the binding expires by itself)."""
        self._closed = True
        self._cancel_refresh()

    def _cancel_refresh(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        if self._refreshing is not None and self._refreshing is not asyncio.current_task():
            self._refreshing.cancel()

    def _schedule(self, delay: float) -> None:
        if self._closed:
            return
        if self._refresh is not None:
            self._refresh.cancel()
        self._refresh = self.user_agent.loop.call_later(delay, self._start_refresh)

    def _start_refresh(self) -> None:
        self._refresh = None
        self._refreshing = self.user_agent.loop.create_task(self._refresh_now())

    async def _refresh_now(self) -> None:
        try:
            await self.register()
        except (AuthenticationError, CallFailed) as error:
            logger.warning(
                "refreshing %s failed (%s); retrying in %.0f s",
                self.aor,
                error,
                self.retry_interval,
            )
            self._schedule(self.retry_interval)

    async def _send(self, expires: int) -> SIPResponse:
        ua = self.user_agent
        hop = self.hop
        contact = f"<{ua.contact_for(hop.transport)}>;expires={expires}"

        def build(extra: list[tuple[str, str]]) -> SIPRequest:
            self.cseq += 1
            return ua._build_request(
                "REGISTER",
                self.registrar,
                [
                    ("Via", ua._via(hop.transport)),
                    ("Max-Forwards", "70"),
                    ("From", f"<{self.aor}>;tag={self.tag}"),
                    ("To", f"<{self.aor}>"),
                    ("Call-ID", self.call_id),
                    ("CSeq", f"{self.cseq} REGISTER"),
                    ("Contact", contact),
                    ("Expires", str(expires)),
                    *extra,
                ],
            )

        return await ua.request(build, hop, digest=self.digest)

    @property
    def hop(self) -> Hop:
        """Where our REGISTERs go: the outbound proxy, else the registrar [RFC 3261 §10.2]."""
        ua = self.user_agent
        return hop_for_uri(ua.outbound_proxy or self.registrar, ua.default_transport)

    def _granted(self, response: SIPResponse, asked: int) -> int:
        """The interval the registrar granted our Contact [RFC 3261 §10.2.4]."""
        ours = self.user_agent.contact_for(self.hop.transport)
        try:
            for contact in response.contact:
                uri = contact.uri
                if isinstance(uri, SIPURI) and (uri.host, uri.port) == (ours.host, ours.port):
                    value = contact.parameters.get("expires")
                    if value is not None and value.isdigit():
                        return int(value)
        except ParseError:
            pass
        value = (response.headers.get("Expires") or "").strip()
        return int(value) if value.isdigit() else asked
