"""Conversation: answers customer messages (python ServeConversation.py serve)."""

import os
import sys

# Every folder of every factory set goes on sys.path: modules import each other by bare name.
APP_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [folder for name in sorted(os.listdir(APP_ROOT)) if name.startswith("factory.")
                 for folder, _, _ in os.walk(os.path.join(APP_ROOT, name))
                 if os.path.basename(folder) != "__pycache__"]

import argparse  # noqa: E402

import jsoncodec  # noqa: E402
import textkit  # noqa: E402
from ObjHttp import error_response, json_response  # noqa: E402
from ObjService import ObjService  # noqa: E402


def message_text(request):
    """The customer's text: ?text=... or a JSON body {"text": ...}."""
    if request.method == "POST" and request.body:
        payload = jsoncodec.loads(request.body)
        return str(payload.get("text", "")) if isinstance(payload, dict) else ""
    return request.param("text")


def converse(request):
    """Reply to one message."""
    if request.path != "/message":
        return error_response(404, "send messages to <route>/message")
    try:
        text = message_text(request)
    except ValueError as exc:
        return error_response(400, "invalid JSON: %s" % exc)
    if not text.strip():
        return error_response(400, "empty message")
    return json_response({"intent": textkit.detect_intent(text),
                          "reply": textkit.reply_for(text),
                          "words": textkit.word_count(text)})


def main(argv=None):
    """Hold conversations until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, help="port (default: services.conversation.port)")
    args = parser.parse_args(argv)
    service = ObjService("conversation")
    port = args.port or service.config.service_port("conversation", 9550)
    return service.run_http(port, service.configured_route("/conversation"), converse)


if __name__ == "__main__":
    sys.exit(main())
