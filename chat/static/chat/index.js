// The room list: mark rooms with messages the reader has not seen, and keep the online counts live.

import { pollOnline } from "./online.js";
import { markUnreadLinks } from "./seen.js";

markUnreadLinks(document);
pollOnline();
