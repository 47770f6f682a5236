"""JSON decoding through ujson when it is installed (it is left out on ARM), else json."""

import json


def json_module():
    """ujson when importable, else the standard library json."""
    try:
        import ujson
    except ImportError:
        return json
    return ujson


def loads(data):
    """Parse JSON text or bytes."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json_module().loads(data)


def engine():
    """The name of the JSON library in use."""
    return json_module().__name__
