"""A tiny PNG writer (zlib + struct only) and an RGB canvas to draw status images on."""

import struct
import zlib

from ObjGlyph import GLYPH_HEIGHT, GLYPH_WIDTH, glyph

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data):
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width, height, pixels):
    """An 8-bit RGB PNG from `pixels`: height rows of width*3 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3:(y + 1) * width * 3])
                   for y in range(height))
    return (SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


class ObjPng:
    """An RGB canvas with rectangles and block-letter text, written out as PNG."""

    def __init__(self, width, height, background=(255, 255, 255)):
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def fill(self, x, y, w, h, color):
        """Fill a rectangle, clipped to the canvas."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(color) * (x1 - x0)
        for line in range(y0, y1):
            start = (line * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x, y, message, color, scale=2):
        """Draw `message` in block letters; returns the x after the last letter."""
        for char in message:
            rows = glyph(char)
            for gy in range(GLYPH_HEIGHT):
                for gx in range(GLYPH_WIDTH):
                    if rows[gy * GLYPH_WIDTH + gx] == "1":
                        self.fill(x + gx * scale, y + gy * scale, scale, scale, color)
            x += (GLYPH_WIDTH + 1) * scale
        return x

    def encode(self):
        """The canvas as PNG bytes."""
        return png_bytes(self.width, self.height, self.pixels)
