import { api } from '@vigil/proto';
import { str, type Command, type Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { show, table, time, toJson } from '../output.js';

const P = api.presence;

const list: Command = {
  name: 'list',
  args: '<jid>',
  arity: [1, 1],
  summary: "list a user's sessions",
  description: `Every session of <jid> (a bare JID) that the cluster knows of (those that
sent any presence), available or not: full JID, session id, connection node,
presence, since when, and the entities that got directed presence from it.`,
  async run(ctx) {
    const jid = ctx.args[0] ?? '';
    const api = ctx.api();
    const res = await api.call(api.presence.listSessions.bind(api.presence), { jid });
    if (ctx.json) ctx.printJson(toJson(P.ListSessionsResponse, res));
    else if (res.sessions.length === 0) ctx.print(`${jid} has no sessions`);
    else {
      const rows = res.sessions.map((s) => [
        s.fullJid,
        s.sessionId,
        s.nodeId,
        s.available && s.presence ? show(s.presence.show) : 'unavailable',
        time(s.presence?.availableSinceUnixMs ?? 0),
        s.directedTo.join(', '),
      ]);
      ctx.print(table(['full jid', 'session', 'node', 'presence', 'since', 'directed to'], rows));
    }
    return Exit.OK;
  },
};

const kick: Command = {
  name: 'kick',
  args: '<full-jid>',
  arity: [1, 1],
  summary: 'end one session',
  description: `Ends the session <full-jid> (user@domain/resource): the client gets the
stream error <policy-violation/> with the reason as text, and its contacts
see it go unavailable (cause kicked). Exit code 2 when there is no such
session.`,
  options: {
    reason: { type: 'string', value: 'TEXT', help: 'told to the client (default "kicked by an administrator")' },
  },
  async run(ctx) {
    const fullJid = ctx.args[0] ?? '';
    const api = ctx.api();
    const res = await api.call(api.presence.kickSession.bind(api.presence), { fullJid, reason: str(ctx.values, 'reason') ?? '' });
    if (ctx.json) ctx.printJson(toJson(P.KickSessionResponse, res));
    else ctx.print(`kicked ${fullJid} (session ${res.sessionId})`);
    return Exit.OK;
  },
};

export const sessions: Group = { name: 'sessions', summary: 'list and end sessions', commands: [list, kick] };
