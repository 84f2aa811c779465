import { api } from '@vigil/proto';
import { flag, type Command, type Context, type Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { count, toJson } from '../output.js';
import { readPassword } from '../password.js';

const A = api.account;
const PAGE_SIZE = 1000;

const PASSWORD_HELP = `The password is never taken from the command line. On a terminal it is
prompted for without echo, twice; otherwise the first line of standard input
is the password. --password-stdin reads standard input even from a terminal.`;

const passwordStdin = { 'password-stdin': { type: 'boolean', help: 'read the password from the first line of standard input' } } as const;

/** Reads the password only once the token is known to be there. */
async function password(ctx: Context, username: string): Promise<string> {
  ctx.api();
  return readPassword(ctx.io, username, flag(ctx.values, 'password-stdin'));
}

const create: Command = {
  name: 'create',
  args: '<username>',
  arity: [1, 1],
  summary: 'create an account',
  description: `Creates the account <username> (the JID's local part) with a password of 4
to 1024 characters. Exit code 6 when it exists already.

${PASSWORD_HELP}`,
  options: passwordStdin,
  async run(ctx) {
    const username = ctx.args[0] ?? '';
    const pw = await password(ctx, username);
    const api = ctx.api();
    const res = await api.call(api.account.createAccount.bind(api.account), { username, password: pw });
    if (ctx.json) ctx.printJson(toJson(A.CreateAccountResponse, res));
    else ctx.print(`created ${res.jid}`);
    return Exit.OK;
  },
};

const remove: Command = {
  name: 'delete',
  args: '<username>',
  arity: [1, 1],
  summary: 'delete an account, its sessions and its roster',
  description: `Ends the user's sessions, removes every roster item as a roster removal
would (contacts are told), then the block list, last activity and the
account. Running it again after a failure finishes the job.`,
  async run(ctx) {
    const username = ctx.args[0] ?? '';
    const api = ctx.api();
    const res = await api.call(api.account.deleteAccount.bind(api.account), { username });
    if (ctx.json) ctx.printJson(toJson(A.DeleteAccountResponse, res));
    else ctx.print(`deleted ${username}: ${count(res.sessionsEnded, 'session')} ended, ${count(res.itemsRemoved, 'roster item')} removed`);
    return Exit.OK;
  },
};

const passwd: Command = {
  name: 'passwd',
  args: '<username>',
  arity: [1, 1],
  summary: "set an account's password",
  description: `Replaces the stored keys of <username>; sessions already open stay open.

${PASSWORD_HELP}`,
  options: passwordStdin,
  async run(ctx) {
    const username = ctx.args[0] ?? '';
    const pw = await password(ctx, username);
    const api = ctx.api();
    const res = await api.call(api.account.setPassword.bind(api.account), { username, password: pw });
    if (ctx.json) ctx.printJson(toJson(A.SetPasswordResponse, res));
    else ctx.print(`password of ${username} changed`);
    return Exit.OK;
  },
};

const list: Command = {
  name: 'list',
  args: '',
  arity: [0, 0],
  summary: 'list every account',
  description: `Every username in lexical order, one per line (--json: {"usernames": [...]}),
read a page of ${PAGE_SIZE} at a time.`,
  async run(ctx) {
    const api = ctx.api();
    const usernames: string[] = [];
    let pageToken = '';
    do {
      const page = await api.call(api.account.listAccounts.bind(api.account), { pageSize: PAGE_SIZE, pageToken });
      usernames.push(...page.usernames);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    if (ctx.json) ctx.printJson({ usernames });
    else if (usernames.length > 0) ctx.print(usernames.join('\n'));
    return Exit.OK;
  },
};

export const accounts: Group = { name: 'accounts', summary: 'create, delete, re-key and list accounts', commands: [create, remove, passwd, list] };
