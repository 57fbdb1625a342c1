// Times are shown in the reader's own time zone and locale.

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const sameYear = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const otherYear = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "long", day: "numeric" });

export const formatClock = (date) => clock.format(date);
export const formatFull = (date) => full.format(date);

// The local calendar day, as a key that sorts and compares.
export function dayKey(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function formatDay(date, now = new Date()) {
  const today = dayKey(now);
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  const key = dayKey(date);
  if (key === today) return "Today";
  if (key === dayKey(yesterday)) return "Yesterday";
  return (date.getFullYear() === now.getFullYear() ? sameYear : otherYear).format(date);
}
