// The cart, in localStorage "clipstore.cart"; the site works without this
// file. See docs/templates.md, "The cart".

// The Worker's "payment is being confirmed" page ([data-await-order]: the
// seconds between checks): asks for the page again in the background and
// loads it once the order exists, instead of reloading on a timer.
(() => {
  const wait = document.querySelector("[data-await-order]");
  if (!wait) return;
  const every = 1000 * (Number(wait.getAttribute("data-await-order")) || 3);
  const status = wait.querySelector("[data-await-status]");
  let checks = 0;
  const check = async () => {
    checks += 1;
    try {
      const res = await fetch(location.href, { cache: "no-store", credentials: "same-origin" });
      if (res.ok && !(await res.text()).includes("data-await-order")) {
        if (status) status.textContent = "Your payment is confirmed: loading your download links.";
        location.reload();
        return;
      }
    } catch {
      // Offline for a moment: the next check tries again.
    }
    if (checks < 200) setTimeout(check, every);
    else if (status) status.textContent = "This is taking longer than it should. Use “Check again”, or write to us.";
  };
  setTimeout(check, every);
})();
(() => {
  const KEY = "clipstore.cart";
  const MAX = 64; // lines the Worker's checkout takes: what one download link covers
  // slug -> {title, price_cents, price_display, url, items?}, written by site-gen;
  // items: the part of each item after the slug -> [price_cents, price_display,
  // the description after the title: " (4K, Extended licence)"].
  const CLIPS = "/cart/clips.json";
  // An item: slug[:variant[:licence]], as the checkout takes it.
  const ITEM = /^([a-z0-9]+(?:-[a-z0-9]+)*)(?::((?:[a-z0-9-]{1,32})?)(?::([a-z0-9-]{1,32}))?)?$/;
  const slugOf = (item) => ITEM.exec(item || "")?.[1];
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => [...document.querySelectorAll(sel)];
  const el = (tag, props) => Object.assign(document.createElement(tag), props);

  // Storage refused: the cart stays hidden.
  let store;
  try {
    store = localStorage;
    store.setItem(KEY + "?", "1");
    store.removeItem(KEY + "?");
  } catch {
    return;
  }

  // 128 random bits in base64url: 22 characters of [A-Za-z0-9_-].
  const newId = () =>
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))).slice(0, 22).replace(/\+/g, "-").replace(/\//g, "_");
  const str = (v, or) => (typeof v === "string" && v ? v : or);

  // A cart line from untrusted data (storage, attributes), or null. Lines
  // stored before variants have only a slug: it is their item.
  function clean(x) {
    const { price_cents: cents } = x || {}, url = str(x?.url, ""), item = str(x?.item, str(x?.slug, ""));
    const slug = slugOf(item);
    if (!slug || !Number.isSafeInteger(cents) || cents < 0) return null;
    return { item, slug, title: str(x.title, slug), price_cents: cents, price_display: str(x.price_display, ""),
      url: /^\/(?!\/)/.test(url) ? url : `/clips/${slug}/` };
  }

  // The item an add button stands for: in a clip page's choice
  // ([data-cart-choice]), the checked radio's; else its data-item or data-slug.
  // Whether the button is a clip page's, under its choice of file and licence.
  function chooses(b) {
    return !!b.closest("[data-cart-choice]");
  }

  function itemOf(b) {
    const checked = b.closest("[data-cart-choice]")?.querySelector("input[name=clip]:checked");
    return checked ? checked.value : str(b.dataset.item, b.dataset.slug);
  }

  // The clips of /cart/clips.json, once fetched.
  let clips = {};

  // The cart line an add button stands for, or null: from its own data-title,
  // data-price-cents, data-price-display and data-url if it has them (a
  // shop's own templates may), else from /cart/clips.json: the item's price
  // and description as site-gen wrote them (never computed here).
  function lineOf(b) {
    const d = b.dataset, item = itemOf(b);
    if (d.priceCents !== undefined)
      return clean({ item, title: d.title, price_cents: +d.priceCents, price_display: d.priceDisplay, url: d.url });
    return fromCatalog(item);
  }

  // The cart line of `item` as /cart/clips.json has it now, or null.
  function fromCatalog(item) {
    const slug = slugOf(item);
    if (!slug || !Object.hasOwn(clips, slug)) return null;
    const clip = clips[slug], rest = item.slice(slug.length);
    if (!clip.items || typeof clip.items !== "object") return rest ? null : clean({ ...clip, item });
    const p = Object.hasOwn(clip.items, rest) ? clip.items[rest] : null;
    if (!Array.isArray(p)) return null;
    return clean({ item, title: str(clip.title, slug) + str(p[2], ""), price_cents: p[0], price_display: p[1], url: clip.url });
  }

  // The stored cart; what is missing or corrupt starts afresh.
  function load() {
    let d;
    try {
      d = JSON.parse(store.getItem(KEY)) || {};
    } catch {
      d = {};
    }
    const cart = { id: /^[\w-]{22}$/.test(str(d.id, "")) ? d.id : newId(), items: [] };
    const seen = new Set();
    for (const x of Array.isArray(d.items) ? d.items : []) {
      const item = clean(x);
      if (item && !seen.has(item.slug) && seen.size < MAX) cart.items.push(item), seen.add(item.slug);
    }
    return cart;
  }

  function save(cart) {
    try {
      store.setItem(KEY, JSON.stringify(cart));
      return true;
    } catch {
      say("Your browser would not save the cart.");
    }
  }

  let timer;
  function say(text) {
    const box = $("[data-cart-message]") || {};
    box.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => (box.textContent = ""), 8000);
  }

  // As site-gen writes prices: data-price-pattern="€{amount}", with
  // data-price-decimals decimals (0 for yen, 3 for dinars; `cents` are
  // hundredths whatever the currency).
  function money(cents, page) {
    const whole = Math.floor(cents / 100), hundredths = String(cents % 100).padStart(2, "0");
    const decimals = page.dataset.priceDecimals;
    const amount = decimals === "0" ? `${whole}` : decimals === "3" ? `${whole}.${hundredths}0` : `${whole}.${hundredths}`;
    return (page.dataset.pricePattern || "{amount}").replace("{amount}", amount);
  }

  function line(item) {
    const tr = el("tr"), title = el("td"), remove = el("td");
    const button = el("button", { type: "button", className: "cart-remove", textContent: "Remove" });
    button.dataset.cartRemove = item.slug;
    button.setAttribute("aria-label", `Remove ${item.title}`);
    title.append(el("a", { href: item.url, textContent: item.title }));
    remove.append(button);
    tr.append(title, el("td", { className: "cart-price", textContent: item.price_display }), remove);
    return tr;
  }

  function render(cart) {
    const n = cart.items.length, bySlug = new Map(cart.items.map((i) => [i.slug, i]));
    // "Cart 2" said as "Cart 2 clips" (the accessibility review).
    for (const c of $$("[data-cart-count]")) {
      c.replaceChildren(String(n), el("span", { className: "visually-hidden", textContent: n === 1 ? " clip" : " clips" }));
      c.hidden = false;
    }
    for (const b of $$("[data-cart-add]")) {
      // The cart holds one item per clip: another file or licence chosen on
      // the clip's page replaces it. A card's button stands for the clip:
      // with any file of it in the cart, it takes that out (it replaced the
      // file chosen on the clip's page with the main one).
      const item = itemOf(b), had = bySlug.get(slugOf(item)), has = had && (had.item === item || !chooses(b));
      b.textContent = has ? "Remove from cart" : had ? "Replace in cart" : "Add to cart";
      // A list has a button per card: each names its clip to a screen reader.
      const named = has ? had : lineOf(b) || had;
      if (named) b.setAttribute("aria-label", `${b.textContent}: ${named.title}`);
      b.classList.toggle("in-cart", has);
      // Shown once the clip is known (or to take it out of the cart).
      b.hidden = !has && !lineOf(b);
    }
    const page = $("[data-cart-page]");
    if (!page) return;
    const part = (name) => page.querySelector(`[data-cart-${name}]`) || el("form");
    part("no-script").hidden = true;
    part("empty").hidden = n > 0;
    part("filled").hidden = n === 0;
    part("lines").replaceChildren(...cart.items.map(line));
    part("total").textContent = money(cart.items.reduce((sum, i) => sum + i.price_cents, 0), page);
    // One clip field per line, in cart order, then the cart id.
    const form = part("form");
    form.querySelectorAll("input[type=hidden]").forEach((i) => i.remove());
    const fields = cart.items.map((i) => ["clip", i.item]).concat([["cart", cart.id]]);
    form.prepend(...fields.map(([name, value]) => el("input", { type: "hidden", name, value })));
  }

  // Add buttons toggle; the cart page's remove buttons remove.
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-cart-add], [data-cart-remove]");
    if (!b) return;
    const cart = load(), d = b.dataset, removing = d.cartRemove !== undefined; // as other tabs left it
    const wanted = removing ? d.cartRemove : itemOf(b), slug = removing ? wanted : slugOf(wanted);
    const had = cart.items.find((i) => i.slug === slug);
    const item = removing ? null : lineOf(b);
    const index = $$("[data-cart-remove]").indexOf(b);
    if (had && (removing || had.item === wanted || !chooses(b))) {
      cart.items = cart.items.filter((i) => i !== had);
      say(`Removed “${had.title}” from the cart.`);
    } else if (!item) {
      return;
    } else if (had) {
      cart.items[cart.items.indexOf(had)] = item;
      say(`Replaced “${had.title}” with “${item.title}” in the cart.`);
    } else if (cart.items.length >= MAX) {
      return say(`The cart is full: it holds at most ${MAX} clips.`);
    } else {
      cart.items.push(item);
      say(`Added “${item.title}” to the cart.`);
    }
    if (!save(cart)) return;
    render(cart);
    // The focus goes from a removed line to the next.
    const next = $$("[data-cart-remove]");
    if (index >= 0) (next[Math.min(index, next.length - 1)] || $("[data-cart-empty] a"))?.focus();
  });

  // A clip page's choice: the add button follows the checked item.
  document.addEventListener("change", (e) => e.target.matches("[data-cart-choice] input[name=clip]") && render(load()));

  // Filled afresh from storage as it is sent. What went to the checkout is
  // kept beside the cart, so that its success page takes out those items,
  // not one added since (in another tab, while paying).
  const SENT = KEY + ".sent";
  document.addEventListener("submit", (e) => {
    if (!e.target.matches("[data-cart-form]")) return;
    const cart = load();
    if (!cart.items.length || !save(cart)) e.preventDefault();
    else store.setItem(SENT, JSON.stringify({ id: cart.id, items: cart.items.map((i) => i.item) }));
    render(cart);
  });

  // A clip's own "Buy" sends no cart id, so the Worker cannot tell a second
  // click from a second customer: each would open a payment page of its
  // own. The same choice is sent once in 5 seconds (a checkout stopped
  // with Esc can be sent again after that); another choice, at once; a
  // page back from Stripe's, at once.
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form.matches(".buy-form")) return;
    const choice = new URLSearchParams(new FormData(form)).toString();
    const [sent, at] = [form.dataset.sent, Number(form.dataset.sentAt || 0)];
    if (sent === choice && Date.now() - at < 5000) return e.preventDefault();
    form.dataset.sent = choice;
    form.dataset.sentAt = String(Date.now());
  });
  addEventListener("pageshow", () => $$(".buy-form").forEach((f) => delete f.dataset.sent));

  // Other tabs' changes; pages back from the back-forward cache.
  addEventListener("storage", (e) => (e.key === KEY || e.key === null) && render(load()));
  addEventListener("pageshow", (e) => e.persisted && render(load()));

  // The Worker's success page names the cart that was paid for: only that
  // one is emptied (not a cart built since, in another tab or after a
  // single clip's "Buy" or a Payment Link, which name none), of what was
  // sent to its checkout; a clip added since stays, in a cart of a new id
  // (the paid one's checkout is not asked for again).
  const paid = document.body.getAttribute("data-cart-clear");
  if (paid && load().id === paid) {
    let sent = null;
    try {
      sent = JSON.parse(store.getItem(SENT));
    } catch {
      // Not ours: empty the cart, as before anything was kept.
    }
    const went = sent && sent.id === paid && Array.isArray(sent.items) ? sent.items : null;
    save({ id: newId(), items: went ? load().items.filter((i) => !went.includes(i.item)) : [] });
    store.removeItem(SENT);
  }
  // The clips it bought leave any other cart, whose checkout would charge
  // for them again (a clip bought with its page's "Buy" while in the cart).
  const bought = (document.body.getAttribute("data-cart-bought") || "").split(" ");
  const held = load();
  const kept = held.items.filter((i) => !bought.includes(i.slug));
  if (kept.length < held.items.length) save({ id: held.id, items: kept });
  // A clip page whose clip is in the cart shows the item the cart holds.
  for (const form of $$("[data-cart-choice]")) {
    const slug = form.querySelector("[data-cart-add]")?.dataset.slug;
    const had = load().items.find((i) => i.slug === slug);
    const radio = had && [...form.querySelectorAll("input[name=clip]")].find((r) => r.value === had.item);
    if (radio) radio.checked = true;
  }
  render(load());

  // The cart page, once the list has come: each line as the catalog has it
  // now, what the checkout will charge (a price changed since the line was
  // added, a licence tier that is now the default); a clip no longer sold
  // is taken out, and said so, before it could refuse the whole checkout.
  // A price that changed is said too (the total changed without a word).
  function reprice() {
    const cart = load(), gone = [], changed = [];
    cart.items = cart.items.flatMap((i) => {
      const now = fromCatalog(i.item);
      if (!now) return gone.push(i.title), [];
      if (now.price_cents !== i.price_cents) changed.push(`${now.title}, now ${now.price_display}`);
      return [now];
    });
    const told = [];
    if (gone.length) told.push(`No longer for sale, so taken out of the cart: ${gone.join(", ")}.`);
    if (changed.length) told.push(`The price changed since it was added: ${changed.join("; ")}.`);
    // Said where it stays until the cart changes again: a message that
    // cleared itself after 8 s left no word of why a clip had gone or the
    // total had risen (the accessibility review).
    const notice = $("[data-cart-notice]");
    if (notice) Object.assign(notice, { textContent: told.join(" "), hidden: !told.length });
    else if (told.length) say(told.join(" "));
    save(cart);
    render(cart);
  }

  // Once per page, and only where an add button or the cart page needs it:
  // the buttons show when it has come (the browser's cache serves it to the
  // next pages).
  const onCartPage = $("[data-cart-page]") && load().items.length > 0;
  if (onCartPage || $$("[data-cart-add]").some((b) => b.dataset.priceCents === undefined)) {
    fetch(CLIPS)
      .then((r) => (r.ok ? r.json() : null))
      .then((list) => {
        if (!list || typeof list !== "object" || Array.isArray(list)) return;
        clips = list;
        if (onCartPage) reprice();
        else render(load());
      })
      .catch(() => {});
  }
})();
