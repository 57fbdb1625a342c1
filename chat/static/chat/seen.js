// What the reader has seen, per room: the highest seq read, in any tab (localStorage). It places
// the "new messages" divider and the unread markers. Resuming a connection needs no storage: the
// page itself knows the highest seq it shows.

// Merely touching `localStorage` throws where storage is blocked, hence the try blocks.
function read(key) {
  try {
    const value = Number.parseInt(localStorage.getItem(key) ?? "", 10);
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch {
    return 0; // storage disabled (private mode, policy): behave as a first visit
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, String(value));
  } catch {
    // Quota or policy: the markers become less precise, nothing breaks.
  }
}

const readKey = (slug) => `chat:read:${slug}`;

export const lastRead = (slug) => read(readKey(slug));

// Only ever moves forward, unless `force` (the room's history was reset on the server).
export function markRead(slug, seq, { force = false } = {}) {
  if (force || seq > lastRead(slug)) write(readKey(slug), seq);
}

// Room links carry data-slug and data-last-seq (rendered by the server); mark the unread ones.
export function markUnreadLinks(root, { except = null } = {}) {
  for (const link of root.querySelectorAll("a[data-slug][data-last-seq]")) {
    const slug = link.dataset.slug;
    const unread = slug !== except && Number(link.dataset.lastSeq) > lastRead(slug);
    link.classList.toggle("has-unread", unread);
    const marker = link.querySelector(".unread");
    if (marker) marker.hidden = !unread;
  }
}
