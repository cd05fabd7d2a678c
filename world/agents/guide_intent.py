"""What a line says to the guide, decided by explicit rules over the world file's data.

Kinds: here, look, take, event (one event by name), events (what is on, for a time and/or
place), hours, where (a place or amenity), yes, no, thanks, bye, greet, small (small talk,
`topic` says which), unknown (a where-question about something the world does not have,
`text` holds the thing), when_unknown (a when-question about an event the world does not
have), help, other. Pure: the clock is passed in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from world.agents import schedule, wayfinding
from world.agents.intent import BYE, GREET, THANKS, Intent, is_no, is_yes, norm
from world.agents.memory import STOP_WORDS
from world.space.world_def import Place

if TYPE_CHECKING:
    from world.space.world_def import World

WHERE = re.compile(r"\b(where|how (do|can|would|could) i (get|go|find|reach)|how to get|directions?|way to|"
                   r"find the|find a|find some|looking for|location of|which way|is there|are there|"
                   r"any\b.*\b(around|near|nearby)|nearest|closest|do you have|have you got|i need)\b")
TAKE = re.compile(r"\b(take me|walk me|bring me|lead me|show me the way|show me where|guide me|"
                  r"can you take|could you take|will you take|walk with me|go with me)\b")
EVENTS = re.compile(r"\b(events?|happening|going on|schedule|programme|program|what's on|whats on|what is on|"
                    r"anything on|something on|is there anything|activities|activity|anything to do|"
                    r"things to do|something to do|there to do|what can i do|what should i do|what to do|anything fun|"
                    r"something fun|i'm bored|i am bored|on tonight|on today|on tomorrow|on this)\b")
WHEN = re.compile(r"^(?:and |so |hey |ok |okay )?(when|what time|what day|which day|how often|at what time)\b")
UNKNOWN_EVENT = re.compile(r"^(?:and |so )?(?:when|what time|what day|which day)(?:'s| is| are| does| do| will)?"
                           r" (?:the |a |an |your |that )?(.+?)(?: start| starts| begin| begins| on| happening|"
                           r" take place| be)?$")
HOURS = re.compile(r"\b(open|opens|opening|close|closes|closing|hours)\b")
WHO_THAT = re.compile(r"\b(who is that|who's that|whos that|what is that|what's that|whats that|"
                      r"what am i looking at|who am i looking at|what is this|what's this|what do i see)\b")
HERE = re.compile(r"\b(where am i|what is this place|what's this place|where are we|what place is this)\b")
HELP = re.compile(r"\b(what can you do|what do you do|can you help|could you help|help me|i need help|"
                  r"how does this work|what can i ask|help)\b")
# Small talk: a short friendly answer that claims nothing about the world.
SMALL = [
    ("how_are_you", re.compile(r"\b(how are you|how're you|how r u|how are things|how's it going|hows it going|"
                               r"how is it going|how do you do|how have you been|what's up|whats up|"
                               r"how's your day|how is your day|you ok|you alright|how you doing|"
                               r"how are you doing)\b")),
    ("who_are_you", re.compile(r"\b(who are you|what are you|what's your name|whats your name|what is your name|"
                               r"your name|introduce yourself|who am i talking to|what's your job)\b")),
    ("bot", re.compile(r"\b(are you (a |an )?(robot|bot|ai|human|real|person|computer|machine|program|npc))\b")),
    ("weather", re.compile(r"\b(weather|sunny|raining|rainy|it's hot|it's cold|it's warm|lovely day|nice day|"
                           r"beautiful day|sunshine)\b")),
    ("new_here", re.compile(r"\b(i'm new|i am new|first time|just arrived|new here|first visit)\b")),
    ("nice_to_meet", re.compile(r"\b(nice to meet you|pleased to meet you|good to meet you|nice meeting you)\b")),
    ("compliment", re.compile(r"\b(you're (so |very |really )?(nice|helpful|great|awesome|kind|lovely|the best|"
                              r"cool|smart|amazing)|good job|well done|you are (so |very )?(nice|helpful|great|"
                              r"kind|lovely))\b")),
    ("like_it", re.compile(r"^(i (really )?(like|love|enjoy)|(it's|its|this is|what a) (so |really )?"
                           r"(a )?(lovely|nice|beautiful|great|pretty|cool))")),
    ("joke", re.compile(r"\b(tell me a joke|know any jokes|say something funny|make me laugh)\b")),
]


def guide_intent(text: str, world: World, now: datetime | None = None) -> Intent:
    """What a line asks the guide for; `now` (default: the local clock) dates "tonight"."""
    t = norm(text)
    now = now or datetime.now()
    if not t:
        return Intent("other", text=text)
    if HERE.search(t):
        return Intent("here", text=text)
    if WHO_THAT.search(t):
        return Intent("look", text=text)
    target = wayfinding.find_target(world, t)
    event = wayfinding.find_event(world, t)
    place = target if isinstance(target, Place) else None
    question = text.strip().endswith("?") or bool(re.match(r"^(what|where|when|who|which|how|is|are|do|does|"
                                                          r"can|could|any|anything)\b", t))
    if TAKE.search(t) and (target is not None or event is not None):
        if target is None:
            target = place = world.place(event.place)
        return Intent("take", place, text, target=target)
    if event is not None:
        return Intent("event", world.place(event.place), text, event=event)
    slot = schedule.parse_slot(t, now)
    if place is not None and HOURS.search(t) and (WHEN.match(t) or question) and not EVENTS.search(t):
        return Intent("hours", place, text, target=target)
    if EVENTS.search(t) or (slot is not None and place is not None and question):
        return Intent("events", place, text, slot=slot)
    small = next((topic for topic, rx in SMALL if rx.search(t)), None)
    if target is not None and small not in ("like_it", "compliment") and (
            WHERE.search(t) or question or len(t.split()) <= 4 or small is None):
        return Intent("where", place, text, target=target)
    if TAKE.search(t) or is_yes(t):
        return Intent("yes", place, text)
    if is_no(t):
        return Intent("no", text=text)
    if small is not None:
        return Intent("small", text=text, topic=small)
    if THANKS.search(t):
        return Intent("thanks", text=text)
    if BYE.search(t):
        return Intent("bye", text=text)
    if GREET.match(t):
        return Intent("greet", text=text)
    if WHEN.match(t):
        m = UNKNOWN_EVENT.match(t)
        what = m.group(1) if m else ""
        if (len(what.split()) > 4 or not re.fullmatch(r"[a-z][a-z' -]*", what)
                or all(w in STOP_WORDS for w in what.split())):
            what = ""                                # too long, odd, or "it": name nothing
        return Intent("when_unknown", text=what)
    thing = wayfinding.unknown_thing(t)
    if thing is not None or WHERE.search(t):
        kind, what = thing or ("", "")
        return Intent("where_unknown", text=what, topic=kind)
    if slot is not None and question:
        return Intent("events", None, text, slot=slot)
    if HELP.search(t):
        return Intent("help", text=text)
    return Intent("other", text=text)
