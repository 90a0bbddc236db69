"""Items written for the demo projects: harmless, varied, short enough to read in a minute."""

PAIRWISE_ITEMS: list[dict] = [
    {
        "id": "demo-pair-01",
        "prompt": "How do I keep pasta from sticking together while it cooks?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "Add a splash of oil to the water. That's all you need.",
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "A few habits make the biggest difference:\n"
                    "- Use plenty of water (roughly 4 litres per 500 g of pasta).\n"
                    "- Wait for a full rolling boil before adding the pasta.\n"
                    "- Stir during the first minute or two, when the starch is stickiest.\n"
                    "- Toss the drained pasta with sauce straight away.\n"
                    "Oil in the water mostly floats on top, so it does little to help."
                ),
            },
        ],
        "metadata": {"topic": "cooking"},
    },
    {
        "id": "demo-pair-02",
        "prompt": "How do I reverse a list in Python?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Call `my_list.reverse()` to reverse it in place, or use `my_list[::-1]` "
                    "if you want a reversed copy."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "Use the reverse method, which returns the reversed list:\n"
                    "```python\n"
                    "reversed_list = my_list.reverse()\n"
                    "```"
                ),
            },
            {
                "id": "r3",
                "model": "cirrus-70b",
                "text": (
                    "There are two common ways, depending on whether you want a new list:\n"
                    "```python\n"
                    "numbers = [1, 2, 3]\n"
                    "\n"
                    "numbers.reverse()         # in place; returns None\n"
                    "print(numbers)            # [3, 2, 1]\n"
                    "\n"
                    "backwards = numbers[::-1]  # new list, original unchanged\n"
                    "```\n"
                    "`reversed(numbers)` also works if you only need to loop backwards."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-03",
        "prompt": "Why is the sky blue?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Sunlight contains all colours. As it passes through the air, it is "
                    "scattered by gas molecules, and shorter wavelengths (blue) are scattered "
                    "much more strongly than longer ones (red). This is called Rayleigh "
                    "scattering. So blue light reaches your eyes from every direction of the "
                    "sky. Violet scatters even more, but the Sun emits less of it and our eyes "
                    "are less sensitive to it, so the sky looks blue."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "Blue light has a longer wavelength than other colours, so it scatters "
                    "more in the atmosphere and fills the sky."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-pair-04",
        "prompt": "Any tips for making a long-haul flight more comfortable?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "- Drink water regularly; cabin air is dry.\n"
                    "- Get up and walk the aisle every couple of hours.\n"
                    "- Wear comfortable layers, since cabin temperature varies.\n"
                    "- Bring a neck pillow, eye mask and earplugs.\n"
                    "- Download films and podcasts before you leave."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "- Choose an aisle seat if you like to stretch your legs often.\n"
                    "- Keep a water bottle handy and refill it after security.\n"
                    "- Dress in layers and pack warm socks.\n"
                    "- Load up your phone or tablet with offline entertainment.\n"
                    "- Try to sleep according to your destination's time zone."
                ),
            },
        ],
        "metadata": {"topic": "travel"},
    },
    {
        "id": "demo-pair-05",
        "prompt": (
            "Rephrase this email so it sounds more polite:\n\n"
            '"Send me the report by Friday. You\'re already late."'
        ),
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "Please send the report Friday. You are late.",
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "Hi Sam,\n\n"
                    "Could you please send me the report by Friday? I know the timeline has "
                    "slipped a little, and getting it by then would help us stay on track.\n\n"
                    "Thanks!"
                ),
            },
            {
                "id": "r3",
                "model": "cirrus-70b",
                "text": (
                    "Hi Sam,\n\n"
                    "Just following up on the report, which was due earlier this week. Would "
                    "you be able to send it over by Friday? If anything is holding it up, let "
                    "me know and I'm happy to help.\n\n"
                    "Thanks so much!"
                ),
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-pair-06",
        "prompt": "A train travels 180 km in 2.5 hours. What is its average speed?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": "Average speed = distance / time = 180 / 2.5 = 75 km/h.",
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": ("Average speed is distance divided by time: 180 km / 2.5 h = 72 km/h."),
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-pair-07",
        "prompt": "When did the Berlin Wall fall?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": ("The Berlin Wall fell in 1991, shortly after the Soviet Union collapsed."),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "The Berlin Wall fell on 9 November 1989, when East German authorities "
                    "opened the border crossings and crowds began crossing and chipping away "
                    "at the wall. Germany was formally reunified less than a year later, on "
                    "3 October 1990."
                ),
            },
        ],
        "metadata": {"topic": "history"},
    },
    {
        "id": "demo-pair-08",
        "prompt": "What does 'idempotent' mean in programming?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "An operation is idempotent if doing it once or many times has the same "
                    "effect. Examples:\n"
                    "- Setting `x = 5` is idempotent; `x += 1` is not.\n"
                    "- An HTTP `PUT` or `DELETE` should be idempotent; `POST` usually isn't.\n"
                    "This matters when requests may be retried: an idempotent one can be "
                    "safely repeated."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "It means an operation gives the same result no matter how many times you "
                    "run it, like setting a value rather than incrementing it."
                ),
            },
        ],
        "metadata": {"topic": "definitions"},
    },
    {
        "id": "demo-pair-09",
        "prompt": (
            "I have an `orders` table with a `customer_id` column. Write a SQL query that "
            "counts orders per customer, most orders first."
        ),
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "```sql\n"
                    "SELECT customer_id, COUNT(*)\n"
                    "FROM orders\n"
                    "ORDER BY COUNT(*) DESC;\n"
                    "```"
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "```sql\n"
                    "SELECT customer_id, COUNT(*) AS order_count\n"
                    "FROM orders\n"
                    "GROUP BY customer_id\n"
                    "ORDER BY order_count DESC;\n"
                    "```\n"
                    "`GROUP BY` makes one row per customer, and `COUNT(*)` counts the rows in "
                    "each group."
                ),
            },
            {
                "id": "r3",
                "model": "borealis-13b",
                "text": (
                    "If you also want customers with no orders, join from a customers table:\n"
                    "```sql\n"
                    "SELECT c.id, c.name, COUNT(o.customer_id) AS order_count\n"
                    "FROM customers AS c\n"
                    "LEFT JOIN orders AS o ON o.customer_id = c.id\n"
                    "GROUP BY c.id, c.name\n"
                    "ORDER BY order_count DESC;\n"
                    "```"
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-10",
        "prompt": "How do I undo my last git commit but keep the changes?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Run:\n"
                    "```shell\n"
                    "git reset --hard HEAD~1\n"
                    "```\n"
                    "This removes the last commit and you can commit again when ready."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "Use a soft reset:\n"
                    "```shell\n"
                    "git reset --soft HEAD~1\n"
                    "```\n"
                    "The commit is removed but its changes stay staged. Use "
                    "`git reset HEAD~1` instead if you want them unstaged. Avoid `--hard`, "
                    "which throws the changes away. If you already pushed the commit, "
                    "prefer `git revert`."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-11",
        "prompt": [
            {"role": "user", "content": "I want to bake bread but I don't have a stand mixer."},
            {
                "role": "assistant",
                "content": (
                    "No problem - bread is easy to knead by hand. Would you like a simple recipe?"
                ),
            },
            {"role": "user", "content": "Yes please, something for a complete beginner."},
        ],
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Mix flour, water, yeast and salt, knead it, let it rise and bake it until "
                    "it's golden."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "Here's a simple white loaf:\n"
                    "- 500 g bread flour, 10 g salt, 7 g instant yeast, 350 ml lukewarm water\n"
                    "- Mix into a shaggy dough, then knead on the counter for about 10 minutes "
                    "until smooth and stretchy.\n"
                    "- Cover and let it rise for 1 to 1.5 hours, until roughly doubled.\n"
                    "- Shape into a loaf, put it in a greased tin and let it rise 45 minutes.\n"
                    "- Bake at 220 C (about 425 F) for 30 to 35 minutes. It's done when the "
                    "base sounds hollow when tapped.\n"
                    "Let it cool for at least 30 minutes before slicing."
                ),
            },
        ],
        "metadata": {"topic": "cooking"},
    },
    {
        "id": "demo-pair-12",
        "prompt": "What causes the seasons on Earth?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Earth's axis is tilted by about 23.4 degrees. As Earth orbits the Sun, "
                    "the hemisphere tilted towards the Sun gets more direct sunlight and "
                    "longer days, which makes it summer there, while the other hemisphere has "
                    "winter."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "The seasons happen because Earth is closer to the Sun in summer and "
                    "farther away in winter."
                ),
            },
            {
                "id": "r3",
                "model": "cirrus-70b",
                "text": (
                    "The seasons come from the tilt of Earth's axis (about 23.4 degrees):\n"
                    "- When your hemisphere leans towards the Sun, sunlight hits it more "
                    "directly and days are longer: summer.\n"
                    "- When it leans away, sunlight is spread out and days are shorter: "
                    "winter.\n"
                    "Distance is not the cause: Earth is actually closest to the Sun in early "
                    "January, during the northern winter."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-pair-13",
        "prompt": "What should I pack for a weekend city trip?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "- Comfortable walking shoes\n"
                    "- Two or three outfits that mix and match, plus a light jacket\n"
                    "- Phone charger and a small power bank\n"
                    "- ID, cards and a little local cash\n"
                    "- A compact umbrella and a reusable water bottle\n"
                    "- A small day bag for sightseeing"
                ),
            },
            {"id": "r2", "model": "atlas-7b", "text": ""},
        ],
        "metadata": {"topic": "travel"},
    },
    {
        "id": "demo-pair-14",
        "prompt": "What's the difference between a list and a tuple in Python?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Lists and tuples are basically the same thing, tuples are just a bit faster."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "| | list | tuple |\n"
                    "|---|---|---|\n"
                    "| Syntax | `[1, 2, 3]` | `(1, 2, 3)` |\n"
                    "| Mutable | yes | no |\n"
                    "| Usable as dict key | no | yes, if its items are hashable |\n"
                    "| Typical use | a collection that changes | a fixed record |\n"
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-15",
        "prompt": "If 3 notebooks cost $4.50, how much do 7 notebooks cost?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "Each notebook costs $1.50, so 7 notebooks cost $11.50.",
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "One notebook costs $4.50 / 3 = $1.50.\n"
                    "Seven notebooks cost 7 x $1.50 = **$10.50**."
                ),
            },
            {
                "id": "r3",
                "model": "borealis-13b",
                "text": "$4.50 / 3 = $1.50 each, and 7 x $1.50 = $10.50.",
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-pair-16",
        "prompt": "Who was the first person to walk on the Moon?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "Buzz Aldrin was the first person on the Moon, followed a few minutes "
                    "later by Neil Armstrong."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "Neil Armstrong, during the Apollo 11 mission in July 1969. Buzz Aldrin "
                    "joined him on the surface shortly afterwards, while Michael Collins "
                    "stayed in lunar orbit aboard the command module."
                ),
            },
        ],
        "metadata": {"topic": "history"},
    },
    {
        "id": "demo-pair-17",
        "prompt": "Define 'opportunity cost' and give an example.",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Opportunity cost is the value of the best alternative you give up when "
                    "you make a choice.\n\n"
                    "Example: if you spend Saturday at a concert instead of working a shift "
                    "that pays $120, the opportunity cost of the concert includes that $120, "
                    "on top of the ticket price."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": "Opportunity cost is the money you spend when you buy something.",
            },
        ],
        "metadata": {"topic": "definitions"},
    },
    {
        "id": "demo-pair-18",
        "prompt": "How can I get better at waking up early?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "- Keep the same wake-up time every day, weekends included.\n"
                    "- Shift your bedtime earlier gradually, about 15 minutes at a time.\n"
                    "- Put the alarm across the room so you have to get up.\n"
                    "- Open the curtains or step outside soon after waking."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": "Just set more alarms.",
            },
            {
                "id": "r3",
                "model": "atlas-7b",
                "text": (
                    "- Pick a fixed wake-up time and stick to it, even on weekends.\n"
                    "- Move your bedtime earlier in small steps.\n"
                    "- Keep your phone out of reach at night.\n"
                    "- Plan something you look forward to in the morning, like a good "
                    "breakfast or a short walk."
                ),
            },
        ],
        "metadata": {"topic": "everyday advice"},
    },
    {
        "id": "demo-pair-19",
        "prompt": [
            {
                "role": "user",
                "content": "My Python script crashes with FileNotFoundError when opening a file.",
            },
            {
                "role": "assistant",
                "content": (
                    "Could you share the line that opens the file, and say which folder you "
                    "run the script from?"
                ),
            },
            {
                "role": "user",
                "content": (
                    "It's open('data.csv'). I run it from my home folder, but data.csv is in "
                    "the same folder as the script."
                ),
            },
        ],
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "A relative path like 'data.csv' is resolved against the current working "
                    "directory (your home folder), not the script's folder. Build the path "
                    "from the script's location instead:\n"
                    "```python\n"
                    "from pathlib import Path\n"
                    "\n"
                    'data_path = Path(__file__).parent / "data.csv"\n'
                    "with open(data_path) as f:\n"
                    "    ...\n"
                    "```"
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "Change it to open('data.csv', 'w'). Opening in write mode creates the "
                    "file if it doesn't exist, so the error goes away."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-20",
        "prompt": "How does a rainbow form?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Sunlight enters a raindrop and bends (refracts), reflects off the back of "
                    "the drop, and bends again as it leaves. Each colour bends by a slightly "
                    "different amount, so white light spreads into a spectrum. You see a "
                    "rainbow when the Sun is behind you and rain is in front of you, at about "
                    "42 degrees from the point directly opposite the Sun."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "Raindrops act like tiny prisms. Light is refracted on entering a drop, "
                    "reflected inside it and refracted again on the way out, and because "
                    "different colours bend by different amounts, they separate into the "
                    "familiar arc. That's why you need the Sun behind you and rain ahead."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-pair-21",
        "prompt": (
            "Make this sentence more concise: 'Due to the fact that the meeting was running "
            "late, we made the decision to postpone the presentation until a later date.'"
        ),
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Due to the fact that the meeting ran late, we decided to postpone the "
                    "presentation to a later date."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": "Because the meeting ran late, we postponed the presentation.",
            },
            {
                "id": "r3",
                "model": "cirrus-70b",
                "text": "Since the meeting ran late, we postponed the presentation.",
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-pair-22",
        "prompt": "How long should I boil an egg to get a jammy yolk?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "Boil it for about 15 minutes and the yolk will be nice and jammy.",
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "Lower a large egg straight from the fridge into water that is already "
                    "boiling and cook it for about 6 to 7 minutes. Then move it into a bowl "
                    "of ice water for a few minutes to stop the cooking and make it easier "
                    "to peel."
                ),
            },
        ],
        "metadata": {"topic": "cooking"},
    },
    {
        "id": "demo-pair-23",
        "prompt": "Why should a web app escape user input before showing it on a page?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Because the browser treats unescaped text as HTML. If someone posts a "
                    'comment containing <script>alert("x")</script> and the page inserts it '
                    "as raw HTML, every visitor's browser would run that script. This is "
                    "called cross-site scripting (XSS). Escaping turns characters like < and "
                    "> into &lt; and &gt;, so the comment is displayed as plain text instead."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "Escaping user input makes pages load faster because the browser has "
                    "less HTML to parse."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-24",
        "prompt": "What is the difference between WHERE and HAVING in SQL?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "WHERE filters individual rows before they are grouped; HAVING filters "
                    "groups after aggregation, so it can use functions like COUNT or SUM."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "`WHERE` filters rows before `GROUP BY`; `HAVING` filters the groups "
                    "afterwards. For example, customers with more than 5 orders in 2024:\n"
                    "```sql\n"
                    "SELECT customer_id, COUNT(*) AS n\n"
                    "FROM orders\n"
                    "WHERE order_date >= '2024-01-01' AND order_date < '2025-01-01'\n"
                    "GROUP BY customer_id\n"
                    "HAVING COUNT(*) > 5;\n"
                    "```"
                ),
            },
            {
                "id": "r3",
                "model": "atlas-7b",
                "text": (
                    "There is no real difference. HAVING is just an older keyword that does "
                    "the same thing as WHERE."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-pair-25",
        "prompt": [
            {"role": "user", "content": "I'm visiting Japan for 10 days in April."},
            {
                "role": "assistant",
                "content": (
                    "Great timing - early April is cherry blossom season in much of the "
                    "country. What are you most interested in?"
                ),
            },
            {"role": "user", "content": "Food and temples. Where should I base myself?"},
        ],
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "Stay in Hiroshima for the whole trip, since it's the capital and has the "
                    "most temples."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "A split stay works well:\n"
                    "- Kyoto (4 nights): temples and shrines such as Fushimi Inari and "
                    "Kiyomizu-dera, plus an easy day trip to Nara.\n"
                    "- Osaka (2 nights): street food around Dotonbori, like takoyaki and "
                    "okonomiyaki.\n"
                    "- Tokyo (3 nights): markets, ramen, and Senso-ji temple in Asakusa.\n"
                    "The Shinkansen between Tokyo and Kyoto takes a little over 2 hours. "
                    "Book Kyoto hotels early, as April is very busy."
                ),
            },
            {
                "id": "r3",
                "model": "borealis-13b",
                "text": (
                    "Base yourself in Kyoto for temples and take day trips to Osaka for food. "
                    "If you want some big-city time, spend the last few days in Tokyo."
                ),
            },
        ],
        "metadata": {"topic": "travel"},
    },
    {
        "id": "demo-pair-26",
        "prompt": (
            "A shirt costs $40 and is 25% off. At the till, a further 10% is taken off the "
            "sale price. What is the final price?"
        ),
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "25% + 10% = 35% off, and 35% of $40 is $14, so the final price is $26.",
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "- After 25% off: $40 x 0.75 = $30\n"
                    "- After a further 10% off: $30 x 0.90 = $27\n"
                    "The final price is $27. Note that this is not the same as 35% off ($26), "
                    "because the second discount applies to the already reduced price."
                ),
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-pair-27",
        "prompt": "What is the Rosetta Stone, and why is it important?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "The Rosetta Stone is a stone slab carrying a decree issued in 196 BC, "
                    "written in three scripts: Egyptian hieroglyphs, Demotic, and ancient "
                    "Greek. French soldiers found it in Egypt in 1799. Because scholars could "
                    "read the Greek, it became the key to deciphering hieroglyphs, a "
                    "breakthrough announced by Jean-Francois Champollion in 1822."
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "It's an ancient stone with the same text in Latin, Greek and hieroglyphs, "
                    "which let historians work out how to read hieroglyphs."
                ),
            },
        ],
        "metadata": {"topic": "history"},
    },
    {
        "id": "demo-pair-28",
        "prompt": [
            {"role": "user", "content": "What's the difference between 'affect' and 'effect'?"},
            {
                "role": "assistant",
                "content": (
                    "Usually 'affect' is a verb meaning to influence, and 'effect' is a noun "
                    "meaning a result."
                ),
            },
            {
                "role": "user",
                "content": "Can you give me a trick to remember it, plus an example of each?",
            },
        ],
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Think of A for action (affect is the verb) and E for end result (effect "
                    "is the noun).\n"
                    "- The rain affected our plans.\n"
                    "- The rain had a big effect on our plans."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "Try RAVEN: Remember, Affect is a Verb, Effect is a Noun.\n"
                    "- Verb: Lack of sleep can affect your mood.\n"
                    "- Noun: The new lighting had a calming effect.\n"
                    "One exception: 'effect' can be a verb meaning to bring about, as in "
                    "'to effect change'."
                ),
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-pair-29",
        "prompt": "How do I get a red wine stain out of a cotton shirt?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "- Blot up as much wine as you can; don't rub.\n"
                    "- Rinse the stain from the back with cold water.\n"
                    "- Work in a little liquid dish soap and leave it for a few minutes.\n"
                    "- Wash as usual in cold water.\n"
                    "- Check the stain before drying: heat from a dryer can set it."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": (
                    "Scrub the stain hard with hot water and then put the shirt in the "
                    "dryer right away; the heat lifts the wine out of the fabric."
                ),
            },
        ],
        "metadata": {"topic": "everyday advice"},
    },
    {
        "id": "demo-pair-30",
        "prompt": (
            "Write a Python function that checks whether a string is a palindrome, ignoring "
            "case and spaces."
        ),
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "```python\n"
                    "def is_palindrome(s):\n"
                    '    s = s.replace(" ", "").lower()\n'
                    "    return s == s[::-1]\n"
                    "```"
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": ("```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```"),
            },
            {
                "id": "r3",
                "model": "cirrus-70b",
                "text": (
                    "```python\n"
                    "def is_palindrome(text: str) -> bool:\n"
                    '    """True if text reads the same backwards, ignoring case and spaces."""\n'
                    '    cleaned = "".join(ch.lower() for ch in text if not ch.isspace())\n'
                    "    return cleaned == cleaned[::-1]\n"
                    "\n"
                    'is_palindrome("Never odd or even")  # True\n'
                    "```"
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
]

RUBRIC_ITEMS: list[dict] = [
    {
        "id": "demo-rate-01",
        "prompt": "Explain photosynthesis in two sentences.",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Photosynthesis is the process plants, algae and some bacteria use to turn "
                    "light energy into chemical energy. Using sunlight, they convert carbon "
                    "dioxide and water into glucose, releasing oxygen as a by-product."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-02",
        "prompt": "What is the capital of Australia?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "The capital of Australia is Sydney, its largest city.",
            },
        ],
        "metadata": {"topic": "definitions"},
    },
    {
        "id": "demo-rate-03",
        "prompt": "Give me three tips for writing a clear email subject line.",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "- Say what you need: 'Approval needed: Q3 budget' beats 'Budget'.\n"
                    "- Put the most important words first, since long subjects get cut off.\n"
                    "- Include a deadline if there is one: 'Feedback by Thu 12 June'."
                ),
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-rate-04",
        "prompt": "Explain recursion to a beginner programmer.",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Recursion is when a function solves a problem by calling itself on a "
                    "smaller version of the same problem. Every recursive function needs a "
                    "base case, where it stops calling itself.\n"
                    "```python\n"
                    "def factorial(n):\n"
                    "    if n <= 1:          # base case\n"
                    "        return 1\n"
                    "    return n * factorial(n - 1)  # smaller problem\n"
                    "```\n"
                    "factorial(4) becomes 4 * 3 * 2 * 1 = 24."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-rate-05",
        "prompt": "How many minutes are there in a week?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "7 x 24 x 60 = 10,080 minutes.",
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": (
                    "A week has 7 days of 24 hours, which is 168 hours. Each hour has 60 "
                    "minutes, so 168 x 60 = 10,800 minutes in a week."
                ),
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-rate-06",
        "prompt": "What does HTTP status code 404 mean?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Great question! HTTP status codes are three-digit numbers that a web "
                    "server sends back to tell the browser how a request went. They are "
                    "grouped into families: 1xx are informational, 2xx mean success, 3xx are "
                    "redirects, 4xx are client errors and 5xx are server errors. The code "
                    "404 is in the 4xx family, so it is a client error. Specifically, 404 "
                    "means 'Not Found': the server was reached, but it could not find "
                    "anything at the requested address. This often happens because of a "
                    "typo in the URL or a page that was moved or deleted. In summary, a 404 "
                    "means the page you asked for was not found on the server."
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-rate-07",
        "prompt": "Suggest a name for a small neighbourhood bakery.",
        "responses": [
            {"id": "r1", "model": "atlas-7b", "text": "Rise & Shine Bakery."},
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-rate-08",
        "prompt": "What is the difference between weather and climate?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Weather is the state of the atmosphere at a particular time and place: "
                    "today's rain, wind or temperature. Climate is the typical pattern of "
                    "weather in a region over a long period, usually 30 years or more. A "
                    "handy summary: weather is what you get on a given day, climate is what "
                    "you expect over the years."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-09",
        "prompt": "How do I create a virtual environment in Python?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Use the built-in venv module:\n"
                    "```shell\n"
                    "python3 -m venv .venv\n"
                    "source .venv/bin/activate      # macOS / Linux\n"
                    ".venv\\Scripts\\activate         # Windows\n"
                    "```\n"
                    "Packages you install with pip now go into `.venv`. Run `deactivate` to "
                    "leave it."
                ),
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": "Run `pip install venv` and then `venv create myenv`.",
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-rate-10",
        "prompt": "Summarise the plot of Romeo and Juliet in three sentences.",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "Romeo, a Capulet, falls in love with Juliet, whose family, the "
                    "Montagues, are his family's enemies. They marry in secret, but Romeo is "
                    "banished after killing Juliet's cousin Tybalt. A plan to fake Juliet's "
                    "death goes wrong, and both lovers die, which finally reconciles their "
                    "families."
                ),
            },
        ],
        "metadata": {"topic": "literature"},
    },
    {
        "id": "demo-rate-11",
        "prompt": "Why do we have leap years?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Earth takes about 365.2422 days to go around the Sun, not exactly 365. "
                    "Adding a day every four years keeps the calendar in step with the "
                    "seasons. That slightly overcorrects, so century years are leap years "
                    "only if divisible by 400: 2000 was a leap year, but 1900 was not."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-12",
        "prompt": "Write a haiku about autumn.",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Crisp leaves drift and fall\nthe maple lets go of red\ncold wind hums below"
                ),
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-rate-13",
        "prompt": "What is a primary key in a database?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": "A column or set of columns that uniquely identifies each row in a table.",
            },
        ],
        "metadata": {"topic": "definitions"},
    },
    {
        "id": "demo-rate-14",
        "prompt": "Convert 100 degrees Fahrenheit to Celsius.",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": "C = (F - 32) x 5/9 = (100 - 32) x 5/9 = 68 x 5/9, which is about 37.8 C.",
            },
            {
                "id": "r2",
                "model": "atlas-7b",
                "text": "C = (100 - 32) x 9/5 = 122.4 C.",
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-rate-15",
        "prompt": "What is the tallest mountain on Earth?",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "Mount Everest, at 8,849 m above sea level (the 2020 China-Nepal "
                    "survey). Measured from base to peak, Mauna Kea in Hawaii is taller, at "
                    "over 10,000 m, but most of it is under the sea."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-16",
        "prompt": "Give me a simple idea for weekly meal prep.",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "- Cook a big pot of rice or another grain.\n"
                    "- Roast a tray of mixed vegetables.\n"
                    "- Prepare one protein, like baked chicken, tofu or lentils.\n"
                    "- Make one sauce.\n"
                    "Mix and match them in containers for lunches during the week."
                ),
            },
        ],
        "metadata": {"topic": "cooking"},
    },
    {
        "id": "demo-rate-17",
        "prompt": "Explain what a git branch is.",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "A branch is a movable pointer to a commit. It lets you work on a change "
                    "separately from the main line of development; new commits move the "
                    "branch forward, and you can merge it back when it's ready.\n"
                    "```shell\n"
                    "git switch -c feature/login   # create and switch to a new branch\n"
                    "git switch main               # go back to main\n"
                    "git merge feature/login       # bring the work into main\n"
                    "```"
                ),
            },
        ],
        "metadata": {"topic": "programming"},
    },
    {
        "id": "demo-rate-18",
        "prompt": "What is the boiling point of water at sea level?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "The boiling point of water is an interesting topic. Water is a "
                    "very common substance, and it boils when it gets hot enough. At sea "
                    "level, where the air pressure is about one standard atmosphere, water "
                    "boils at 100 degrees Celsius, which is 212 degrees Fahrenheit. At higher "
                    "altitudes the pressure is lower, so water boils at a lower temperature. "
                    "So, to answer your question, at sea level water boils at 100 degrees "
                    "Celsius, or 212 degrees Fahrenheit, as mentioned above."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-19",
        "prompt": "Tell me a fun fact about octopuses.",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "An octopus has three hearts and blue blood: two hearts pump blood "
                    "through the gills, and the third pumps it around the rest of the body. "
                    "The blood is blue because it uses a copper-based protein, hemocyanin, "
                    "to carry oxygen."
                ),
            },
        ],
        "metadata": {"topic": "science"},
    },
    {
        "id": "demo-rate-20",
        "prompt": "How do I politely decline a meeting invitation?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": (
                    "Keep it short, thank them, and offer an alternative if you can:\n\n"
                    "\"Hi Priya, thanks for the invite. Unfortunately I can't make it on "
                    "Tuesday because of a prior commitment. Could you share the notes "
                    'afterwards, or would a quick chat later in the week work?"'
                ),
            },
            {
                "id": "r2",
                "model": "borealis-13b",
                "text": "Just reply 'Can't come.' and decline it in your calendar.",
            },
        ],
        "metadata": {"topic": "writing"},
    },
    {
        "id": "demo-rate-21",
        "prompt": "What is the Pythagorean theorem?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "In a right triangle, a^2 + b^2 = c^2, where c is the hypotenuse (the "
                    "side opposite the right angle). Example: sides 3 and 4 give a "
                    "hypotenuse of 5, since 9 + 16 = 25."
                ),
            },
        ],
        "metadata": {"topic": "math"},
    },
    {
        "id": "demo-rate-22",
        "prompt": "Explain the difference between RAM and storage.",
        "responses": [
            {
                "id": "r1",
                "model": "borealis-13b",
                "text": (
                    "RAM is memory. Storage is also kind of memory but for files. RAM is "
                    "fast, storage keeps things. When you turn it off RAM, storage is still "
                    "there but RAM goes. Storage like SSD. RAM is where programs are, files "
                    "are storage, but programs are also files in storage."
                ),
            },
            {
                "id": "r2",
                "model": "cirrus-70b",
                "text": (
                    "RAM is fast, temporary working memory: it holds the programs and data "
                    "you are using right now and is cleared when the computer turns off. "
                    "Storage (an SSD or hard drive) is slower but permanent: it keeps your "
                    "files and installed programs when the power is off. A desk and a "
                    "filing cabinet is a common analogy."
                ),
            },
        ],
        "metadata": {"topic": "definitions"},
    },
    {
        "id": "demo-rate-23",
        "prompt": "Who wrote 'Pride and Prejudice'?",
        "responses": [
            {
                "id": "r1",
                "model": "cirrus-70b",
                "text": "Jane Austen. It was first published in 1813.",
            },
        ],
        "metadata": {"topic": "history"},
    },
    {
        "id": "demo-rate-24",
        "prompt": "How can I help my houseplants thrive?",
        "responses": [
            {
                "id": "r1",
                "model": "atlas-7b",
                "text": (
                    "- Check how much light each plant likes and place it accordingly.\n"
                    "- Water when the top few centimetres of soil are dry, not on a fixed "
                    "schedule.\n"
                    "- Use pots with drainage holes so roots don't sit in water.\n"
                    "- Feed lightly during spring and summer."
                ),
            },
        ],
        "metadata": {"topic": "everyday advice"},
    },
]
