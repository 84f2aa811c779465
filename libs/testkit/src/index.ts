export { DeadlineError, withDeadline } from './wait.js';
export { freePort } from './ports.js';
export { type LogRecord, ChildService } from './child.js';
export { type NatsServer, type NatsServerOptions, NatsServerNotFoundError, findNatsServer, startNatsServer } from './nats-server.js';
export { type ClusterOptions, type NodeHandle, Cluster } from './cluster.js';
export { type Mark, type Stanza, type TestClientOptions, TestClient, errorCondition, is, xml } from './xmpp-client.js';
export { FakeClock } from './fake-clock.js';
export { RawConnection, clientStreamHeader } from './raw-client.js';
export { PresenceModel, type Received } from './presence-model.js';
