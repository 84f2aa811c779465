import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { readConsoleConfig, startConsole, type ConsoleServer } from '@vigil/console';
import { createLogger } from '@vigil/telemetry';
import { ChildService, Cluster, TestClient, freePort, is, mutualContacts, xml, type GrpcAccess } from '@vigil/testkit';

// The web console in a real headless Chromium (Debian's package, found by
// infra/local/ensure-chromium.sh), against a real cluster: two connection
// nodes, one authority serving the gRPC API, the console as its own process.
// Screenshots of each page go to test/results/console/.
const CONSOLE_MAIN = fileURLToPath(new URL('../../services/console/dist/main.js', import.meta.url));
const SHOTS = fileURLToPath(new URL('../results/console/', import.meta.url));
const DEADLINE_MS = 15_000;
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const AXE = fileURLToPath(import.meta.resolve('axe-core/axe.min.js'));

interface AxeViolation {
  readonly id: string;
  readonly help: string;
  readonly nodes: readonly { readonly target: readonly string[] }[];
}

describe('web console in a browser', () => {
  let cluster: Cluster;
  let grpc: GrpcAccess;
  let consoleService: ChildService;
  let consoleUrl: string;
  let browser: Browser;
  let demoConsole: ConsoleServer | undefined;
  const contexts: BrowserContext[] = [];
  const clients: TestClient[] = [];

  /** An XMPP client logged in on node `node` and available (a session counts from its first presence). */
  const login = async (username: string, node: number, resource: string): Promise<TestClient> => {
    const c = await TestClient.connect({ port: cluster.node(node).port, domain: 'localhost', username, password: `${username}-pass`, resource });
    clients.push(c);
    await c.sendPresence();
    return c;
  };

  /** A fresh browser profile (its own cookies) at the console's login form, 1280 px wide and light unless told. */
  const newPage = async (viewport = { width: 1280, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> => {
    // bypassCSP lets the test inject axe-core; it also means the <script> test below proves the
    // escaping itself, not the console's Content-Security-Policy.
    const ctx = await browser.newContext({ viewport, colorScheme, locale: 'en-US', bypassCSP: true });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(DEADLINE_MS);
    page.on('pageerror', (e) => console.log(`[browser] uncaught: ${e.message}`));
    await page.goto(consoleUrl);
    return page;
  };

  const logIn = async (page: Page, token: string): Promise<void> => {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
  };

  /** axe-core's WCAG 2 A and AA rules (labels, names, contrast, landmarks…) on the page as it is now. */
  const accessible = async (page: Page, what: string): Promise<void> => {
    await page.addScriptTag({ path: AXE });
    const { violations, passed } = await page.evaluate<{ violations: AxeViolation[]; passed: string[] }>(
      "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => ({ passed: r.passes.map((p) => p.id), violations: r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })) }))",
    );
    assert.ok(passed.includes('label') || passed.includes('color-contrast'), `axe checked ${what} (passed: ${passed.join(', ')})`);
    assert.deepEqual(
      violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
      [],
      `accessibility of ${what}`,
    );
  };

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // PLAIN over ws:// on loopback, as the dev cluster allows: @xmpp/client's browser build has no SCRAM.
    cluster = await Cluster.start({ grpc: true, webSocket: true, env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true' } });
    grpc = cluster.grpc as GrpcAccess;
    await cluster.provision(
      ['alice', 'bob', 'carol'].map((username) => ({ username, password: `${username}-pass` })),
      mutualContacts('alice', 'bob'),
    );
    const port = await freePort();
    consoleService = ChildService.spawn('console', process.execPath, ['--enable-source-maps', CONSOLE_MAIN], {
      PATH: process.env.PATH,
      VIGIL_CONSOLE_PORT: String(port),
      VIGIL_CONSOLE_GRPC_SERVER: grpc.address(0),
      VIGIL_CONSOLE_GRPC_TIMEOUT_MS: '2000',
      VIGIL_DOMAIN: 'localhost',
    });
    await consoleService.waitForLog((r) => r.msg === 'ready', DEADLINE_MS, 'console ready');
    consoleUrl = `http://127.0.0.1:${port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });

  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await demoConsole?.close();
    await Promise.all(clients.map((c) => c.stop()));
    await consoleService?.stop();
    await cluster?.stop();
  });

  test('a wrong token is refused with a clear message and no session', async () => {
    const page = await newPage();
    await shot(page, 'login');
    await accessible(page, 'the login form');
    // Keyboard only: Tab to the field, type, Enter.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.id'), 'token');
    await page.keyboard.type('not-a-token-of-this-cluster');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').getByText('The cluster refused this token').waitFor();
    assert.equal((await page.context().cookies()).length, 0, 'no session cookie for a refused token');
    await shot(page, 'login-refused');
    await accessible(page, 'the login form with its error');
  });

  test('the console refuses writes from other origins and serves its page under a strict content security policy', async () => {
    const page = await fetch(consoleUrl);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const html = await page.text();
    assert.ok(!/<script>|\son[a-z]+=/.test(html), 'no inline script or event handler in the page');
    const foreign = await fetch(`${consoleUrl}api/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
      body: JSON.stringify({ token: grpc.adminToken }),
    });
    assert.equal(foreign.status, 403);
    assert.equal(((await foreign.json()) as { code: string }).code, 'bad-origin');
    assert.equal(foreign.headers.get('set-cookie'), null);
    const noSession = await fetch(`${consoleUrl}api/users/alice%40localhost`);
    assert.equal(noSession.status, 401);
  });

  test('an admin token logs in, the token stays out of the page, and the overview shows both nodes live', async () => {
    const page = await newPage();
    await logIn(page, grpc.adminToken);
    await page.getByTestId('scope').getByText('Admin token').waitFor();
    for (const n of cluster.nodes) await page.locator(`[data-testid=nodes] tr[data-node="${n.nodeId}"]`).getByText('live').waitFor();
    await page.getByText('Cluster view: live').waitFor();
    const [cookie] = await page.context().cookies();
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read the session cookie');
    const html = await page.content();
    assert.ok(!html.includes(grpc.adminToken), 'the token is not in the page');
    assert.ok(!page.url().includes(grpc.adminToken), 'the token is not in the URL');
    assert.equal(await page.getByRole('link', { name: 'Demo' }).count(), 0, 'no demo panel outside the dev cluster');
    // Live: a login on node-2 shows up as a session without a reload.
    await login('carol', 1, 'overview');
    await page.locator('[data-testid=nodes] tr[data-node="node-2"] td:nth-child(4)').getByText('1', { exact: true }).waitFor();
    await shot(page, 'overview');
    await accessible(page, 'the overview');
    const phone = await newPage({ width: 390, height: 844 }, 'dark'); // the dark palette's contrast is checked here
    await logIn(phone, grpc.readToken);
    await phone.locator('[data-testid=nodes] tr[data-node="node-1"]').waitFor();
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page fits a phone-wide screen (overflows by ${overflow} px)`);
    await shot(phone, 'overview-phone');
    await accessible(phone, 'the overview at phone width in the dark scheme');
  });

  test("alice's page turns her unavailable and the feed shows client-lost when her connection dies, without a reload", async () => {
    const alice = await login('alice', 0, 'laptop');
    await alice.sendPresence({}, xml('show', {}, 'away'), xml('status', {}, 'writing tests'));
    const page = await newPage();
    await logIn(page, grpc.adminToken);
    await page.getByRole('link', { name: 'alice@localhost' }).click();
    await page.getByRole('heading', { name: 'User alice@localhost' }).waitFor();
    const row = page.locator('[data-testid=resources] tr[data-resource="laptop"]');
    await row.getByText('writing tests').waitFor();
    await row.getByText('away').waitFor();
    await row.getByText('node-1').waitFor();
    await page.locator('[data-testid=roster]').getByText('bob@localhost').waitFor();
    await page.locator('[data-testid=roster]').getByText('both').waitFor();
    await page.getByText('Live presence: live').waitFor();
    await shot(page, 'user');
    await accessible(page, "alice's page");
    alice.crash();
    await page.locator('[data-testid=feed] li[data-cause="client-lost"]').getByText('alice@localhost/laptop').waitFor();
    await page.getByTestId('presence-summary').getByText('Unavailable').waitFor();
    assert.equal(await page.locator('[data-testid=resources]').count(), 0);
    await page.locator('[data-testid=sessions]').waitFor({ state: 'detached' });
    await page.getByTestId('presence-summary').getByText(/last seen \d/).waitFor(); // a date, read again after the change
    await shot(page, 'user-client-lost');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the user page fits a phone-wide screen (overflows by ${overflow} px)`);
    await shot(page, 'user-phone');
  });

  test('the overview lists the NATS server reachable, and after a crash its latency panel counts the death and the fan-out', async () => {
    const alice = await login('alice', 0, 'metrics');
    const bob = await login('bob', 1, 'metrics');
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice online for bob');
    const mark = bob.mark();
    alice.crash();
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, "alice's unavailable", mark);
    const page = await newPage();
    await logIn(page, grpc.readToken);
    const nats = page.locator('[data-testid=nats] tbody tr');
    await nats.first().waitFor();
    assert.deepEqual(
      await nats.evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-address'), r.getAttribute('data-reachable')])),
      cluster.natsUrl.split(',').map((u) => [u.replace('nats://', ''), 'true']),
      'the servers shown are the cluster\'s, each reachable',
    );
    await page.getByTestId('nats-summary').getByText('1 of 1 reachable').waitFor();
    // The panel is pushed with the overview (at most once a second): the crash shows without a reload.
    await page.getByTestId('latency-count').getByText(/^[1-9]\d*$/).waitFor();
    await page.getByRole('img', { name: /^Detection latency of [1-9]\d* session ends?: / }).waitFor();
    assert.notEqual(await page.getByTestId('fanout-total').textContent(), '0', 'bob was sent the unavailable');
    await shot(page, 'overview-latency'); // docs/console-overview.png in the README
    await page.getByLabel('Cause').selectOption('client-lost');
    await page.getByTestId('latency-count').getByText(/^[1-9]\d*$/).waitFor();
    await page.getByText('The histogram as a table').click();
    assert.ok((await page.locator('[data-testid=latency-table] tbody tr:not([data-count="0"])').count()) >= 1, 'a bucket with the death in the table');
    await page.locator('[data-testid=latency-authorities] tr[data-authority="authority-1"]').waitFor();
    await shot(page, 'overview-latency-table');
    await accessible(page, 'the overview with its NATS servers and latency panel');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the latency panel fits a phone-wide screen (overflows by ${overflow} px)`);
    await shot(page, 'overview-latency-phone');
    await bob.stop(); // the tests after this one start with bob offline, as before it
  });

  test('a <script> status is shown as text and never runs', async () => {
    const payload = '<script>window.__vigilPwned = 1</script><img src=x onerror="window.__vigilPwned = 2"><b>bold</b>';
    const bob = await login('bob', 1, 'phone');
    await bob.sendPresence({}, xml('status', {}, payload));
    const page = await newPage();
    await logIn(page, grpc.readToken);
    await page.goto(`${consoleUrl}#/users/${encodeURIComponent('bob@localhost')}`);
    const cell = page.locator('[data-testid=resources] tr[data-resource="phone"] td.status-text');
    await cell.waitFor();
    assert.equal(await cell.textContent(), payload);
    assert.equal(await cell.locator('script, img, b').count(), 0, 'no element was made from the status');
    await page.goto(`${consoleUrl}#/feed`);
    await page.getByRole('log').getByText('window.__vigilPwned = 1', { exact: false }).first().waitFor();
    assert.equal(await page.evaluate('window.__vigilPwned'), undefined);
    await shot(page, 'feed');
    await accessible(page, 'the presence feed');
  });

  test('the feed filtered by user and cause shows only those changes', async () => {
    const page = await newPage();
    await logIn(page, grpc.readToken);
    await page.getByRole('link', { name: 'Presence feed' }).click();
    // The feed's own field by its full label: right after the click the overview, with its "Users" section, may still be shown.
    await page.getByLabel('Users (bare JIDs').fill('carol@localhost');
    await page.getByLabel('client-lost').check();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('[data-testid=feed] li[data-kind=snapshot]').getByText('carol@localhost').waitFor();
    const carol = await login('carol', 0, 'filtered');
    await login('bob', 0, 'not-watched');
    carol.crash();
    await page.locator('[data-testid=feed] li[data-cause="client-lost"]').getByText('carol@localhost/filtered').waitFor();
    assert.equal(await page.locator('[data-testid=feed] li[data-cause="available"]').count(), 0, 'available changes were filtered out');
    assert.equal(await page.locator('[data-testid=feed] li').getByText('bob@localhost').count(), 0, 'other users were filtered out');
  });

  test('a read-only token sees sessions but has no kick button, and the API refuses a kick sent anyway', async () => {
    await login('carol', 0, 'desk');
    const page = await newPage();
    await logIn(page, grpc.readToken);
    await page.getByTestId('scope').getByText('Read-only token').waitFor();
    await page.goto(`${consoleUrl}#/users/${encodeURIComponent('carol@localhost')}`);
    await page.locator('[data-testid=resources] tr[data-resource="desk"]').waitFor();
    assert.equal(await page.getByRole('button', { name: /^Kick/ }).count(), 0);
    const answer = await page.evaluate<{ status: number; body: { code: string; error: string } }>(`
      fetch('/api/users/carol%40localhost/kick', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ fullJid: 'carol@localhost/desk' }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }))`);
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'PERMISSION_DENIED');
    assert.match(answer.body.error, /needs admin/);
    await page.locator('[data-testid=resources] tr[data-resource="desk"]').waitFor();
  });

  test('an admin kick asks for confirmation first, then the feed shows kicked', async () => {
    const dave = await login('carol', 1, 'tablet');
    const page = await newPage();
    await logIn(page, grpc.adminToken);
    await page.goto(`${consoleUrl}#/users/${encodeURIComponent('carol@localhost')}`);
    const session = page.locator('[data-testid=sessions] tr[data-session="carol@localhost/tablet"]');
    await session.getByText('node-2').waitFor();
    const kick = session.getByRole('button', { name: 'Kick carol@localhost/tablet' });
    await kick.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Kick carol@localhost/tablet?').waitFor();
    await shot(page, 'user-confirm');
    await accessible(page, 'the confirmation dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('[data-testid=resources] tr[data-resource="tablet"]').waitFor();
    await kick.click();
    await dialog.getByRole('button', { name: 'Kick' }).click();
    await page.locator('[data-testid=feed] li[data-cause="kicked"]').getByText('carol@localhost/tablet').waitFor();
    await page.locator('[data-testid=resources] tr[data-resource="tablet"]').waitFor({ state: 'detached' });
    await page.getByText('Kicked carol@localhost/tablet.').waitFor();
    await page.locator('[data-testid=sessions] tr[data-session="carol@localhost/tablet"]').waitFor({ state: 'detached' });
    assert.ok(dave);
  });

  test('an admin adds and removes a roster item and resets a password, each after confirmation', async () => {
    const page = await newPage();
    await logIn(page, grpc.adminToken);
    await page.goto(`${consoleUrl}#/users/${encodeURIComponent('carol@localhost')}`);
    await page.getByLabel('Contact (bare JID)').fill('alice@localhost');
    await page.getByLabel('Name (optional)').fill('<i>Alice</i>');
    await page.getByLabel('Groups (optional, separated by commas)').fill('Friends, Work');
    await page.getByRole('button', { name: 'Add contact' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Add' }).click();
    const item = page.locator('[data-testid=roster] tr').filter({ hasText: 'alice@localhost' });
    await item.getByText('<i>Alice</i>').waitFor();
    await item.getByText('Friends, Work').waitFor();
    await item.getByRole('cell', { name: 'yes', exact: true }).waitFor(); // pending out: the subscription request went out
    await page.getByRole('button', { name: 'Remove alice@localhost from the roster' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await item.waitFor({ state: 'detached' });

    await page.getByLabel('New password').fill('carol-new-pass');
    await page.getByRole('button', { name: 'Reset password' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reset password' }).click();
    await page.getByText('The password of carol@localhost was reset.').waitFor();
    const c = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'carol', password: 'carol-new-pass', resource: 'new-pass' });
    clients.push(c);
  });

  test('demo panel: users log in from the page over WebSocket; a killed connection and a SIGKILLed node reach their contact as offline', async () => {
    const nodes = cluster.nodes.map((n) => ({ nodeId: n.nodeId, wsUrl: n.wsUrl ?? '' }));
    const killed: string[] = [];
    // What the dev cluster passes in-process (services/dev-cluster/src/main.ts); here the test kills the node.
    demoConsole = await startConsole(
      readConsoleConfig({ VIGIL_CONSOLE_PORT: '0', VIGIL_CONSOLE_GRPC_SERVER: grpc.address(0), VIGIL_DOMAIN: 'localhost', VIGIL_LOG_LEVEL: 'warn' }),
      createLogger({ service: 'console-demo' }, { level: 'warn' }),
      {
        demo: {
          view: {
            domain: 'localhost',
            users: [
              { username: 'alice', password: 'alice-pass', wsUrl: nodes[0]?.wsUrl ?? '' },
              { username: 'bob', password: 'bob-pass', wsUrl: nodes[1]?.wsUrl ?? '' },
            ],
            nodes,
          },
          async killNode(nodeId) {
            const n = cluster.nodes.find((x) => x.nodeId === nodeId);
            n?.service.signal('SIGKILL');
            await n?.service.exited;
            killed.push(nodeId);
            return `${nodeId} was killed`;
          },
        },
      },
    );
    const page = await newPage();
    await page.goto(`${demoConsole.url}/`);
    await logIn(page, grpc.adminToken);
    await page.getByRole('link', { name: 'Demo' }).click();
    const card = (u: string) => page.locator(`[data-demo-user="${u}"]`);
    const seenBy = (u: string, contact: string) => card(u).locator(`li[data-contact="${contact}@localhost"]`);
    await page.getByRole('button', { name: 'Log in alice' }).click();
    await page.getByRole('button', { name: 'Log in bob' }).click();
    await seenBy('bob', 'alice').and(page.locator('[data-online=true]')).waitFor();
    await seenBy('alice', 'bob').and(page.locator('[data-online=true]')).waitFor();
    await shot(page, 'demo');
    await accessible(page, 'the demo panel');

    await page.getByRole('button', { name: "Kill alice's connection" }).click();
    await seenBy('bob', 'alice').and(page.locator('[data-online=false]')).waitFor();
    await card('alice').getByTestId('demo-state').getByText('offline').waitFor();

    await page.getByRole('button', { name: 'Log in alice' }).click();
    await seenBy('bob', 'alice').and(page.locator('[data-online=true]')).waitFor();
    await page.getByRole('button', { name: 'SIGKILL node-1' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'SIGKILL' }).click();
    await page.getByText('node-1 was killed').waitFor();
    assert.deepEqual(killed, ['node-1']);
    // node-1's lease (3 s) runs out and bob, on node-2, is told.
    await seenBy('bob', 'alice').and(page.locator('[data-online=false]')).waitFor();
    await shot(page, 'demo-node-killed');
    await cluster.restartNode(0);
  });

  test('the cluster going down shows "disconnected, retrying" and the page recovers by itself', async () => {
    const page = await newPage();
    await logIn(page, grpc.readToken);
    await page.getByText('Cluster view: live').waitFor();
    await cluster.authority.stop();
    await page.getByText('Cluster view: disconnected, retrying').waitFor();
    await page.getByTestId('read-at').getByText('may be out of date').waitFor();
    await shot(page, 'overview-disconnected');
    await accessible(page, 'the overview while disconnected');
    await cluster.restartAuthority(0);
    await page.getByText('Cluster view: live').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=nodes] tr[data-node="node-1"]').getByText('live').waitFor({ timeout: 30_000 });
  });
});
