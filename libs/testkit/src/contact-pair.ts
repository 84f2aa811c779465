import { mutualContacts, type Cluster } from './cluster.js';
import { TestClient, is } from './xmpp-client.js';

export interface ContactPair {
  readonly alice: TestClient;
  readonly bob: TestClient;
}

/**
 * The usual start of a two-node test: alice and bob (password 'pw') are
 * mutual contacts, alice logs in on node 1 and bob on node 2, both send
 * initial presence, and it resolves once bob has seen alice online.
 */
export async function contactPairOnline(
  cluster: Cluster,
  options: { readonly aliceResource: string; readonly bobResource: string; readonly timeoutMs: number },
): Promise<ContactPair> {
  await cluster.provision([{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }], mutualContacts('alice', 'bob'));
  const alice = await TestClient.connect({ port: cluster.node(0).port, domain: cluster.domain, username: 'alice', password: 'pw', resource: options.aliceResource });
  const bob = await TestClient.connect({ port: cluster.node(1).port, domain: cluster.domain, username: 'bob', password: 'pw', resource: options.bobResource });
  await bob.sendPresence();
  await alice.sendPresence();
  await bob.expectStanza(is.presenceFrom(alice.jid), options.timeoutMs, 'alice online');
  return { alice, bob };
}
