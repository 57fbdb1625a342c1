// Hand-written stand-ins for the few browser objects the client touches: no layout, no HTML parser,
// no npm. Just enough DOM for the modules to build, order and relabel their elements, so that tests
// can read back what a user would see (order, text, classes, hidden, disabled).

export class FakeEventTarget {
  constructor() {
    this.listeners = new Map();
  }

  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
  }

  removeEventListener(type, listener) {
    this.listeners.get(type)?.delete(listener);
  }

  dispatchEvent(event) {
    const full = {
      target: this,
      defaultPrevented: false,
      preventDefault() {
        this.defaultPrevented = true;
      },
      ...event,
    };
    for (const listener of Array.from(this.listeners.get(full.type) ?? [])) listener(full);
    return full;
  }

  listenerCount(type) {
    return this.listeners.get(type)?.size ?? 0;
  }
}

class FakeText {
  constructor(data) {
    this.data = String(data);
    this.parentNode = null;
  }

  get textContent() {
    return this.data;
  }

  remove() {
    this.parentNode?.detach(this);
  }
}

class ClassList {
  constructor() {
    this.names = new Set();
  }

  add(...names) {
    for (const name of names) this.names.add(name);
  }

  remove(...names) {
    for (const name of names) this.names.delete(name);
  }

  contains(name) {
    return this.names.has(name);
  }

  toggle(name, force = !this.names.has(name)) {
    if (force) this.names.add(name);
    else this.names.delete(name);
    return force;
  }

  toString() {
    return Array.from(this.names).join(" ");
  }
}

const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

export class FakeElement extends FakeEventTarget {
  constructor(tag, ownerDocument = null) {
    super();
    this.tagName = tag.toUpperCase();
    this.ownerDocument = ownerDocument;
    this.childNodes = [];
    this.parentNode = null;
    this.attributes = new Map();
    this.dataset = {};
    this.classList = new ClassList();
    this.style = {
      setProperty(name, value) {
        this[name] = value;
      },
    };
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
  }

  get className() {
    return this.classList.toString();
  }

  set className(value) {
    this.classList = new ClassList();
    this.classList.add(...String(value).split(/\s+/).filter(Boolean));
  }

  get id() {
    return this.attributes.get("id") ?? "";
  }

  set id(value) {
    this.attributes.set("id", String(value));
  }

  get children() {
    return this.childNodes.filter((node) => node instanceof FakeElement);
  }

  get firstElementChild() {
    return this.children[0] ?? null;
  }

  get childElementCount() {
    return this.children.length;
  }

  get textContent() {
    return this.childNodes.map((node) => node.textContent).join("");
  }

  set textContent(value) {
    const text = String(value ?? "");
    if (text) this.replaceChildren(text);
    else this.replaceChildren();
  }

  setAttribute(name, value) {
    if (name.startsWith("data-")) this.dataset[camel(name.slice(5))] = String(value);
    else if (name === "class") this.className = value;
    else this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    if (name.startsWith("data-")) return this.dataset[camel(name.slice(5))] ?? null;
    if (name === "class") return this.className;
    return this.attributes.get(name) ?? null;
  }

  hasAttribute(name) {
    return this.getAttribute(name) !== null;
  }

  adopt(node) {
    const child = typeof node === "string" ? new FakeText(node) : node;
    child.parentNode?.detach(child);
    child.parentNode = this;
    return child;
  }

  detach(child) {
    const index = this.childNodes.indexOf(child);
    if (index >= 0) this.childNodes.splice(index, 1);
    child.parentNode = null;
  }

  append(...nodes) {
    for (const node of nodes) this.childNodes.push(this.adopt(node));
  }

  before(...nodes) {
    const parent = this.parentNode;
    for (const node of nodes) {
      const child = parent.adopt(node);
      parent.childNodes.splice(parent.childNodes.indexOf(this), 0, child);
    }
  }

  remove() {
    this.parentNode?.detach(this);
  }

  replaceChildren(...nodes) {
    for (const child of this.childNodes) child.parentNode = null;
    this.childNodes = [];
    this.append(...nodes);
  }

  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }

  matches(selector) {
    return matchesChain(this, parseSelector(selector));
  }

  closest(selector) {
    for (let node = this; node instanceof FakeElement; node = node.parentNode) if (node.matches(selector)) return node;
    return null;
  }

  querySelectorAll(selector) {
    const scoped = selector.match(/^:scope\s*>\s*(.+)$/);
    if (scoped) return this.children.filter((child) => child.matches(scoped[1]));
    const chain = parseSelector(selector);
    return Array.from(this.descendants()).filter((node) => matchesChain(node, chain));
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  click() {
    if (!this.disabled) this.dispatchEvent({ type: "click" });
  }

  focus() {
    if (this.ownerDocument) this.ownerDocument.activeElement = this;
  }

  scrollIntoView(options) {
    this.scrolledIntoView = options ?? true;
  }

  requestSubmit() {
    this.dispatchEvent({ type: "submit" });
  }
}

// Compound selectors (tag, .class, [attr], [attr="value"]) joined by descendant spaces: all the
// client asks of querySelector.
function parseSelector(selector) {
  return selector
    .trim()
    .split(/\s+/)
    .map((part) => {
      const compound = { tag: null, classes: [], attrs: [] };
      const pattern = /([a-zA-Z][\w-]*)|\.([\w-]+)|\[([\w-]+)(?:=(?:"([^"]*)"|([^\]]*)))?\]/g;
      let consumed = 0;
      for (const match of part.matchAll(pattern)) {
        if (match.index !== consumed) throw new Error(`fake DOM cannot parse selector ${selector}`);
        consumed += match[0].length;
        if (match[1]) compound.tag = match[1].toUpperCase();
        else if (match[2]) compound.classes.push(match[2]);
        else compound.attrs.push({ name: match[3], value: match[4] ?? match[5] ?? null });
      }
      if (consumed !== part.length) throw new Error(`fake DOM cannot parse selector ${selector}`);
      return compound;
    });
}

function matchesCompound(node, { tag, classes, attrs }) {
  if (tag && node.tagName !== tag) return false;
  if (!classes.every((name) => node.classList.contains(name))) return false;
  return attrs.every(({ name, value }) => {
    const actual = node.getAttribute(name);
    return value === null ? actual !== null : actual === value;
  });
}

function matchesChain(node, chain) {
  if (!matchesCompound(node, chain[chain.length - 1])) return false;
  let rest = chain.length - 2;
  for (let up = node.parentNode; up instanceof FakeElement && rest >= 0; up = up.parentNode) {
    if (matchesCompound(up, chain[rest])) rest -= 1;
  }
  return rest < 0;
}

export class FakeDocument extends FakeEventTarget {
  constructor() {
    super();
    this.documentElement = new FakeElement("html", this);
    this.body = new FakeElement("body", this);
    this.documentElement.append(this.body);
    this.title = "";
    this.visibilityState = "visible";
    this.activeElement = null;
  }

  createElement(tag) {
    return new FakeElement(tag, this);
  }

  getElementById(id) {
    for (const node of this.documentElement.descendants()) if (node.id === id) return node;
    return null;
  }

  querySelectorAll(selector) {
    return this.documentElement.querySelectorAll(selector);
  }

  querySelector(selector) {
    return this.documentElement.querySelector(selector);
  }

  // Tests flip visibility the way a browser does: state first, then the event.
  setVisibility(state) {
    this.visibilityState = state;
    this.dispatchEvent({ type: "visibilitychange" });
  }
}

// Builds an element tree from [tag, {id, className, dataset, attrs, ...props}, ...children].
export function build(doc, [tag, props = {}, ...children]) {
  const node = doc.createElement(tag);
  const { className, dataset, attrs, ...rest } = props;
  if (className) node.className = className;
  Object.assign(node.dataset, dataset ?? {});
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  for (const [name, value] of Object.entries(rest)) {
    if (name === "id") node.id = value;
    else node[name] = value;
  }
  for (const child of children) node.append(typeof child === "string" ? child : build(doc, child));
  return node;
}

// Installs a fresh document on globalThis (the modules reach for the global) and returns it.
export function installDocument() {
  const doc = new FakeDocument();
  globalThis.document = doc;
  return doc;
}

// localStorage over a Map; `broken` makes every call throw, as blocked storage does.
export function fakeStorage({ broken = false } = {}) {
  const items = new Map();
  const guard = () => {
    if (broken) throw new DOMException("The operation is insecure.", "SecurityError");
  };
  return {
    items,
    getItem(key) {
      guard();
      return items.has(key) ? items.get(key) : null;
    },
    setItem(key, value) {
      guard();
      items.set(key, String(value));
    },
  };
}

// A WebSocket the test drives by hand: the server's side is open(), receive(frame), serverClose(code).
export class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances = [];

  static get last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.closedWith = null;
    this.onmessage = null;
    this.onclose = null;
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error("InvalidStateError: not open");
    this.sent.push(JSON.parse(data));
  }

  close(code) {
    this.closedWith = code;
    if (this.readyState < FakeWebSocket.CLOSING) this.readyState = FakeWebSocket.CLOSING;
  }

  open() {
    this.readyState = FakeWebSocket.OPEN;
  }

  receive(frame) {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  serverClose(code) {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code });
  }
}

// A <user> as the server sends it. The id is made up from the name unless given, so that a test
// about namesakes says so by giving one of them an id of their own.
export function person(name, { id = idFor(name), guest = false } = {}) {
  return { id, name, guest };
}

// 16 lowercase hex digits, the same for the same name (two FNV-1a hashes with different seeds).
export function idFor(name) {
  const fnv = (seed) => {
    let hash = seed;
    for (const char of name) hash = Math.imul(hash ^ char.codePointAt(0), 0x01000193) >>> 0;
    return hash.toString(16).padStart(8, "0");
  };
  return fnv(0x811c9dc5) + fnv(0x2f1e3d4c);
}

// fetch() over a queue of answers the test sets up: respond(body, status) or fail(). Each call is
// recorded as { url, options }; with nothing queued it answers `fallback` (default: a network error).
export function fakeFetch({ fallback = null } = {}) {
  const answers = [];
  const calls = [];
  const fetch = async (url, options = {}) => {
    calls.push({ url: String(url), options });
    const answer = answers.length ? answers.shift() : fallback;
    if (answer === null || answer.error) throw new TypeError("Failed to fetch");
    return {
      ok: answer.status >= 200 && answer.status < 300,
      status: answer.status,
      json: async () => (typeof answer.body === "string" ? JSON.parse(answer.body) : answer.body),
    };
  };
  return {
    fetch,
    calls,
    respond(body, status = 200) {
      answers.push({ body, status });
    },
    fail() {
      answers.push({ error: true });
    },
  };
}
