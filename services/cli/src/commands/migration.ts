import { closeSync, openSync, readFileSync, renameSync, statSync, writeSync, unlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { api } from '@vigil/proto';
import {
  DOCUMENT_TAIL, accountFromWire, accountToWire, documentHead, parsePie, validateAccounts, writeUser, where,
  type IncludeReader, type PieAccount, type PieHost, type Problem,
} from '@vigil/pie';
import { flag, str, type Command, type Context } from '../command.js';
import { CliError, Exit, UsageError } from '../exit-codes.js';

/** Encoded accounts per ImportBatch message: a quarter of the server's default 4 MiB limit. */
const BATCH_BYTES = 1024 * 1024;
/** Without --timeout, an import may take this long (hashing 10,000 passwords takes a while). */
const IMPORT_TIMEOUT_S = 600;
/** Largest file read (the whole file is held in memory while it is validated). */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** Warnings printed before the rest are only counted (errors are always all printed). */
const MAX_PRINTED_WARNINGS = 100;

function readText(file: string): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw new UsageError(`cannot read ${file} (${e instanceof Error && 'code' in e ? String(e.code) : 'unreadable'})`);
  }
  if (size > MAX_FILE_BYTES) throw new UsageError(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(`${file} is not UTF-8`);
    throw e;
  }
}

/** XIncludes (ejabberd writes one per host) are files beside the including one or below it, nothing else. */
const readInclude: IncludeReader = (href, from) => {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || isAbsolute(href) || normalize(href).split(sep).includes('..')) {
    throw new Error('only relative paths to files beside the including file, or below it, are followed');
  }
  const file = join(dirname(from), normalize(href));
  return { file, text: readText(file) };
};

/** Problems that make the whole file unusable, whatever --skip-invalid says. */
const FILE_LEVEL = new Set(['xml', 'xi:include', 'host.jid']);

interface Located extends Problem {
  readonly where: string;
}

function printProblems(ctx: Context, problems: readonly Located[]): void {
  let warnings = 0;
  for (const p of problems) {
    if (p.severity === 'warning' && ++warnings > MAX_PRINTED_WARNINGS) continue;
    ctx.io.stderr.write(`${p.where}: ${p.severity}: ${p.field !== '' ? `${p.field}: ` : ''}${p.message}\n`);
  }
  if (warnings > MAX_PRINTED_WARNINGS) ctx.io.stderr.write(`… and ${warnings - MAX_PRINTED_WARNINGS} more warnings (--json lists every one)\n`);
}

const locate = (p: Problem, account: PieAccount | undefined, file: string): Located => {
  const at = p.at ?? account?.at;
  return { ...p, ...(at !== undefined ? { at } : {}), where: where(at) || file };
};

/** By account, then by place in the file. */
function inFileOrder(a: Located, b: Located): number {
  return (a.account ?? -1) - (b.account ?? -1) || (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.column ?? 0) - (b.at?.column ?? 0);
}

const problemJson = (p: Located) => ({ severity: p.severity, where: p.where, field: p.field, message: p.message });

function pickHost(hosts: readonly PieHost[], wanted: string | undefined, file: string): PieHost {
  if (wanted !== undefined) {
    const h = hosts.find((x) => x.domain === wanted.toLowerCase());
    if (h === undefined) throw new UsageError(`--host ${wanted}: ${file} has ${hosts.map((x) => x.domain).join(', ') || 'no host'}`);
    return h;
  }
  if (hosts.length === 0) throw new CliError(Exit.USAGE, `${file}: no <host/> with users`);
  if (hosts.length > 1) throw new UsageError(`${file} has several hosts (${hosts.map((h) => h.domain).join(', ')}): choose one with --host`);
  return hosts[0] as PieHost;
}

export const importCommand: Command = {
  name: 'import',
  args: '<file>',
  arity: [1, 1],
  summary: 'import accounts, rosters and block lists from a XEP-0227 file',
  description: `Reads <file> (XEP-0227 portable import/export, as ejabberd's
'ejabberdctl export_piefxis' or 'vigil export' write it; included files beside
it are followed), checks every entry, and prints every problem as
FILE:LINE:COLUMN: error|warning: FIELD: MESSAGE on stderr. With any error
nothing is imported (exit code 1) unless --skip-invalid is given, which
imports the valid accounts and skips the others whole.

Accounts are created or get the file's keys: SCRAM keys (<scram-credentials/>)
are stored as they are; a plaintext password (<user password=''/>) is hashed
by the server with its configured iterations and never stored. Each user of
the file gets exactly the file's roster (names, groups, subscription states,
pending requests) and block list; other users are not touched. Importing the
same file again changes nothing. Subscriptions that disagree between two
users of the file are reported as warnings and imported as written.

The file's <host jid=''/> must be the cluster's domain (--host picks one of
several). Without --timeout the import may take ${IMPORT_TIMEOUT_S} s. Needs an admin token.
Prints a summary; --json prints {"applied", "accounts", …, "problems": [...]}.`,
  options: {
    'dry-run': { type: 'boolean', help: 'check the file (here and on the server) and write nothing' },
    'skip-invalid': { type: 'boolean', help: 'import the valid accounts of a file that has invalid ones' },
    host: { type: 'string', value: 'DOMAIN', help: "which <host/> of the file to import (needed when it has several)" },
  },
  async run(ctx) {
    const file = ctx.args[0] ?? '';
    const parsed = parsePie(readText(file), file, readInclude);
    const fatal = parsed.problems.filter((p) => p.severity === 'error' && FILE_LEVEL.has(p.field));
    if (fatal.length > 0) return report(ctx, file, parsed.problems.map((p) => locate(p, undefined, file)), undefined);
    const host = pickHost(parsed.hosts, str(ctx.values, 'host'), file);
    const accounts = host.accounts;
    // Problems of the other hosts are not this import's business.
    const readProblems = parsed.problems.filter((p) => p.account === undefined ? p.severity === 'warning' : p.host === host.domain);
    const local = validateAccounts(accounts, { domain: host.domain, maxRosterItems: Number.MAX_SAFE_INTEGER });
    const invalid = new Set(local.invalid);
    for (const p of readProblems) if (p.severity === 'error' && p.account !== undefined) invalid.add(p.account);
    const localProblems: Located[] = [...readProblems, ...local.problems]
      .map((p) => locate(p, p.account === undefined ? undefined : accounts[p.account], file))
      .sort(inFileOrder);
    const skip = flag(ctx.values, 'skip-invalid');
    if (invalid.size > 0 && !skip) return report(ctx, file, localProblems, undefined, invalid.size);

    // What goes to the server: the valid accounts (as read, the server normalizes again), and where each came from.
    const sent = accounts.flatMap((a, i) => (invalid.has(i) ? [] : [a]));
    const a = ctx.api();
    const timeoutS = str(ctx.values, 'timeout') === undefined ? IMPORT_TIMEOUT_S : a.endpoint.timeoutMs / 1000;
    const res = await new Promise<api.migration.ImportResponse>((resolve, reject) => {
      const call = a.migration.import(a.metadata(), { deadline: Date.now() + timeoutS * 1000 }, (err, r) => (err ? reject(err) : resolve(r)));
      void (async () => {
        const write = async (req: api.migration.ImportRequest): Promise<void> => {
          if (!call.write(req)) await new Promise((r) => call.once('drain', r));
        };
        await write({ part: { $case: 'options', options: { dryRun: flag(ctx.values, 'dry-run'), skipInvalid: skip, domain: host.domain } } });
        let batch: api.migration.PortableAccount[] = [];
        let bytes = 0;
        for (const account of sent) {
          const wire = accountToWire(account);
          const size = api.migration.PortableAccount.encode(wire).finish().length;
          if (batch.length > 0 && bytes + size > BATCH_BYTES) {
            await write({ part: { $case: 'batch', batch: { accounts: batch } } });
            [batch, bytes] = [[], 0];
          }
          batch.push(wire);
          bytes += size;
        }
        if (batch.length > 0) await write({ part: { $case: 'batch', batch: { accounts: batch } } });
        call.end();
      })().catch((e: unknown) => {
        call.cancel();
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
    // The server's problems name accounts by their index among those sent; what it says again about them locally is not repeated.
    const seen = new Set(localProblems.map((p) => `${p.where}\n${p.field}\n${p.message}`));
    const serverProblems = res.problems
      .map((p) => locate({ severity: p.error ? 'error' : 'warning', field: p.field, message: p.message }, sent[p.account], file))
      .filter((p) => !seen.has(`${p.where}\n${p.field}\n${p.message}`));
    return report(ctx, file, [...localProblems, ...serverProblems], res, invalid.size);
  },
};

function report(ctx: Context, file: string, problems: readonly Located[], res: api.migration.ImportResponse | undefined, skipped = 0): number {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.length - errors;
  const applied = res?.applied ?? false;
  if (ctx.json) {
    ctx.printJson({
      file,
      applied,
      dryRun: flag(ctx.values, 'dry-run'),
      accounts: res?.accounts ?? 0,
      skippedAccounts: skipped,
      accountsCreated: res?.accountsCreated ?? 0,
      accountsUpdated: res?.accountsUpdated ?? 0,
      accountsUnchanged: res?.accountsUnchanged ?? 0,
      rostersChanged: res?.rostersChanged ?? 0,
      rostersUnchanged: res?.rostersUnchanged ?? 0,
      errors,
      warnings,
      problems: problems.map(problemJson),
    });
  } else {
    printProblems(ctx, problems);
  }
  if (res === undefined || (!applied && !flag(ctx.values, 'dry-run'))) {
    if (!ctx.json) ctx.io.stderr.write(`${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}: nothing imported${errors > 0 ? ' (--skip-invalid imports the valid accounts)' : ''}\n`);
    return Exit.USAGE;
  }
  if (!ctx.json) {
    const what = applied
      ? `imported ${res.accounts} accounts into ${res.domain}: ${res.accountsCreated} created, ${res.accountsUpdated} with new keys, ${res.accountsUnchanged} unchanged; ${res.rostersChanged} rosters changed, ${res.rostersUnchanged} unchanged`
      : `checked ${res.accounts} accounts for ${res.domain}: nothing written (--dry-run)`;
    ctx.print(`${what}${skipped > 0 ? `; ${skipped} invalid accounts skipped` : ''}${warnings > 0 ? `; ${warnings} warnings` : ''}`);
  }
  return errors > 0 && !applied ? Exit.USAGE : Exit.OK;
}

export const exportCommand: Command = {
  name: 'export',
  args: '[file]',
  arity: [0, 1],
  summary: 'export every account, roster and block list as a XEP-0227 file',
  description: `Writes every account with its SCRAM keys, roster (names, groups,
subscription states, pending requests) and block list as one XEP-0227
document to [file] (created with mode 0600: it holds password keys; written
to a temporary name and renamed at the end), or to stdout. 'vigil import'
and ejabberd's 'ejabberdctl import_piefxis' read it. Passwords are not
exported: Vigil does not have them. Not a snapshot: changes made while the
export runs may or may not be in it. Needs an admin token.`,
  options: {
    'page-size': { type: 'string', value: 'N', help: 'accounts per message from the server (1 to 1000, default 100)' },
  },
  async run(ctx) {
    const target = ctx.args[0];
    const raw = str(ctx.values, 'page-size');
    const pageSize = raw === undefined ? 0 : Number(raw);
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > 1000) throw new UsageError('--page-size: 1 to 1000');
    const tmp = target === undefined ? undefined : `${target}.partial-${process.pid}`;
    const fd = tmp === undefined ? undefined : openSync(tmp, 'wx', 0o600);
    const out = (text: string): void => {
      if (fd !== undefined) writeSync(fd, text);
      else ctx.io.stdout.write(text);
    };
    let count = 0;
    let finished = false;
    try {
      const a = ctx.api();
      const timeoutS = str(ctx.values, 'timeout') === undefined ? IMPORT_TIMEOUT_S : a.endpoint.timeoutMs / 1000;
      const call = a.migration.export({ pageSize }, a.metadata(), { deadline: Date.now() + timeoutS * 1000 });
      let domain: string | undefined;
      for await (const page of call as AsyncIterable<api.migration.ExportResponse>) {
        if (domain === undefined) {
          domain = page.domain;
          out(documentHead(domain));
        }
        for (const account of page.accounts) {
          out(writeUser(accountFromWire(account), domain));
          count++;
        }
      }
      if (domain === undefined) throw new CliError(Exit.SERVER, 'the server sent no domain');
      out(DOCUMENT_TAIL);
      finished = true;
    } finally {
      if (fd !== undefined && tmp !== undefined) {
        closeSync(fd);
        if (finished && target !== undefined) renameSync(tmp, target);
        else unlinkSync(tmp);
      }
    }
    if (target !== undefined) {
      if (ctx.json) ctx.printJson({ file: target, accounts: count });
      else ctx.print(`exported ${count} accounts to ${target}`);
    }
    return Exit.OK;
  },
};
