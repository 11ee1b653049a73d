"""Write a large WordPress-style RSS 2.0 feed for benchmarks: ``python bench/make_feed.py N PATH``.

Items look like the magazine's: titles of 40–190 characters with curly quotes, Hangul and
entities, an excerpt description with "Read More" and the "appeared first on" footer, a full
``content:encoded`` body of several paragraphs (~3–6 KB), two or three categories and tags,
dc:creator, a guid and a pubDate. A few items carry mojibake, as real feeds do.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

WORDS = [
    "Seoul",
    "interview",
    "debut",
    "album",
    "stage",
    "fans",
    "tour",
    "comeback",
    "single",
    "members",
    "group",
    "music",
    "video",
    "Korean",
    "producer",
    "dance",
    "vocal",
    "rapper",
    "concert",
    "festival",
    "drama",
    "actress",
    "actor",
    "webtoon",
    "indie",
    "band",
    "brand",
    "global",
    "K-pop",
    "chart",
    "label",
    "trainee",
    "showcase",
    "performance",
    "interview",
    "season",
    "award",
]
NAMES = ["KNK (크나큰)", "Dreamcatcher", "MCND", "Vicke Blanka", "HMLT", "Soulsweet", "동키즈"]
CATEGORIES = [
    "Interviews",
    "K-Pop Interviews",
    "Featured Interview",
    "K-Pop",
    "K-Dramas",
    "Breaking News",
]
TAGS = ["BTS", "NewJeans", "Le Sserafim", "iKON", "Seoul", "KCON", "크나큰"]


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def item(rng: random.Random, n: int, when: datetime, *, content: bool = True) -> str:
    name = rng.choice(NAMES)
    title = (
        f"KCRUSH Interview with {name}: &#8220;{sentence(rng, rng.randint(4, 26))[:-1]}&#8221; #{n}"
    )
    slug = f"kcrush-interview-{n}-{name.split()[0].lower()}"
    excerpt = " ".join(sentence(rng, rng.randint(8, 16)) for _ in range(3))
    if n % 50 == 0:
        excerpt = "Itâ€™s here: " + excerpt  # mojibake, as a mis-encoded import leaves it
    paragraphs = "\n".join(
        f"<p>{sentence(rng, rng.randint(12, 30))} We&#8217;re <strong>{name}</strong> fans "
        f"&#8211; {sentence(rng, rng.randint(10, 25))}</p>"
        for _ in range(rng.randint(8, 16))
    )
    cats = "".join(f"<category><![CDATA[{c}]]></category>" for c in rng.sample(CATEGORIES, 2))
    tags = "".join(f"<category><![CDATA[{t}]]></category>" for t in rng.sample(TAGS, 2))
    link = f"https://www.kcrush.com/{slug}/"
    encoded = (
        f"""<content:encoded><![CDATA[<p><img src="https://www.kcrush.com/wp-content/uploads/2023/05/{slug}.jpg" alt="{name} 1" width="900" height="600" /></p>
{paragraphs}
<p>The post <a href="{link}">{title}</a> appeared first on <a href="https://www.kcrush.com">KCrush America Magazine</a>.</p>
]]></content:encoded>"""
        if content
        else ""
    )
    return f"""	<item>
		<title>{title}</title>
		<link>{link}?utm_source=rss&#038;utm_medium=rss</link>
		<comments>{link}#respond</comments>
		<dc:creator><![CDATA[KCrush Staff]]></dc:creator>
		<pubDate>{format_datetime(when)}</pubDate>
		{cats}{tags}
		<guid isPermaLink="false">http://www.kcrush.com/?p={100000 + n}</guid>
		<description><![CDATA[<p>{excerpt}&#8230; <a class="more-link" href="{link}">Read More</a></p>
<p>The post <a href="{link}">{title}</a> appeared first on <a href="https://www.kcrush.com">KCrush America Magazine</a>.</p>
]]></description>
		{encoded}
		<wfw:commentRss>{link}feed/</wfw:commentRss>
		<slash:comments>0</slash:comments>
	</item>
"""


def make_feed(items: int, seed: int = 7, *, content: bool = True) -> bytes:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    body = "".join(item(rng, n, start - timedelta(hours=n), content=content) for n in range(items))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/">\n<channel>\n'
        "<title>KCrush America Magazine</title><link>https://www.kcrush.com</link>\n"
        "<description>K-Pop and Korean entertainment</description>\n"
        f"{body}</channel>\n</rss>\n"
    ).encode()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench/results/feed.xml")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(make_feed(count))
    print(f"wrote {count} items, {out.stat().st_size:,} bytes, to {out}")
