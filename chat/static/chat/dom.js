// Builds elements. User text only ever goes through textContent or setAttribute, never innerHTML.

export function el(tag, { className, text, attrs, dataset } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [name, value] of Object.entries(dataset ?? {})) node.dataset[name] = String(value);
  for (const child of children) if (child) node.append(child);
  return node;
}

// A stable hue per name, so that people are easy to tell apart in a long conversation.
export function hueFor(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % 360;
}

export function avatar(name) {
  const initial = Array.from(name.trim())[0] ?? "?";
  const node = el("span", { className: "avatar", text: initial.toUpperCase(), attrs: { "aria-hidden": "true" } });
  node.style.setProperty("--hue", String(hueFor(name)));
  return node;
}
