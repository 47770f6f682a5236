"""Pure text functions shared by the services (same result compiled or from source)."""

import re
import unicodedata
import zlib

INTENTS = (
    ("greeting", ("hello", "hi", "hey", "morning", "evening")),
    ("viewing", ("viewing", "visit", "view", "appointment", "tour")),
    ("price", ("price", "cost", "rent", "offer", "budget")),
    ("goodbye", ("bye", "goodbye", "thanks", "thank")),
)
REPLIES = {
    "greeting": "Hello! How can HomeChoice help you today?",
    "viewing": "We can book a viewing. Which day suits you?",
    "price": "Prices are listed on each property page; ask for a specific address.",
    "goodbye": "Thank you for contacting HomeChoice.",
    "unknown": "Sorry, I did not catch that. Ask about viewings or prices.",
}


def slugify(text):
    """Lower-case ASCII words joined by hyphens: 'Café Nord 12' -> 'cafe-nord-12'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def words(text):
    """The lower-case words of `text`."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_count(text):
    """How many words `text` has."""
    return len(words(text))


def truncate(text, width, marker="..."):
    """`text` cut to at most `width` characters, ending in `marker` when cut."""
    if len(text) <= width:
        return text
    if width <= len(marker):
        return marker[:width]
    return text[: width - len(marker)].rstrip() + marker


def wrap(text, width):
    """`text` broken into lines of at most `width` characters at word boundaries."""
    lines, current = [], ""
    for word in text.split():
        candidate = word if not current else current + " " + word
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def checksum(text):
    """CRC-32 of the UTF-8 text as eight hex digits."""
    return "%08x" % (zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF)


def trigrams(text):
    """Counts of the character trigrams of the normalised text."""
    padded = "  " + " ".join(words(text)) + " "
    counts = {}
    for index in range(len(padded) - 2):
        gram = padded[index:index + 3]
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def detect_intent(text):
    """The first intent whose keywords occur in `text`, else 'unknown'."""
    present = set(words(text))
    for intent, keywords in INTENTS:
        if present.intersection(keywords):
            return intent
    return "unknown"


def reply_for(text):
    """The canned reply to a customer message."""
    return REPLIES[detect_intent(text)]
