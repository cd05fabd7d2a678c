"""The personal companion: remembers what its owner tells it, recalls it, lists it, forgets
it on request, and says what they look at.

Facts are kept as they will be said back: "my bike is red" is stored as "your bike is red"
(world/agents/pronouns.py). A recalled memory answers a question only if it holds every
content word of the question ("what's my favourite band?" is not answered with the
favourite colour); otherwise the companion says it does not know.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from world.agents import intent as I
from world.agents import perception as P
from world.agents import pronouns
from world.agents.behaviour import Behaviour
from world.agents.memory import STOP_WORDS, stem

if TYPE_CHECKING:
    from world.agents.agent import Agent, Conversation, Heard
    from world.agents.memory import Hit

LIST_CHARS = 170         # a list of facts fits one spoken line (speech caps lines at 240)
LIST_MAX = 6
# Words a question uses that a fact need not contain: "what's my sister's name?" is answered
# by "your sister is called Ana"; "my flight number" by "your flight number is TP1234".
GENERIC = frozenset(stem(w) for w in """name names named called call number numbers thing things stuff again
exactly remember remind know knew tell told said say please actually currently now still ever don't didn't
can't won't usually kind sort type""".split())
# "what colour is my bike?": the word between the question word and "is my" names what is
# asked about the subject; the fact ("your bike is red") need not contain it.
_ATTRIBUTE_Q = re.compile(r"^\s*(?:what|which|how)\s+([a-z]+)\s+(?:is|are|was|were|does|do|did)\s+(?:my|your)\b")
# Spellings and word forms that mean the same for matching a question to a fact.
SAME = {"favorite": "favourite", "color": "colour", "colors": "colours", "allergy": "allergic",
        "allergies": "allergic", "bday": "birthday", "job": "work", "occupation": "work", "mom": "mother",
        "mum": "mother", "dad": "father", "telephone": "phone"}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def terms_of(text: str) -> frozenset[str]:
    """The content of a question or fact, as stems: "what's my dog's name?" -> {"dog"}."""
    out = set()
    for w in _WORD.findall(text.lower().replace("’", "'")):
        w = w.split("'")[0] if "'" in w and not w.endswith("n't") else w     # dog's -> dog, you're -> you
        w = SAME.get(w, w)
        if w in STOP_WORDS:
            continue
        s = stem(w)
        if s not in GENERIC:
            out.add(s)
    return frozenset(out)


def asked_terms(question: str) -> frozenset[str]:
    """What a fact must hold to answer the question: its content words, less the attribute
    asked for ("what colour is my bike?" -> {"bike"})."""
    want = terms_of(question)
    m = _ATTRIBUTE_Q.match(question.lower())
    return want - terms_of(m.group(1)) if m else want


def answers(fact: str, question_terms: frozenset[str]) -> bool:
    """The fact holds everything the question asks about."""
    return bool(question_terms) and question_terms <= terms_of(fact)


def best_answer(hits: list[Hit], question: str) -> str | None:
    """The text that answers the question: the best recalled memory holding every content
    word of it (for a summary, the sentence that does), or None."""
    want = asked_terms(question)
    for h in hits:
        if want and h.memory.kind == "summary":
            for sentence in re.split(r"(?<=[.!?])\s+", h.memory.text):
                if answers(sentence, want):
                    return sentence.strip().rstrip(".!")
        elif answers(h.memory.text, want) or (not want and h.relevance > 0):
            return h.memory.text
    return None


def known_list(facts: list[str], chars: int = LIST_CHARS, most: int = LIST_MAX) -> tuple[list[str], int]:
    """As many facts (in the order given) as fit one line; and how many are left out."""
    said: list[str] = []
    used = 0
    for f in facts[:most]:
        if said and used + len(f) + 2 > chars:
            break
        said.append(f)
        used += len(f) + 2
    return said, len(facts) - len(said)


def join_facts(facts: list[str]) -> str:
    return facts[0] if len(facts) == 1 else "; ".join(facts[:-1]) + "; and " + facts[-1]


def asked_about(question: str) -> str | None:
    """"what's my locker code?" -> "your locker code": what a don't-know answer names."""
    m = re.match(r"^\s*(?:what|what's|whats|what is|what are|who is|who's|where is|where's|when is|when's)\s+"
                 r"(my\s+[a-z][a-z' -]{1,40}?)\s*(?:again|now)?\s*\??\s*$", question.strip().lower())
    return pronouns.to_listener(m.group(1)) if m else None


def facts_to_keep(fact: str) -> list[str]:
    """What a rephrasing of a fact must keep: the fact itself, word for word. A small model
    turns "your bike is red" back into "my bike is red", or asks "what colour is your bike?";
    either is refused and the draft is said instead."""
    return [fact.strip().rstrip(".!")]


class Companion(Behaviour):
    async def respond(self, agent: Agent, h: Heard, conv: Conversation) -> None:
        host, owner = agent.host, agent.owner
        assert owner is not None
        key = agent.memory_key
        it = I.companion_intent(h.text)
        if it.kind == "remember":
            agent.allow("remember")
            fact = pronouns.to_listener(it.text)
            await host.memory.remember(key, owner, fact, I.importance(it.text))
            await host.memory.maybe_summarise(key, owner)     # off the tick (writer thread)
            await agent.say(f"Got it, I'll remember that {fact}.", facts_to_keep(fact), h)
        elif it.kind == "recall":
            agent.allow("recall")
            query = pronouns.to_listener(it.text)
            hits = await host.memory.recall(key, owner, query, k=8)
            best = best_answer(hits, query)
            if best is None:
                subject = asked_about(it.text)
                await agent.say(f"I don't know {subject}; you haven't told me." if subject
                                else "I don't know that; you haven't told me.",
                                ["don't know", *([subject] if subject else [])], h)
                return
            await agent.say(f"You told me {best}.", facts_to_keep(best), h)
        elif it.kind == "list":
            agent.allow("recall")
            hits = await host.memory.recall(key, owner, "", k=LIST_MAX + 4)   # recent and important first
            facts = [x.memory.text for x in hits if x.memory.kind == "fact"]
            if not facts:
                await agent.say("You haven't told me anything about yourself yet.", ["haven't told me"], h)
                return
            said, more = known_list(facts)
            tail = f" And {more} more." if more else ""
            await agent.say(f"Here's what you've told me: {join_facts(said)}.{tail}",
                            [f for f in said for f in facts_to_keep(f)], h)
        elif it.kind == "forget_one":
            await self._forget_one(agent, h, it.topic)
        elif it.kind == "forget":
            await host.memory.forget(key, owner)
            await agent.say("Done: I've forgotten everything you told me.", ["forgotten everything"], h)
        elif it.kind == "never_mind":
            await agent.say("Okay, no problem.", ["no problem"], h)
        elif it.kind == "look":
            agent.allow("look")
            space = agent.space
            owner_s = host.realm.online(owner)
            if space is None or owner_s is None or owner_s.space is not space:
                await agent.say("I can't see where you're looking from here.", [], h)
                return
            t = P.looking_at(space, owner_s.entity)
            if t is None:
                await agent.say("You're looking at open ground; nothing in particular.", [], h)
            elif t.kind == "entity":
                await agent.say(f"You're looking at {t.name}, about {t.dist:.0f} m away.", [t.name], h)
            else:
                await agent.say(f"You're looking at the {t.name}, about {t.dist:.0f} m away.", [t.name], h)
        elif it.kind == "small" and it.topic == "how_are_you":
            await agent.say("I'm doing well, thanks for asking! How are you?", ["doing well"], h)
        elif it.kind == "small":
            await agent.say(f"I'm {agent.persona.name}, your companion. I remember what you tell me, forget it "
                            "when you ask, and can say what you're looking at.", [agent.persona.name], h)
        elif it.kind == "greet":
            await agent.say(agent.persona.greeting, [agent.persona.name], h)
        elif it.kind == "thanks":
            await agent.say("Any time!", ["Any time"], h)
        else:
            await agent.say("I'm here with you. Tell me something to remember, or ask me what you're "
                            "looking at.", [], h)

    async def _forget_one(self, agent: Agent, h: Heard, topic: str) -> None:
        """Forget the memories about one thing ("my locker code"), or the newest fact (no topic)."""
        host, owner, key = agent.host, agent.owner, agent.memory_key
        assert owner is not None
        if not topic:
            facts = [m for m in await host.memory.live(key, owner) if m.kind == "fact"]
            if not facts:
                await agent.say("There's nothing to forget: you haven't told me anything yet.", [], h)
                return
            newest = facts[-1].text
            gone = await host.memory.forget_some(key, owner, lambda text: text == newest)
        else:
            want = terms_of(pronouns.to_listener(topic))
            if not want:
                await agent.say("I'm not sure what to forget. Tell me what it was about.", [], h)
                return
            gone = await host.memory.forget_some(key, owner, lambda text: want <= terms_of(text))
        about = pronouns.to_listener(topic) if topic else f"that {gone[0]}" if gone else "that"
        if not gone:
            await agent.say(f"I don't remember anything about {about}, so there's nothing to forget.",
                            ["nothing to forget", about], h)
            return
        await agent.say(f"Done: I've forgotten {about}.", ["forgotten", about], h)
