"""Validates the built sample shop with independent tools, not site-gen's own code.

- every HTML page parses with html5lib in strict mode (an HTML5 parser),
- sitemap.xml, the Atom feed and every page are well-formed for xmllint,
- the Atom feed parses cleanly with feedparser,
- every internal href/src, found by the HTML5 parser, resolves to a file;
- no page has an inline script or event handler (ready for a
  Content-Security-Policy of script-src 'self'), and the purchase forms
  (each clip's buy button, the cart) post to the Worker's /checkout;
- every clip page's and news post's structured data, read by extruct (the
  JSON-LD, Open Graph and microdata extractor), has what search engines need
  for video, product and article results, with the values of the content.

The shop is built once per session with the real `site-gen` binary into a
temporary folder; SITE_GEN may point at a prebuilt binary.
"""

import json
import os
import pathlib
import shutil
import subprocess
import fnmatch
import tempfile
import tomllib
import urllib.parse

import feedparser
import html5lib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def site_gen_command():
    binary = os.environ.get("SITE_GEN")
    if binary:
        return [binary]
    return ["cargo", "run", "--quiet", "-p", "site-gen", "--"]


@pytest.fixture(scope="session")
def site():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="clipstore-site-"))
    out = tmp / "public"
    subprocess.run(
        site_gen_command()
        + ["build", "--root", str(ROOT), "--out", str(out), "--manifest", str(tmp / "catalog.json")],
        check=True,
        cwd=ROOT,
    )
    yield out
    shutil.rmtree(tmp)


def published(kind):
    """Slugs of the sample shop's published items of `kind` (clips or news),
    read with a TOML parser, independently of site-gen."""
    import datetime
    import tomllib
    slugs = set()
    for source in (ROOT / "content" / kind).glob("*.md"):
        front = tomllib.loads(source.read_text().split("+++")[1])
        date = front["date"]
        if isinstance(date, datetime.datetime):
            date = date.date()
        if not front.get("draft", False) and date <= datetime.date.today():
            slugs.add(front.get("slug", source.stem))
    return slugs


def html_pages(site):
    return sorted(site.rglob("*.html"))


def test_site_has_the_expected_page_kinds(site):
    for path in ["index.html", "clips/index.html", "news/index.html", "tags/index.html", "404.html",
                 "about/index.html", "faq/index.html", "terms/index.html", "news/atom.xml",
                 "cart/index.html", "search/index.html", "sitemap.xml", "robots.txt", "css/site.css",
                 "js/cart.js", "js/search.js", "pagefind/pagefind.js", "pagefind/pagefind-entry.json"]:
        assert (site / path).is_file(), path
    assert len(list((site / "clips").glob("*/index.html"))) >= 8


def test_every_page_is_valid_html5(site):
    failures = []
    for page in html_pages(site):
        parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
        try:
            parser.parse(page.read_bytes())
        except html5lib.html5parser.ParseError as e:
            failures.append(f"{page.relative_to(site)}: {e}")
    assert not failures, "\n".join(failures)


def test_xml_files_are_well_formed_for_xmllint(site):
    files = [site / "sitemap.xml", site / "news" / "atom.xml"]
    result = subprocess.run(["xmllint", "--noout", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pages_are_well_formed_for_xmllint_html_parser(site):
    pages = [str(p) for p in html_pages(site)]
    result = subprocess.run(["xmllint", "--html", "--noout", *pages], capture_output=True, text=True)
    # libxml2's HTML parser predates HTML5 and warns about new elements (nav, main, ...);
    # anything else is an error in our markup.
    errors = [l for l in result.stderr.splitlines()
              if "error" in l and "Tag " not in l and "invalid" not in l.lower()]
    assert not errors, "\n".join(errors)


def test_sitemap_lists_every_page_with_absolute_urls(site):
    import xml.etree.ElementTree as ET
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    tree = ET.parse(site / "sitemap.xml")
    locs = [e.text for e in tree.findall("s:url/s:loc", ns)]
    assert len(locs) == len(set(locs))
    base = locs[0].split("/", 3)[:3]
    # The cart and search pages are filled in the browser: not for search engines.
    pages = ({p for p in html_pages(site) if p.name == "index.html"}
             - {site / "cart" / "index.html", site / "search" / "index.html"})
    assert len(locs) == len(pages)
    assert not any(urllib.parse.urlparse(loc).path in ("/cart/", "/search/") for loc in locs)
    for loc in locs:
        assert loc.startswith("https://"), loc
        path = urllib.parse.urlparse(loc).path
        assert (site / path.lstrip("/") / "index.html").is_file(), loc


def test_atom_feed_parses_cleanly(site):
    feed = feedparser.parse(str(site / "news" / "atom.xml"))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title
    news = published("news")
    assert len(feed.entries) == min(20, len(news)) > 0
    assert {urllib.parse.urlparse(e.link).path for e in feed.entries} == {f"/news/{s}/" for s in news}
    dates = [e.published_parsed for e in feed.entries]
    assert dates == sorted(dates, reverse=True), "newest first"
    for entry in feed.entries:
        assert entry.link.startswith("https://") and entry.id and entry.title
        assert entry.content[0].value.strip()
        path = urllib.parse.urlparse(entry.link).path
        assert (site / path.lstrip("/") / "index.html").is_file(), entry.link


def links_of(page):
    doc = html5lib.parse(page.read_bytes(), namespaceHTMLElements=False)
    for el in doc.iter():
        for attr in ("href", "src", "poster"):
            value = el.get(attr)
            if value:
                yield value


def worker_paths():
    """The paths the edge Worker answers before the static files (wrangler.toml's run_worker_first)."""
    config = tomllib.loads((ROOT / "edge-worker" / "wrangler.toml").read_text())
    return config["assets"]["run_worker_first"]


def test_every_internal_link_resolves(site):
    worker = worker_paths()
    broken = []
    checked = 0
    for page in html_pages(site):
        page_url = "/" + str(page.relative_to(site)).removesuffix("index.html")
        for link in links_of(page):
            url = urllib.parse.urljoin("https://shop.invalid" + page_url, link)
            parsed = urllib.parse.urlparse(url)
            if parsed.netloc != "shop.invalid" or parsed.scheme not in ("http", "https"):
                continue
            path = urllib.parse.unquote(parsed.path).lstrip("/")
            target = site / path
            checked += 1
            if any(fnmatch.fnmatchcase(parsed.path, pattern) for pattern in worker):
                continue  # a page of the Worker (e.g. /orders/recover)
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert checked > 100
    assert not broken, "\n".join(broken)


def test_drafts_and_future_posts_are_not_published(site):
    for kind in ("clips", "news"):
        built = {p.parent.name for p in (site / kind).glob("*/index.html")} - {"page"}
        assert built == published(kind), kind
        every = {p.stem for p in (ROOT / "content" / kind).glob("*.md")}
        assert built < every, f"the sample shop has unpublished {kind}"


def parsed(page):
    return html5lib.parse(page.read_bytes(), namespaceHTMLElements=False)


def test_no_inline_scripts_or_event_handlers(site):
    found = []
    for page in html_pages(site):
        doc = parsed(page)
        for el in doc.iter():
            # JSON-LD is a data block, never run: a CSP's script-src does not apply to it.
            if el.tag == "script" and el.get("type") == "application/ld+json":
                continue
            if el.tag == "script" and (not el.get("src") or (el.text or "").strip()):
                found.append(f"{page.relative_to(site)}: inline <script>")
            found += [f"{page.relative_to(site)}: {attr}= on <{el.tag}>" for attr in el.attrib
                      if attr.lower().startswith("on")]
            if (el.get("href") or "").strip().lower().startswith("javascript:"):
                found.append(f"{page.relative_to(site)}: javascript: link")
        scripts = [el.get("src") for el in doc.iter("script") if el.get("type") != "application/ld+json"]
        # The search page also loads its own script (which imports Pagefind's).
        expected = ["/js/cart.js", "/js/search.js"] if page == site / "search" / "index.html" else ["/js/cart.js"]
        assert scripts == expected, f"{page.relative_to(site)}: {scripts}"
    assert not found, "\n".join(found)


def forms_of(page):
    return [(form, {i.get("name"): i.get("value") for i in form.iter("input") if i.get("type") == "hidden"})
            for form in parsed(page).iter("form")]


def test_each_clip_page_has_a_buy_button_that_works_without_javascript(site):
    for slug in published("clips"):
        page = site / "clips" / slug / "index.html"
        forms = forms_of(page)
        links = [a.get("href") for a in parsed(page).iter("a") if "button-buy" in (a.get("class") or "")]
        if links:
            assert links[0].startswith("https://buy.stripe.com/") and not forms, slug
            continue
        assert len(forms) == 1, slug
        form, fields = forms[0]
        assert (form.get("method"), form.get("action")) == ("post", "/checkout"), slug
        radios = [i for i in form.iter("input") if i.get("type") == "radio"]
        if radios:
            # A choice of file and licence: each radio is an item (slug[:variant[:licence]]),
            # the plain slug checked first; no hidden clip field.
            assert all(r.get("name") == "clip" for r in radios) and not fields, slug
            assert [r.get("value") for r in radios if r.get("checked") is not None] == [slug], slug
            assert all(r.get("value").startswith(slug + ":") for r in radios if r.get("value") != slug), slug
        else:
            assert fields == {"clip": slug}, f"{slug}: one clip field, no cart id"
        assert [b.text for b in form.iter("button") if b.get("type") == "submit"] == ["Buy this clip"]


def test_the_cart_page_has_the_checkout_form_and_says_what_works_without_javascript(site):
    page = site / "cart" / "index.html"
    [(form, fields)] = forms_of(page)
    assert (form.get("method"), form.get("action")) == ("post", "/checkout")
    assert fields == {}, "the script adds the clip and cart fields"
    assert [b.text for b in form.iter("button")] == ["Checkout"]
    text = " ".join(parsed(page).find("body").itertext())
    assert "The cart needs JavaScript" in text and "Buy this clip" in text
    assert any(m.get("name") == "robots" and m.get("content") == "noindex" for m in parsed(page).iter("meta"))


def test_the_search_page_has_a_labelled_control_per_filter_and_says_what_works_without_javascript(site):
    page = parsed(site / "search" / "index.html")
    [form] = [f for f in page.iter("form") if f.get("role") == "search"]
    assert form.get("hidden") is not None, "shown by the script"
    labels = {l.get("for"): "".join(l.itertext()) for l in page.iter("label")}
    controls = [c for c in form.iter() if c.tag in ("input", "select")]
    assert [c.get("name") for c in controls] == ["q", "tag", "resolution", "price", "duration"]
    for control in controls:
        assert labels.get(control.get("id")), control.get("name")
    # Each filter offers "Any" and the values the published clips have.
    options = {s.get("name"): [o.get("value") for o in s.iter("option")] for s in form.iter("select")}
    tags = {t for slug in published("clips") for t in front_matter("clips", slug).get("tags", [])}
    assert set(options["tag"][1:]) == {t.lower() for t in tags}
    assert all(values[0] == "" for values in options.values())
    text = " ".join(page.find("body").itertext())
    assert "Search needs JavaScript" in text
    assert any(a.get("href") == "/clips/" for a in page.iter("a"))
    assert [p.get("aria-live") for p in page.iter("p") if p.get("role") == "status"][-1] == "polite"
    # Pagefind's index holds every published clip.
    entry = json.loads((site / "pagefind" / "pagefind-entry.json").read_text())
    assert sum(lang["page_count"] for lang in entry["languages"].values()) == len(published("clips"))


def front_matter(kind, slug):
    """A published item's front matter, read with a TOML parser."""
    for source in (ROOT / "content" / kind).glob("*.md"):
        front = tomllib.loads(source.read_text().split("+++")[1])
        if front.get("slug", source.stem) == slug:
            return front
    raise AssertionError(f"no content/{kind} item {slug}")


def structured(page, url):
    import extruct
    return extruct.extract(page.read_text(), base_url=url, syntaxes=["json-ld", "opengraph"], uniform=True)


def iso8601_seconds(duration):
    import re
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration)
    assert m and duration != "PT", duration
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s


def published_pages(site, kind):
    """(front matter, absolute URL, extruct's data) of each published item of `kind`."""
    config = tomllib.loads((ROOT / "content" / "site.toml").read_text())
    base = config["base_url"].rstrip("/")
    slugs = published(kind)
    assert slugs
    for slug in sorted(slugs):
        url = f"{base}/{kind}/{slug}/"
        yield front_matter(kind, slug), url, structured(site / kind / slug / "index.html", url)


def test_clip_pages_carry_video_and_product_structured_data(site):
    config = tomllib.loads((ROOT / "content" / "site.toml").read_text())
    base = config["base_url"].rstrip("/")
    for front, url, data in published_pages(site, "clips"):
        slug = url.rstrip("/").rsplit("/", 1)[-1]
        assert len(data["json-ld"]) == 1, slug
        graph = data["json-ld"][0]["@graph"]
        [video] = [n for n in graph if n["@type"] == "VideoObject"]
        [product] = [n for n in graph if n["@type"] == "Product"]
        # Google's video results: name, thumbnailUrl and uploadDate required; description,
        # duration and contentUrl recommended.
        assert video["name"] == front["title"]
        assert video["description"].strip()
        assert video["thumbnailUrl"] == base + front["poster"]
        assert str(video["uploadDate"]).startswith(str(front["date"])[:10])
        minutes, seconds = front["duration"].split(":")[-2:]
        assert iso8601_seconds(video["duration"]) == int(minutes) * 60 + int(seconds), video["duration"]
        if "preview" in front:
            assert video["contentUrl"] == base + front["preview"]
        # Product results: name, image and an offer with price, currency and availability.
        assert product["name"] == front["title"] and product["image"] == base + front["poster"]
        # One Offer per file (a list when the clip has [[variants]]), the main file first.
        offers = product["offers"] if isinstance(product["offers"], list) else [product["offers"]]
        assert len(offers) == 1 + len(front.get("variants", [])), slug
        for offer in offers:
            assert offer["@type"] == "Offer"
            assert float(offer["price"]) > 0
            assert offer["priceCurrency"] == config["currency"]
            assert offer["availability"] == "https://schema.org/InStock"
            assert offer["url"] == url
        default = (config.get("licences") or [{}])[0]
        if default.get("factor", 1) == 1 and not default.get("surcharge"):
            prices = [front["price"]] + [v["price"] for v in front.get("variants", [])]
            assert [float(o["price"]) for o in offers] == [float(p) for p in prices], slug
        if len(offers) > 1:
            assert [o["sku"] for o in offers] == [slug] + [f"{slug}:{v['id']}" for v in front["variants"]]
        # Sharing: Open Graph with the poster, and a large Twitter card.
        og = dict(data["opengraph"][0]) if data["opengraph"] else {}
        assert og.get("@type") == "video.other" and og.get("og:image") == base + front["poster"], og
        assert og.get("og:title") == front["title"] and og.get("og:description", "").strip(), og
        assert '<meta name="twitter:card" content="summary_large_image">' in (site / "clips" / slug / "index.html").read_text()


def test_a_clip_with_variants_and_licences_has_an_offer_per_file(tmp_path):
    """The fixture shop site-gen/tests/fixtures/variant-shop: three files, two licence tiers."""
    fixture = ROOT / "site-gen" / "tests" / "fixtures" / "variant-shop"
    subprocess.run(
        site_gen_command()
        + ["build", "--root", str(fixture), "--out", str(tmp_path / "public"), "--manifest", str(tmp_path / "m.json")],
        check=True,
        cwd=ROOT,
    )
    url = "https://variants.example/clips/harbour/"
    data = structured(tmp_path / "public" / "clips" / "harbour" / "index.html", url)
    [product] = [n for n in data["json-ld"][0]["@graph"] if n["@type"] == "Product"]
    offers = [(o["sku"], o["name"], o["price"], o["priceCurrency"], o["availability"]) for o in product["offers"]]
    stock = "https://schema.org/InStock"
    assert offers == [
        ("harbour", "Harbour (4K, Standard licence)", "48.00", "EUR", stock),
        ("harbour:hd", "Harbour (HD, Standard licence)", "24.00", "EUR", stock),
        ("harbour:web", "Harbour (720p, Standard licence)", "9.50", "EUR", stock),
    ]


def test_news_posts_carry_blog_posting_structured_data(site):
    config = tomllib.loads((ROOT / "content" / "site.toml").read_text())
    for front, url, data in published_pages(site, "news"):
        [posting] = data["json-ld"]
        assert posting["@type"] == "BlogPosting"
        assert posting["headline"] == front["title"]
        assert str(posting["datePublished"]).startswith(str(front["date"])[:10])
        assert posting["author"]["@type"] == "Organization" and posting["author"]["name"] == config["title"]
        assert posting["url"] == url
        og = dict(data["opengraph"][0]) if data["opengraph"] else {}
        assert og.get("@type") == "article", og


def test_a_title_cannot_close_the_structured_data_script(site, tmp_path):
    """A clip titled with markup: its JSON-LD still parses to the same title and
    the page has exactly the one JSON-LD script it should."""
    shop = tmp_path / "shop"
    shutil.copytree(ROOT / "content", shop / "content")
    for extra in ["templates", "static"]:
        if (ROOT / extra).exists():
            shutil.copytree(ROOT / extra, shop / extra)
    source = next((shop / "content" / "clips").glob("*.md"))
    text = source.read_text()
    title = '</script><script>alert(1)</script><!-- "x"'
    start = text.index("title = ")
    end = text.index("\n", start)
    source.write_text(text[:start] + "title = " + json_string(title) + text[end:])
    out = tmp_path / "public"
    subprocess.run(site_gen_command() + ["build", "--root", str(shop), "--out", str(out),
                   "--manifest", str(tmp_path / "m.json")], check=True, cwd=ROOT, capture_output=True)
    front = tomllib.loads(source.read_text().split("+++")[1])
    slug = front.get("slug", source.stem)
    page = out / "clips" / slug / "index.html"
    data = structured(page, "https://x.example/")
    [ld] = data["json-ld"]
    assert {n["name"] for n in ld["@graph"]} == {title}
    assert "<script>alert(1)" not in page.read_text()


def json_string(s):
    import json
    return json.dumps(s)
