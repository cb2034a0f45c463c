"""zeroconf (mDNS / DNS-SD) adapter: register this peer's service, browse for others.

Thin on purpose: it turns browser callbacks into validated `TxtRecord`s + addresses for the
peer table and keeps our own PTR/SRV/TXT/A records current (TXT follows state changes).
It runs on the caller's asyncio loop (zeroconf's asyncio API) and degrades to "no mDNS"
with a warning when multicast sockets cannot be opened (`--peer` still works then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from discovery.txt import TxtRecord, parse_txt

_TYPE_SRV = 33  # DNS record type SRV (RFC 2782)
_CLASS_IN = 1  # DNS class IN

log = logging.getLogger(__name__)

RecordCallback = Callable[[str, TxtRecord, list[str], int], None]  # instance, record, addrs, port


class MdnsAdapter:
    def __init__(
        self,
        service_type: str,
        *,
        interfaces: list[str],
        on_record: RecordCallback,
        on_removed: Callable[[str], None],
        v6_interfaces: list[int] | None = None,
        v6_addresses: list[str] | None = None,
    ) -> None:
        self.service_type = service_type
        self.interfaces = interfaces
        self.v6_interfaces = list(v6_interfaces or [])
        self.v6_addresses = list(v6_addresses or [])
        self.on_record = on_record
        self.on_removed = on_removed
        self.azc: AsyncZeroconf | None = None
        self.browser: AsyncServiceBrowser | None = None
        self.info: AsyncServiceInfo | None = None
        self.error: str | None = None
        self.times: dict[str, float] = {}  # wall-clock milestones, for benchmarks
        self._tasks: set[asyncio.Task] = set()
        self._resolving: set[str] = set()
        self._pending_txt: dict[str, str] | None = None

    async def start(self) -> bool:
        """Open the sockets and start browsing; False (and `error`) if mDNS is unusable."""
        try:
            self.azc = None
            if self.v6_interfaces:
                try:
                    self.azc = AsyncZeroconf(interfaces=[*self.interfaces, *self.v6_interfaces],
                                             ip_version=IPVersion.All)
                except Exception as exc:  # noqa: BLE001 - IPv6 is a bonus: fall back to IPv4
                    log.info("mDNS over IPv6 unavailable (%s); IPv4 only", exc)
                    self.v6_addresses = []
            if self.azc is None:
                self.v6_addresses = []
                self.azc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
            self.browser = AsyncServiceBrowser(
                self.azc.zeroconf, [self.service_type], handlers=[self._on_change])
        except Exception as exc:  # noqa: BLE001 - no multicast must never stop the peer
            self.error = f"mDNS unavailable on {', '.join(self.interfaces) or 'any interface'}: {exc}"
            log.warning("%s; add peers with --peer HOST", self.error)
            await self._close_quietly()
            return False
        self.times["browsing"] = time.time()
        return True

    async def register(self, instance: str, server: str, port: int, txt: dict[str, str],
                       addresses: list[str]) -> None:
        """Probe and announce our service (probing takes ~1 s; the caller does not wait)."""
        if self.azc is None:
            return
        self.info = AsyncServiceInfo(
            self.service_type, instance, port=port, properties=txt, server=server,
            parsed_addresses=[*addresses, *self.v6_addresses])
        self.times["registering"] = time.time()
        try:
            announced = await self.azc.async_register_service(self.info, allow_name_change=True)
            self.times["registered"] = time.time()
            await announced
            self.times["announced"] = time.time()
            if self._pending_txt is not None:
                # the state changed while we were probing or announcing: publish it only now.
                # The registration's announcements carry the TXT they started with, so an
                # update sent while they still run could be overwritten in caches by them.
                txt, self._pending_txt = self._pending_txt, None
                await self.update(txt)
        except Exception as exc:  # noqa: BLE001 - mDNS trouble must not take the peer down
            self.error = f"mDNS registration failed: {exc}"
            log.warning("%s", self.error)

    async def update(self, txt: dict[str, str]) -> None:
        """Publish a new TXT record (state or match change)."""
        if self.azc is None:
            return
        if self.info is None or "announced" not in self.times:
            self._pending_txt = txt  # published as soon as the registration is announced
            return
        info = self.info
        self.info = AsyncServiceInfo(
            info.type, info.name, port=info.port, properties=txt, server=info.server,
            parsed_addresses=info.parsed_addresses())
        try:
            await self.azc.async_update_service(self.info)
        except Exception as exc:  # noqa: BLE001
            log.warning("mDNS update failed: %s", exc)

    async def close(self) -> None:
        """Goodbye packets (TTL 0) for our records, then close the sockets."""
        for task in list(self._tasks):
            task.cancel()
        if self.azc is None:
            return
        try:
            if self.browser is not None:
                await self.browser.async_cancel()
            if self.info is not None and "registered" in self.times:
                await self.azc.async_unregister_service(self.info)
        except Exception as exc:  # noqa: BLE001
            log.debug("mDNS goodbye failed: %s", exc)
        await self._close_quietly()

    async def _close_quietly(self) -> None:
        azc, self.azc = self.azc, None
        if azc is not None:
            try:
                await azc.async_close()
            except Exception as exc:  # noqa: BLE001
                log.debug("zeroconf close: %s", exc)

    # -- browsing -----------------------------------------------------------------------
    def _on_change(self, zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if self.info is not None and name.lower() == self.info.name.lower():
            if state_change is not ServiceStateChange.Removed and self._foreign_srv(name):
                self._spawn_resolve(name)  # a twin under our own name: the service warns
            return
        if state_change is ServiceStateChange.Removed:
            self.on_removed(name)
            return
        self._spawn_resolve(name)

    def _foreign_srv(self, name: str) -> bool:
        """A cached SRV record of our own instance name that is not ours: another process
        registered the same name (our peer id, so the same identity) and zeroconf's name
        probe did not catch it, as it can miss when both start at nearly the same time."""
        assert self.info is not None and self.azc is not None
        srvs = self.azc.zeroconf.cache.async_all_by_details(name, _TYPE_SRV, _CLASS_IN)
        ours = (self.info.port, (self.info.server or "").lower())
        return any((r.port, r.server.lower()) != ours for r in srvs)

    def _spawn_resolve(self, name: str) -> None:
        if name in self._resolving:
            return
        self._resolving.add(name)
        task = asyncio.ensure_future(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        try:
            if self.azc is None:
                return
            info = AsyncServiceInfo(self.service_type, name)
            if not info.load_from_cache(self.azc.zeroconf):
                if not await info.async_request(self.azc.zeroconf, 1500):
                    log.debug("could not resolve %s", name)
                    return
            record = parse_txt(info.properties or {})
            addrs = info.parsed_addresses(IPVersion.V4Only)
            if record is None or not addrs or not info.port:
                log.info("ignoring DNS-SD record %s: invalid TXT or no address", name)
                return
            self.on_record(name, record, addrs, info.port)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a strange record must not stop browsing
            log.warning("resolving %s failed: %s", name, exc)
        finally:
            self._resolving.discard(name)
