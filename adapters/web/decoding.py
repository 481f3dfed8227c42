"""Content-Encoding decoders that never produce more than a small piece of output per step.

httpx's own decoders inflate each network chunk in one call, so a few hundred bytes of
brotli (or 64 KB of gzip) can become hundreds of megabytes before any size check runs.
These yield output in pieces of at most OUTPUT_STEP bytes, so a caller that stops
reading at its cap has spent bounded time and memory on a decompression bomb.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import brotli
import httpx

from core.errors import NotAProductPage, TooLarge

OUTPUT_STEP = 64 * 1024

# brotli >= 1.2 can stop at an output limit; older builds cannot, so "br" is then neither
# requested nor accepted.
BROTLI_BOUNDED = hasattr(brotli.Decompressor(), "can_accept_more_data")
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI_BOUNDED else "gzip, deflate"


class DecodingFailed(Exception):
    """The body is not valid data in its declared Content-Encoding."""


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip (possibly several members) or deflate (zlib-wrapped or, as some servers send
    it, raw)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                piece = self._inflater.decompress(data, OUTPUT_STEP)
            except zlib.error as error:
                if self._wbits == zlib.MAX_WBITS and not self._started:
                    self._wbits = -zlib.MAX_WBITS  # "deflate" that is really raw deflate
                    self._inflater = zlib.decompressobj(self._wbits)
                    continue
                raise DecodingFailed(str(error)) from error
            self._started = True
            if piece:
                yield piece
            if self._inflater.eof:
                # Another gzip member may follow; anything else after the end is ignored.
                data = self._inflater.unused_data
                if data.startswith(b"\x1f\x8b") and self._wbits == 16 + zlib.MAX_WBITS:
                    self._inflater = zlib.decompressobj(self._wbits)
                else:
                    data = b""
            else:
                data = self._inflater.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        piece = self._inflater.flush(OUTPUT_STEP)
        while piece:
            yield piece
            piece = self._inflater.flush(OUTPUT_STEP)


class _Brotli:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._decompressor.process(data, output_buffer_limit=OUTPUT_STEP)
            if piece:
                yield piece
            # Output held back by the limit must be drained with empty input first.
            while not self._decompressor.can_accept_more_data():
                piece = self._decompressor.process(b"", output_buffer_limit=OUTPUT_STEP)
                if not piece:
                    break
                yield piece
        except brotli.error as error:
            raise DecodingFailed(str(error)) from error

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Chain:
    """Several encodings, applied in the order listed, so undone in reverse."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = (data,)
        for decoder in self._decoders:
            pieces = _through(decoder, pieces)
        yield from pieces

    def finish(self) -> Iterator[bytes]:
        # Flush each stage and push what it flushed through the later stages.
        for index, decoder in enumerate(self._decoders):
            pieces: Iterable[bytes] = decoder.finish()
            for later in self._decoders[index + 1 :]:
                pieces = _through(later, pieces)
            yield from pieces


def _through(decoder: Decoder, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.feed(piece)


def decoder_for(content_encoding: str | None) -> Decoder:
    """A decoder for a Content-Encoding header value; raises NotAProductPage for codings
    we did not ask for and cannot read."""
    codings = [
        coding.strip().lower()
        for coding in (content_encoding or "").split(",")
        if coding.strip() and coding.strip().lower() != "identity"
    ]
    if not codings:
        return _Identity()
    decoders: list[Decoder] = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            decoders.append(_Zlib(16 + zlib.MAX_WBITS))
        elif coding == "deflate":
            decoders.append(_Zlib(zlib.MAX_WBITS))
        elif coding == "br" and BROTLI_BOUNDED:
            decoders.append(_Brotli())
        else:
            raise NotAProductPage(
                f"The shop sent the page in an encoding I cannot read ({coding})."
            )
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed response; TooLarge as soon as it passes `limit` bytes.
    Also raises what decoder_for and a decoder do (NotAProductPage, DecodingFailed)."""
    decoder = decoder_for(response.headers.get("content-encoding"))
    # Pieces joined once at the end: one copy of a page of a megabyte or two, not two.
    pieces: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        for piece in decoder.feed(chunk):
            size += len(piece)
            if size > limit:
                raise TooLarge()
            pieces.append(piece)
    for piece in decoder.finish():
        size += len(piece)
        if size > limit:
            raise TooLarge()
        pieces.append(piece)
    return b"".join(pieces)
