import { api } from '@vigil/proto';
import type { Command, Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { show, table, time, toJson } from '../output.js';
import { watch } from './watch.js';

const P = api.presence;

function rows(presences: readonly api.presence.UserPresence[]): string[][] {
  return presences.flatMap((p) =>
    p.resources.length === 0
      ? [[p.jid, 'offline', '', '', '', '']]
      : p.resources.map((r) => [r.fullJid, show(r.show), String(r.priority), r.nodeId, time(r.availableSinceUnixMs), r.status]),
  );
}

const get: Command = {
  name: 'get',
  args: '<jid>...',
  arity: [1, 1000],
  summary: 'show who is online, how, where and since when',
  description: `The available resources of each <jid>: a bare JID (user@domain) for every
resource of the user, a full JID (user@domain/resource) for that one. Each
line shows the resource's show (available, chat, away, xa, dnd), priority,
connection node, since when it is available, and its status text; a user
with no available resource is "offline". Up to 1000 JIDs at once, all or
nothing: one unknown account is exit code 2.

--json prints {"presences": [UserPresence, ...]} in request order.`,
  async run(ctx) {
    const api = ctx.api();
    let presences: api.presence.UserPresence[];
    if (ctx.args.length === 1) {
      const res = await api.call(api.presence.getPresence.bind(api.presence), { jid: ctx.args[0] ?? '' });
      presences = res.presence ? [res.presence] : [];
    } else {
      presences = (await api.call(api.presence.batchGetPresence.bind(api.presence), { jids: [...ctx.args] })).presences;
    }
    if (ctx.json) ctx.printJson({ presences: presences.map((p) => toJson(P.UserPresence, p)) });
    else ctx.print(table(['jid', 'show', 'priority', 'node', 'since', 'status'], rows(presences)));
    return Exit.OK;
  },
};

export const presence: Group = { name: 'presence', summary: 'read and watch presence', commands: [get, watch] };
