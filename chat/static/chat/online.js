// Live online counts on the room lists: polls GET /rooms/online and updates every count on the page.

// Often enough that a list left open stays roughly right, rarely enough to cost the server nothing
// worth counting (one Redis round trip per room listed). A tab that comes back asks at once.
export const POLL_MS = 15_000;
export const ONLINE_URL = "/rooms/online";

// `online`: {slug: count | null} (null: the server could not count). `except`: a room whose count
// the page knows better (the room page's own, from its socket).
export function showCounts(root, online, { except = null } = {}) {
  const known = (slug) => slug !== except && Object.hasOwn(online, slug);
  for (const node of root.querySelectorAll("[data-online-for]")) {
    const slug = node.dataset.onlineFor;
    if (!known(slug)) continue;
    const count = online[slug];
    node.textContent = Number.isFinite(count) ? String(count) : "–";
    node.closest(".online-pill")?.classList.toggle("is-empty", !count);
  }
  // The room list's cards say "3 online" in the pill itself.
  for (const link of root.querySelectorAll("a[data-slug]")) {
    const slug = link.dataset.slug;
    const pill = link.querySelector(".online-pill");
    if (!pill || pill.querySelector("[data-online-for]") || !known(slug)) continue;
    const count = online[slug];
    pill.textContent = Number.isFinite(count) ? `${count} online` : "online count unavailable";
    pill.classList.toggle("is-empty", !count);
  }
}

// Starts polling; returns { refresh, stop }. A failed or odd answer leaves the numbers as they were.
export function pollOnline({ root = document, fetch = globalThis.fetch, url = ONLINE_URL, except = null } = {}) {
  let timer = null;
  let asking = false;
  const refresh = async () => {
    if (asking) return;
    asking = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      if (data !== null && typeof data.online === "object" && data.online !== null) {
        showCounts(root, data.online, { except });
      }
    } catch {
      // offline, or a worker restarting: the next poll will do
    } finally {
      asking = false;
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (document.visibilityState !== "hidden") refresh(); // nobody is looking at a hidden tab
      schedule();
    }, POLL_MS);
  };
  const onVisible = () => {
    if (document.visibilityState !== "visible") return;
    refresh();
    schedule();
  };
  document.addEventListener("visibilitychange", onVisible);
  schedule();
  return {
    refresh,
    stop() {
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
