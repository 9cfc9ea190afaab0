"""Shared lexicon of the life worlds: people, kinship, feelings, opinion phrases and reasons, relative dates, and
the fact-free small talk and wrappers every split uses (they carry no facts, so sharing them leaks no topic).

Template markers (filled per *voice*: the speaker's first person in dialogue, third person in gold memories):
`{subj}` I / Maya / my sister Anna, `{pos}` my / her / his, `{obj}` me / her / him, `{is}` am / is, `{has}`
have / has, `{s}` "" / "s" and `{es}` "" / "es" (verb endings: "love{s}", "go{es}").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from memmgr.types import human_date

NAMES_F = ("Maya", "Ana", "Mia", "Priya", "Zoe", "Ines", "Lena", "Aiko", "Nadia", "Sara", "Elif", "Marta", "Chloe",
           "Caroline", "Melanie", "Jolene", "Deborah", "Audrey", "Joanna", "Gina", "Tanya", "Nora", "Iris", "Vera")
NAMES_M = ("Leo", "Kai", "Omar", "Tomas", "Ravi", "Hugo", "Jonas", "Felix", "Diego", "Yusuf", "Ivan", "Nate",
           "Evan", "John", "Dave", "Andrew", "James", "Tim", "Calvin", "Gabe", "Max", "Owen", "Raj", "Victor")
KIN_NAMES_F = ("Anna", "Rosa", "Lucy", "Hana", "Greta", "Linda", "Emma", "Julia", "Paula", "Kim", "Beth", "Alice",
               "Sofia", "Tess", "Olive", "Ruth")
KIN_NAMES_M = ("Tom", "Ben", "Marco", "Pedro", "Luis", "Frank", "Oscar", "Henry", "Jack", "Carl", "Eli", "Arthur",
               "Milo", "Theo", "Paul", "Rick")
# kinship word -> gender ("f", "m", "x": either)
KIN = {"sister": "f", "brother": "m", "mom": "f", "dad": "m", "daughter": "f", "son": "m", "wife": "f",
       "husband": "m", "girlfriend": "f", "boyfriend": "m", "partner": "x", "aunt": "f", "uncle": "m",
       "cousin": "x", "grandma": "f", "grandpa": "m", "friend": "x", "coworker": "x", "neighbor": "x"}
# person slots of the templates -> kinship words they accept
PERSON_SLOTS = {"relative": ("sister", "brother", "mom", "dad", "daughter", "son", "aunt", "uncle", "cousin",
                             "grandma", "grandpa", "wife", "husband", "partner"),
                "child": ("son", "daughter"), "partner": ("wife", "husband", "girlfriend", "boyfriend", "partner"),
                "sibling": ("sister", "brother", "cousin"), "parent": ("mom", "dad", "grandma", "grandpa"),
                "pal": ("friend", "coworker", "neighbor")}
GROUPS = ("{pos} family", "{pos} friends")  # companions without a name

FEELINGS = ("proud", "happy", "grateful", "relieved", "exhausted", "nervous", "inspired", "peaceful", "excited",
            "overwhelmed", "nostalgic", "thankful", "calm", "energized", "emotional", "hopeful")
POS_FEEL = ("love{s}", "really enjoy{s}", "{is} obsessed with", "{is} a big fan of", "{is} really into")
NEG_FEEL = ("can't stand", "{is} not a fan of", "{is} tired of", "{is} bored of", "really dislike{s}")
POS_REASONS = ("it helps {obj} relax", "it makes {obj} happy", "it clears {pos} head", "it brings back good memories",
               "it keeps {obj} grounded", "it sparks {pos} creativity", "it makes {obj} feel alive")
NEG_REASONS = ("it takes too much time", "it stresses {obj} out", "it feels too noisy", "it gets boring fast",
               "it costs too much", "it leaves {obj} drained")


def voice(first: bool, subj: str, gender: str) -> dict[str, str]:
    """Marker values: first person (the speaker about themselves) or third person (gold text, relatives)."""
    if first:
        return {"subj": subj, "pos": "my", "obj": "me", "is": "am", "has": "have", "s": "", "es": ""}
    return {"subj": subj, "pos": "her" if gender == "f" else "his", "obj": "her" if gender == "f" else "him",
            "is": "is", "has": "has", "s": "s", "es": "es"}


def tidy(text: str) -> str:
    """Collapse spaces, drop spaces before punctuation, contract "I am"."""
    text = " ".join(text.split()).replace(" ,", ",").replace(" .", ".").replace(" !", "!").replace(" ?", "?")
    return text.replace("I am ", "I'm ")


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def decap(text: str) -> str:
    """Lower-case a sentence start for embedding after a connector (keeps "I", "I'm"...)."""
    first = text.split(" ", 1)[0]
    return text if first == "I" or first.startswith("I'") else text[:1].lower() + text[1:]


# ------------------------------------------------------------------------------------------- relative dates
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _month_after(d: datetime) -> datetime:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def past_date(rng, d: datetime) -> tuple[str, str]:
    """(phrase said, resolved phrase for the gold text) for something that happened before session date `d`."""
    day = human_date(d)
    kind = rng.choice(["yesterday", "yesterday", "last week", "last weekend", "weekday", "two days ago",
                       "a few days ago", "last month", "two weeks ago", "this morning", "last year"])
    if kind == "yesterday":
        return kind, f"on {human_date(d - timedelta(days=1))}"
    if kind == "two days ago":
        return kind, f"on {human_date(d - timedelta(days=2))}"
    if kind == "this morning":
        return kind, f"on {day}"
    if kind == "last week":
        return kind, f"in the week before {day}"
    if kind == "last weekend":
        sat = d - timedelta(days=(d.weekday() - 5) % 7 or 7)
        return kind, f"on the weekend of {human_date(sat)}"
    if kind == "weekday":
        wd = rng.choice(_WEEKDAYS)
        return f"last {wd}", f"on the {wd} before {day}"
    if kind in ("a few days ago", "two weeks ago"):
        return kind, f"{kind[:-4]} before {day}"
    if kind == "last year":
        return kind, f"in {d.year - 1}"
    return kind, f"in {(d.replace(day=1) - timedelta(days=1)).strftime('%B %Y')}"


def future_date(rng, d: datetime) -> tuple[str, str, datetime]:
    """(phrase said, resolved phrase, earliest date it can have happened) for a plan made at session date `d`."""
    day = human_date(d)
    kind = rng.choice(["tomorrow", "next week", "next weekend", "next month", "next month", "weekday",
                       "in two weeks", "next year"])
    if kind == "tomorrow":
        return kind, f"on {human_date(d + timedelta(days=1))}", d + timedelta(days=1)
    if kind == "next week":
        return kind, f"in the week after {day}", d + timedelta(days=7)
    if kind == "next weekend":
        sat = d + timedelta(days=(5 - d.weekday()) % 7 or 7)
        return kind, f"on the weekend of {human_date(sat)}", sat
    if kind == "weekday":
        wd = rng.choice(_WEEKDAYS)
        return f"next {wd}", f"on the {wd} after {day}", d + timedelta(days=7)
    if kind == "in two weeks":
        return kind, f"two weeks after {day}", d + timedelta(days=14)
    if kind == "next year":
        return kind, f"in {d.year + 1}", datetime(d.year + 1, 1, 1)
    nxt = _month_after(d)
    return kind, f"in {nxt.strftime('%B %Y')}", nxt


def strip_in_on(phrase: str) -> str:
    for prefix in ("on ", "in "):
        if phrase.startswith(prefix):
            return phrase[len(prefix):]
    return phrase


# ------------------------------------------------------------------------------ how facts are said (first person)
# {core}: the clause ("I went camping at Yosemite"), {rel}/{Rel}: the relative date as said
SAY = {
    "event": ("{Rel} {core}!", "{Core} {rel}.", "Guess what? {Rel} {core}.", "So {rel} {core}.",
              "{Core} {rel}, finally!", "Oh, {rel} {core}."),
    "plan": ("{Rel} {core}.", "{Core} {rel}!", "Big news: {core} {rel}.", "So, {core} {rel}.",
             "{Rel}, {core}, can't wait!"),
    "happen": ("Update: {rel} {core}!", "It finally happened, {rel} {core}.", "{Rel} {core}, it was worth the wait.",
               "Remember that plan? {Rel} {core}."),
    "cancel": ("Bad news: {core}.", "Ugh, {core}.", "{Core}, it just wasn't the right time.", "So... {core}."),
    "change": ("Change of plans: {rel} {core} instead.", "Actually, {core} {rel} instead.",
               "Plans changed, {core} {rel} now."),
    "state": ("{Core}.", "These days {core}.", "Oh, and {core}.", "Fun fact: {core}.", "{Core}, just so you know."),
    "restate": ("Like I said, {core}.", "{Core}, still!", "As you know, {core}.", "Nothing new there, {core}."),
    "shift": ("Big change: {core} now.", "Things changed, {core} now.", "Oh, update: now {core}."),
    "stop": ("So, {core}.", "Honestly, {core}.", "Big news: {core}.", "{Core}, it was time."),
    "opinion": ("Honestly, {core}.", "I have to say, {core}.", "{Core}.", "You know what? {core}."),
    "reopinion": ("Like I said, {core}.", "{Core}, that hasn't changed.", "Still the same: {core}."),
    "turn": ("I changed my mind, {core}.", "These days {core}.", "Funny how things change: {core}."),
    "feeling": ("I felt {feeling} after {noun}.", "Honestly I felt so {feeling} after {noun}!",
                "I felt really {feeling} after {noun}."),
}
PLAN_SELF = ("I'm planning to {b}", "I'm going to {b}", "I'm hoping to {b}", "I really want to {b}")
PLAN_OTHER = ("{subj} is planning to {b}", "{subj} is going to {b}")
COMPANION = ("{Comp} came along too.", "It was me and {comp}.", "I brought {comp} along.")
PHOTO_INTRO = ("Look at this!", "Here's a pic!", "Check this out!", "I took a photo, look.", "Sharing a pic!")
ANSWER_OPENER = ("Well, ", "Oh, funny you ask! ", "Good question! ", "Hmm, ", "Yeah! ", "Actually, ")
CONNECTOR = ("Oh, by the way, ", "Anyway, ", "Also, ", "Oh and ", "Quick thing: ")
STORY_GLUE = ("It was such a good time.", "What a day!", "I still can't stop thinking about it.",
              "Honestly, it made my week.", "It was a lot, but worth it.")

# ---------------------------------------------------------------------------------- fact-free small talk
GREET = ("Hey {f}! Long time no talk, how have you been?", "Hi {f}! How's your week going?", "Good morning {f}!",
         "Hey {f}, so good to hear from you!", "Hi {f}! Hope you're doing well.", "Hey {f}! What's new?")
GREET_REPLY = ("Hey {n}! I'm good, thanks. How about you?", "Hi {n}! Great to hear from you!",
               "Hey {n}! Doing well, thanks for asking.", "Hi {n}! So nice to catch up.")
CHIT = ("Haha, that's hilarious.", "Did you see the game last night?", "The weather has been so nice lately.",
        "What are you up to tonight?", "Sorry I've been slow to reply.", "Ok, that makes sense.",
        "Thanks for checking in on me!", "Have you watched anything good lately?", "Haha, you always say that.")
CHIT_REPLY = ("Haha, right?", "Totally!", "No worries at all.", "Same here, honestly.", "Ha, fair enough.",
              "I hear you.", "Not much, just relaxing.")
BYE = ("Gotta run, talk soon!", "Ok, I'll let you go. Take care!", "Bye for now!", "Talk to you later!")
BYE_REPLY = ("Bye! Take care.", "Talk soon!", "See you!", "You too, bye!")
CLOSER = (" How about you?", " What have you been up to?", " Anything new with you?", " How are things with you?")
REACT = {"good": ("Wow, that sounds amazing!", "That's awesome, I'm so happy for you!", "Love that! Tell me more.",
                  "That's so cool!", "Good for you!", "How exciting!", "You deserve it!"),
         "bad": ("Oh no, I'm sorry to hear that.", "That's a shame, maybe next time.", "Aw, that's too bad.",
                 "Oh well, these things happen."),
         "flat": ("Makes sense.", "Oh interesting!", "Ha, fair enough.", "I hear you.", "Nice, noted!"),
         "photo": ("What a great photo!", "Wow, that looks beautiful!", "Love this picture!")}
REACT_OF = {"change": "flat", "cancel": "bad", "stop": "bad", "restate": "flat", "reopinion": "flat", "opinion": "flat", "turn": "flat"}
FRIEND_INTRO = ("As for me, ", "Speaking of which, ", "Oh, and guess what: ", "My news: ", "Me? ", "")
QUESTION = {"event": ("What have you been up to lately?", "Did you do anything fun recently?", "How was your week?",
                      "Anything exciting happen lately?"),
            "plan": ("Any plans coming up?", "What's next for you?", "Got anything planned?"),
            "state": ("What's new with you these days?", "How's life treating you?"),
            "opinion": ("What are you into these days?", "Anything you're loving or hating lately?")}
# Long fact-free talk: LOCOMO's turns without an observation are long (conv-26: median 17 words, 68% of them 15+),
# mostly encouragement, thanks and reflection; without these the worlds' fact-free turns are short (median 7 words,
# 1% 15+) and "no fact" is learnable from length alone. None names a plan, an event, a person or a date.
SUPPORT = {"good": ("I'm really proud of you, you've worked so hard for this.",
                    "You've got this! Keep going and don't let anything stop you.",
                    "It's so inspiring to see you chase what you love. Keep it up!",
                    "Seriously, you deserve every good thing that comes your way.",
                    "I can tell how much this means to you, and it really shows.",
                    "That's the spirit! Little steps add up, and you'll get there.",
                    "Moments like that are what it's all about, right? So glad for you.",
                    "Your energy is contagious, honestly. Thanks for sharing it with me."),
           "bad": ("Hang in there, things will turn around soon, I just know it.",
                   "Don't be too hard on yourself, you did your best and that counts.",
                   "It's okay to slow down sometimes. You'll bounce back, you always do.",
                   "Sending you lots of good vibes. I'm here if you want to talk."),
           "flat": ("Sounds like you've really thought it through, which is great.",
                    "Whatever you decide, I'm sure it'll work out fine in the end.",
                    "It's always nice hearing how things are going on your end.",
                    "Funny how life works out sometimes, isn't it? Keep me posted.")}
SUPPORT["photo"] = ("That looks like so much fun, I'd love to see more pictures sometime.",
                    "You always take the best pictures. Thanks for sharing it with me!",
                    "What a moment to capture. It honestly made me smile today.")
PEP = ("Thanks for always being there for me, it honestly means a lot.",
       "Talking to you always lifts my mood, no matter what kind of day it's been.",
       "I keep thinking about what you told me. It really helped me more than you know.",
       "You always know the right thing to say. I'm lucky to have a friend like you.",
       "I just wanted to say I appreciate you and all the encouragement you give me.")
PEP_REPLY = ("Of course! That's what friends are for, and you'd do the same for me.",
             "Anytime! I'm always happy to listen, you know that. We're in this together.",
             "Aw, that means a lot to me too. We really do make a good team!",
             "Glad it helped! Remember to be kind to yourself, you're doing great.",
             "Right back at you! Our chats are one of the best parts of my week.")
SMALL_OPEN = ("Haha, sorry for the late reply!", "Hey! Quick update.", "Ok so, random thought.", "Thanks for asking!",
              "Oh man, where do I start.", "Hope your day is going well!")
