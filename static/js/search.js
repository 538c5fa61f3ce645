// The search page (/search/, [data-search-page]): runs Pagefind's JavaScript
// API on the index site-gen writes into /pagefind/. Without this script the
// page says that search needs JavaScript and links the clip list.
// See docs/templates.md, "Search".
(() => {
  const page = document.querySelector("[data-search-page]");
  if (!page) return;
  const BUNDLE = "/pagefind/pagefind.js";
  const SHOWN = 24; // results shown at first, and added by "Show more"
  const $ = (sel) => page.querySelector(sel);
  const el = (tag, props, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const form = $("[data-search-form]");
  const query = $("[data-search-query]");
  const selects = [...page.querySelectorAll("[data-search-filter]")];
  const status = $("[data-search-status]");
  const results = $("[data-search-results]");
  // A site path or an https address, else null (Pagefind's metadata is ours, but check anyway).
  const safeUrl = (u) => (typeof u === "string" && (/^\/(?!\/)/.test(u) || /^https:\/\//.test(u)) ? u : null);

  let pagefind = null;
  const load = async () => {
    if (!pagefind) {
      pagefind = await import(BUNDLE);
      await pagefind.init();
    }
    return pagefind;
  };

  // One result as a card, like the clip lists' cards.
  function card(data) {
    const url = safeUrl(data.url) ?? "/clips/";
    const meta = data.meta || {};
    const title = meta.title || url;
    const media = el("a", { className: "clip-card-media", href: url, tabIndex: -1 });
    media.setAttribute("aria-hidden", "true");
    const poster = safeUrl(meta.image);
    if (poster) media.append(el("img", { src: poster, alt: "", width: 640, height: 360, loading: "lazy" }));
    if (meta.duration) media.append(el("span", { className: "badge" }, meta.duration));
    const facts = [meta.resolution, meta.duration].filter(Boolean).join(" · ");
    return el(
      "article",
      { className: "clip-card" },
      media,
      el(
        "div",
        { className: "clip-card-body" },
        el("h3", { className: "clip-card-title" }, el("a", { href: url }, title)),
        el("p", { className: "clip-card-meta" }, facts ? `${facts} · ` : "", el("strong", { className: "price" }, meta.price || "")),
      ),
    );
  }

  const filters = () => {
    const chosen = {};
    for (const s of selects) if (s.value) chosen[s.dataset.searchFilter] = s.value;
    return chosen;
  };

  // The controls' state in the address, so a search can be shared and survives a reload.
  function remember() {
    const params = new URLSearchParams();
    if (query.value.trim()) params.set("q", query.value.trim());
    for (const [key, value] of Object.entries(filters())) params.set(key, value);
    const search = params.toString();
    history.replaceState(null, "", search ? `?${search}` : location.pathname);
  }

  let run = 0;
  let found = [];
  let shown = 0;
  const more = el("button", { type: "button", className: "button search-more", hidden: true }, "Show more");
  more.addEventListener("click", () => show(run, false));
  results.after(more);

  // Shows the next results (the first ones when `fresh`): cards, count and
  // button change together, once the results' data has come.
  async function show(current, fresh) {
    const from = fresh ? 0 : shown;
    const data = await Promise.all(found.slice(from, from + SHOWN).map((r) => r.data()));
    if (current !== run) return;
    const cards = data.map(card);
    if (fresh) results.replaceChildren(...cards);
    else results.append(...cards);
    shown = from + cards.length;
    more.hidden = shown >= found.length;
    const n = found.length;
    if (fresh) status.textContent = n === 0 ? "No clips found." : `${n} clip${n === 1 ? "" : "s"} found.`;
    else {
      // The button may have just been hidden under the keyboard's focus:
      // the focus goes to the first clip added, and the count is said.
      status.textContent = `Showing ${shown} of ${n} clips.`;
      cards[0]?.querySelector("a")?.focus();
    }
  }

  async function search() {
    const current = ++run;
    remember();
    const term = query.value.trim();
    const chosen = filters();
    if (!term && Object.keys(chosen).length === 0) {
      found = [];
      shown = 0;
      results.replaceChildren();
      more.hidden = true;
      status.textContent = "";
      return;
    }
    let answer;
    try {
      answer = await (await load()).search(term || null, { filters: chosen });
    } catch {
      if (current === run) status.textContent = "Search could not start in this browser. Browse the clips instead.";
      return;
    }
    if (current !== run || !answer) return;
    found = answer.results;
    await show(current, true);
  }

  let timer;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  };

  const params = new URLSearchParams(location.search);
  query.value = params.get("q") ?? "";
  for (const s of selects) {
    const wanted = params.get(s.dataset.searchFilter);
    if (wanted && [...s.options].some((o) => o.value === wanted)) s.value = wanted;
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    search();
  });
  query.addEventListener("input", soon);
  for (const s of selects) s.addEventListener("change", search);
  $("[data-search-no-script]").hidden = true;
  form.hidden = false;
  if (query.value || Object.keys(filters()).length) search();
})();
