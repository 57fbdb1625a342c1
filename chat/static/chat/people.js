// People are keys, names are labels: a person is told apart by the opaque id the server gives
// them, never by the name they chose, so that two people called "bob" stay two people.

// The key to file a <user> under. An older server (during a deploy) sends no id; then the name is
// all there is to go by. The prefix keeps such keys apart from ids (16 hex digits), so that a name
// can never pass for somebody's id.
export function personKey(user) {
  if (typeof user?.id === "string" && user.id) return user.id;
  if (typeof user?.name === "string" && user.name) return `name:${user.name}`;
  return null;
}

// Whether two <user>s are the same person: by id, or by name when either comes without one (an
// older server); false when either cannot be told at all.
export function samePerson(a, b) {
  const hasId = (user) => typeof user?.id === "string" && user.id !== "";
  if (hasId(a) && hasId(b)) return a.id === b.id;
  return typeof a?.name === "string" && a.name !== "" && a.name === b?.name;
}
