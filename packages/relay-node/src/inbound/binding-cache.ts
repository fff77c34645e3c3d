import { RecentMap } from '../util/recent-map.js';

/**
 * The gateways users were last read bound to, for a page router whose route step checks each binding it is given:
 * a hint that saves the read before the step, never the word on where a message goes. Holds at most `max`
 * users; the one remembered longest ago goes first.
 */
export class BindingCache extends RecentMap<string, string> {}
