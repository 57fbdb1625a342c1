// The room list: mark rooms with messages the reader has not seen.

import { markUnreadLinks } from "./seen.js";

markUnreadLinks(document);
