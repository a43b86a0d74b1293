"""A TCP proxy in front of PostgreSQL that a test can cut and restore: a database outage on demand."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlparse


class PgProxy:
    def __init__(self, upstream_dsn: str) -> None:
        url = urlparse(upstream_dsn)
        query = parse_qs(url.query)
        self.unix_dir = query.get("host", [None])[0] if not url.hostname else None
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 5432
        self.user = url.username or "postgres"
        self.database = url.path.lstrip("/") or "postgres"
        self.up = True
        self.black_hole = False  # packets silently lost: connections stay open, nothing ever answers
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.listen_port = 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.listen_port}/{self.database}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """The database goes away: open connections drop, new ones are refused."""
        self.up = False
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True
        self.black_hole = False

    def lose_packets(self) -> None:
        """The database vanishes without a word (a partition, not a refusal): every byte is dropped."""
        self.black_hole = True

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            if self.unix_dir:
                up_reader, up_writer = await asyncio.open_unix_connection(f"{self.unix_dir}/.s.PGSQL.{self.port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while self.up and (data := await src.read(65536)):
                    if self.black_hole:
                        continue
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)
