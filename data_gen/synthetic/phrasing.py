"""Surface text of the synthetic worlds: attribute slots (canonical memory sentences) and phrasing families.

Memory texts are canonical third-person sentences built from `SLOTS` ("Maya lives in Lisbon"), whatever the
phrasing. The dialogue says them in first person through a *phrasing family*; `FAMILY_SPLITS` reserves families
for validation and test so a student cannot pass the held-out split by memorising templates.

Template placeholders: `{v}` the new value, `{o}` the old value, `{rel}` a relative date phrase ("next month"),
`{who}` a relative's name ("Tom"), `{kin}` the kinship word ("brother"), `{s}` a sentence being restated,
`{past}` a past-tense event ("visited Rome").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    memory: str  # "{n} lives in {v}" (+ "{when}" for dated slots)
    values: tuple[str, ...]
    retract: str | None  # fact stating the attribute no longer holds (gold DELETE), None: cannot be retracted
    question: str  # QA probe whose answer is the current value
    dated: bool = False  # the value comes with a resolved future date (plans)


SLOTS: dict[str, Slot] = {
    "city": Slot("{n} lives in {v}", ("Lisbon", "Porto", "Leeds", "Osaka", "Denver", "Bristol", "Toronto", "Oslo",
                                      "Quito", "Krakow"), None, "Where does {n} live?"),
    "job": Slot("{n} works as a {v}", ("nurse", "teacher", "software engineer", "baker", "pilot", "librarian",
                                       "carpenter", "pharmacist"), "{n} quit the job as a {v}",
                "What does {n} do for work?"),
    "pet": Slot("{n} has a {v}", ("beagle called Pixel", "tabby cat", "parrot named Kiwi", "golden retriever",
                                  "hamster called Bean", "rabbit named Clover"), "{n} no longer has the {v}",
                "What pet does {n} have?"),
    "hobby": Slot("{n} enjoys {v}", ("pottery", "rock climbing", "chess", "gardening", "salsa dancing",
                                     "birdwatching", "knitting"), "{n} stopped {v}", "What hobby does {n} enjoy?"),
    "instrument": Slot("{n} plays the {v}", ("cello", "guitar", "piano", "violin", "drums", "trumpet"),
                       "{n} quit playing the {v}", "Which instrument does {n} play?"),
    "diet": Slot("{n} is {v}", ("vegetarian", "vegan", "pescatarian", "lactose intolerant"), "{n} is no longer {v}",
                 "What diet does {n} follow?"),
    "partner": Slot("{n} is dating {v}", ("Alex", "Jordan", "Sam", "Robin", "Charlie"), "{n} broke up with {v}",
                    "Who is {n} dating?"),
    "car": Slot("{n} drives a {v}", ("red Toyota Corolla", "blue Honda Civic", "white Tesla", "old Volvo estate",
                                     "green Fiat Panda"), "{n} sold the {v}", "What car does {n} drive?"),
    "health": Slot("{n} is recovering from {v}", ("a knee injury", "a broken wrist", "back surgery", "pneumonia",
                                                  "a sprained ankle"), "{n} has recovered from {v}",
                   "What is {n} recovering from?"),
    "food": Slot("{n}'s favourite food is {v}", ("sushi", "ramen", "tacos", "lasagna", "green curry", "paella"),
                 None, "What is {n}'s favourite food?"),
    "plan": Slot("{n} plans to travel to {v} {when}", ("Japan", "Peru", "Iceland", "Kenya", "Morocco", "Vietnam"),
                 "{n} cancelled the trip to {v}", "Where is {n} planning to travel?", dated=True),
}
RELATIVE_SLOTS = ("city", "job")  # what the dialogue says about a speaker's relatives (distractor people)
# kinship word -> names that fit it
KIN = {"brother": ("Tom", "Ben", "Marco", "Pedro"), "uncle": ("Tom", "Ben", "Marco", "Pedro"),
       "sister": ("Rosa", "Lucy", "Hana", "Greta"), "aunt": ("Rosa", "Lucy", "Hana", "Greta"),
       "cousin": ("Tom", "Rosa", "Ben", "Lucy", "Marco", "Hana", "Pedro", "Greta")}

# one-off events with relative dates: (past tense, base form for questions)
EVENTS = [("visited Rome", "visit Rome"), ("ran a half marathon", "run a half marathon"),
          ("went to a jazz concert", "go to a jazz concert"), ("painted a sunrise", "paint a sunrise"),
          ("visited Kyoto", "visit Kyoto"), ("planted a tomato garden", "plant a tomato garden"),
          ("hiked Mount Snowdon", "hike Mount Snowdon"), ("baked a wedding cake", "bake a wedding cake"),
          ("adopted a rescue kitten for a friend", "adopt a rescue kitten for a friend"),
          ("gave a talk at the library", "give a talk at the library")]

# shared small talk: carries no facts, so sharing it across splits leaks nothing
CHITCHAT = ["Hey, how are you?", "Haha that's so funny.", "What are you up to tonight?", "Good morning!",
            "Ok, talk later.", "Did you see the game?", "Thanks, you too!", "The weather is awful today.",
            "Long day, I'm exhausted.", "Any plans for the weekend?"]
REPLIES = ["That's great to hear!", "Oh nice, tell me more.", "Haha, love that.", "Sounds lovely.", "Cool!",
           "Wow, really?", "I'm happy for you.", "Good for you!"]

_Kinds = dict[str, dict[str, list[str]] | list[str]]
FAMILIES: dict[str, _Kinds] = {
    "plain": {
        "state": {"city": ["I live in {v}.", "My home is in {v}."], "job": ["I work as a {v}."],
                  "pet": ["I have a {v}."], "hobby": ["I enjoy {v}."], "instrument": ["I play the {v}."],
                  "diet": ["I'm {v}."], "partner": ["I'm dating {v}."], "car": ["I drive a {v}."],
                  "health": ["I'm recovering from {v}."], "food": ["My favourite food is {v}."],
                  "plan": ["I'm travelling to {v} {rel}."]},
        "change": {"city": ["I moved from {o} to {v}, so I live in {v} now."],
                   "job": ["I changed jobs, I work as a {v} now."], "pet": ["I have a {v} now instead."],
                   "hobby": ["These days I enjoy {v} more than {o}."], "instrument": ["I play the {v} now."],
                   "diet": ["I'm {v} now."], "partner": ["I'm dating {v} now."],
                   "car": ["I replaced the {o}, I drive a {v} now."], "health": ["Now I'm recovering from {v}."],
                   "food": ["My favourite food is {v} now, not {o}."],
                   "plan": ["Change of plans: I'm travelling to {v} {rel} instead of {o}."]},
        "retract": {"job": ["I quit my job as a {o}."], "pet": ["Sadly I no longer have the {o}."],
                    "hobby": ["I stopped {o}, no time."], "instrument": ["I quit playing the {o}."],
                    "diet": ["I'm no longer {o}."], "partner": ["I broke up with {o}."], "car": ["I sold the {o}."],
                    "health": ["I've fully recovered from {o}."], "plan": ["I cancelled my trip to {o}."]},
        "rel_state": {"city": ["My {kin} {who} lives in {v}."], "job": ["My {kin} {who} works as a {v}."]},
        "rel_change": {"city": ["My {kin} {who} moved to {v}."], "job": ["My {kin} {who} works as a {v} now."]},
        "event": ["{Rel} I {past}!", "I {past} {rel}."],
        "restate": ["As I said before, {s}", "Like I told you, {s}"],
    },
    "chatty": {
        "state": {"city": ["Life here in {v} is great, I live in {v} and love it!"],
                  "job": ["Work is busy! I'm a {v}, you know, I work as a {v}."],
                  "pet": ["Guess what, I have a {v} at home!"],
                  "hobby": ["I've been really into {v}, I enjoy {v} a lot!"],
                  "instrument": ["I play the {v} every evening, so relaxing!"], "diet": ["Fun fact: I'm {v}!"],
                  "partner": ["So... I'm dating {v}! Isn't that exciting?"],
                  "car": ["I drive a {v}, it's the best car ever!"],
                  "health": ["Ugh, I'm recovering from {v}, it's so annoying!"],
                  "food": ["Nothing beats {v}, it's my favourite food!"],
                  "plan": ["So excited, I'm flying to {v} {rel}!"]},
        "change": {"city": ["Big news, I left {o}! I live in {v} now!"],
                   "job": ["New job! I work as a {v} now, bye bye {o} life!"],
                   "pet": ["Our home has a {v} now, the {o} went to my sister!"],
                   "hobby": ["Forget {o}, I enjoy {v} now!"], "instrument": ["I switched, I play the {v} now!"],
                   "diet": ["Guess what, I'm {v} now!"], "partner": ["Plot twist: I'm dating {v} now!"],
                   "car": ["Bye bye {o}! I drive a {v} now!"],
                   "health": ["Just when I got better, now I'm recovering from {v}!"],
                   "food": ["Okay new obsession, {v} is my favourite food now!"],
                   "plan": ["Forget {o}! I'm flying to {v} {rel} instead!"]},
        "retract": {"job": ["Ugh, I quit my job as a {o} today."], "pet": ["So sad, I no longer have the {o}."],
                    "hobby": ["Honestly I stopped {o}, it got boring."],
                    "instrument": ["I quit playing the {o}, my neighbours are happy lol."],
                    "diet": ["Confession: I'm no longer {o}!"], "partner": ["Well... I broke up with {o}."],
                    "car": ["Finally sold the {o}!"], "health": ["Yay, I've recovered from {o}!"],
                    "plan": ["Boo, I had to cancel my trip to {o}!"]},
        "rel_state": {"city": ["Oh, and my {kin} {who} lives in {v}!"],
                      "job": ["My {kin} {who} is a {v}, so proud!"]},
        "rel_change": {"city": ["Guess what, my {kin} {who} moved to {v}!"],
                       "job": ["My {kin} {who} got a new job, {who} works as a {v} now!"]},
        "event": ["Omg, {rel} I {past}!", "Guess what, {rel} I {past}!"],
        "restate": ["{s} Still true!", "Haha you know this already: {s}"],
    },
    "narrative": {
        "state": {"city": ["Ever since I settled in {v}, I've lived in {v}."],
                  "job": ["My days are spent working as a {v}."],
                  "pet": ["When I get home, my {v} is waiting, I have a {v}."],
                  "hobby": ["Most weekends I lose myself in {v}, I really enjoy {v}."],
                  "instrument": ["At night I practise, I play the {v}."],
                  "diet": ["I changed how I eat years ago, I'm {v}."],
                  "partner": ["For a while now I've been dating {v}."],
                  "car": ["Every morning I drive my {v} to town."],
                  "health": ["It's been slow going since I started recovering from {v}."],
                  "food": ["Whenever I can choose, it's {v}: my favourite food."],
                  "plan": ["I booked it all: {rel} I'm travelling to {v}."]},
        "change": {"city": ["After years in {o}, I packed up, and now I live in {v}."],
                   "job": ["I left the {o} work behind; these days I work as a {v}."],
                   "pet": ["The {o} has a new home; now I have a {v}."],
                   "hobby": ["I drifted away from {o}; now I enjoy {v}."],
                   "instrument": ["I put the {o} away, and now I play the {v}."],
                   "diet": ["Things changed, and now I'm {v}."],
                   "partner": ["Things ended with {o}; now I'm dating {v}."],
                   "car": ["I traded in the {o}; now I drive a {v}."],
                   "health": ["One thing after another: now I'm recovering from {v}."],
                   "food": ["My tastes shifted from {o}; now my favourite food is {v}."],
                   "plan": ["We rethought it: instead of {o}, {rel} I'm travelling to {v}."]},
        "retract": {"job": ["I walked out and quit my job as a {o}."],
                    "pet": ["It's been quiet at home since I no longer have the {o}."],
                    "hobby": ["Somewhere along the way I stopped {o}."],
                    "instrument": ["The case gathers dust: I quit playing the {o}."],
                    "diet": ["It didn't last, I'm no longer {o}."], "partner": ["It's over, I broke up with {o}."],
                    "car": ["The {o} is gone, I sold the {o}."],
                    "health": ["Finally, I've recovered from {o}."],
                    "plan": ["It fell through, I cancelled my trip to {o}."]},
        "rel_state": {"city": ["My {kin} {who} has always lived in {v}."],
                      "job": ["My {kin} {who} spends the days working as a {v}."]},
        "rel_change": {"city": ["My {kin} {who} packed up and moved to {v}."],
                       "job": ["My {kin} {who} changed careers and works as a {v} now."]},
        "event": ["It was quite a day: {rel} I {past}.", "{Rel}, after a long wait, I {past}."],
        "restate": ["Nothing new there: {s}", "Same as ever, {s}"],
    },
    "formal": {  # validation
        "state": {"city": ["My residence is in {v}; I live in {v}."], "job": ["Professionally, I work as a {v}."],
                  "pet": ["I should mention that I have a {v}."], "hobby": ["In my free time I enjoy {v}."],
                  "instrument": ["I am able to play the {v}."], "diet": ["For health reasons, I am {v}."],
                  "partner": ["I am currently dating {v}."], "car": ["For transport, I drive a {v}."],
                  "health": ["I am currently recovering from {v}."],
                  "food": ["If I may say so, my favourite food is {v}."],
                  "plan": ["I intend to travel to {v} {rel}."]},
        "change": {"city": ["I have relocated from {o}; I now live in {v}."],
                   "job": ["I have taken a new position; I now work as a {v}."],
                   "pet": ["We now have a {v} in the household instead."],
                   "hobby": ["I now enjoy {v} rather than {o}."], "instrument": ["I now play the {v} instead."],
                   "diet": ["I have become {v}."], "partner": ["I am now dating {v}."],
                   "car": ["I have replaced the {o}; I now drive a {v}."],
                   "health": ["I am now recovering from {v}."],
                   "food": ["My favourite food is now {v} rather than {o}."],
                   "plan": ["My itinerary has changed: I will travel to {v} {rel} rather than {o}."]},
        "retract": {"job": ["I have quit my job as a {o}."], "pet": ["I regret to say I no longer have the {o}."],
                    "hobby": ["I have stopped {o} entirely."], "instrument": ["I have quit playing the {o}."],
                    "diet": ["I am no longer {o}."], "partner": ["I have broken up with {o}."],
                    "car": ["I have sold the {o}."], "health": ["I have fully recovered from {o}."],
                    "plan": ["I have cancelled my trip to {o}."]},
        "rel_state": {"city": ["My {kin}, {who}, resides in {v}."], "job": ["My {kin}, {who}, is employed as a {v}."]},
        "rel_change": {"city": ["My {kin}, {who}, has relocated to {v}."],
                       "job": ["My {kin}, {who}, is now employed as a {v}."]},
        "event": ["I should mention that {rel} I {past}.", "{Rel}, I {past}."],
        "restate": ["To reiterate, {s}", "As previously mentioned, {s}"],
    },
    "casual": {  # test (held-out phrasing)
        "state": {"city": ["yeah {v} is home, I live in {v} haha"], "job": ["being a {v} is no joke, that's my job lol"],
                  "pet": ["my {v} says hi lol, yes I have a {v}"],
                  "hobby": ["spent all weekend on {v} again, I enjoy {v} so much"],
                  "instrument": ["been jamming, I play the {v} now and then"],
                  "diet": ["can't eat that, I'm {v} remember"], "partner": ["me and {v} are a thing now, I'm dating {v}"],
                  "car": ["my {v} is a beast lol, I drive a {v}"],
                  "health": ["still limping around, recovering from {v} ugh"],
                  "food": ["{v} >>> everything, fave food for sure"],
                  "plan": ["off to {v} {rel} woohoo"]},
        "change": {"city": ["packed up and left {o} lol, I live in {v} now"],
                   "job": ["done with {o} stuff, I work as a {v} now haha"],
                   "pet": ["the {o} lives with my mom now, I have a {v} now"],
                   "hobby": ["{o} is out, I enjoy {v} now"], "instrument": ["ditched the {o}, I play the {v} now"],
                   "diet": ["new me, I'm {v} now"], "partner": ["yeah so I'm dating {v} now lol"],
                   "car": ["ditched the {o}, got a {v}, I drive a {v} now"],
                   "health": ["lol now it's {v}, recovering from that now"],
                   "food": ["ok {o} is dead to me, {v} is my fave food now"],
                   "plan": ["nvm {o}, going to {v} {rel} instead"]},
        "retract": {"job": ["lol I quit my job as a {o}"], "pet": ["rip, I no longer have the {o}"],
                    "hobby": ["nah I stopped {o} tbh"], "instrument": ["quit playing the {o}, whatever"],
                    "diet": ["not {o} anymore lol, I'm no longer {o}"], "partner": ["broke up with {o}, it's fine"],
                    "car": ["sold the {o} lol"], "health": ["all healed, recovered from {o} finally"],
                    "plan": ["{o} trip is off, cancelled it"]},
        "rel_state": {"city": ["my {kin} {who} lives in {v} btw"], "job": ["my {kin} {who}'s a {v} lol"]},
        "rel_change": {"city": ["my {kin} {who} moved to {v} lol"], "job": ["my {kin} {who} is a {v} now haha"]},
        "event": ["{rel} I {past} lol", "so {rel} I {past} haha"],
        "restate": ["lol you know this, {s}", "{s} (still)"],
    },
}
FAMILY_SPLITS = {"train": ["plain", "chatty", "narrative"], "validation": ["formal"], "test": ["casual"]}


def templates(family: str) -> set[str]:
    """Every template string of a family (to check that held-out families share none with train)."""
    out: set[str] = set()
    for kind in FAMILIES[family].values():
        for ts in kind.values() if isinstance(kind, dict) else [kind]:
            out.update(ts)
    return out
