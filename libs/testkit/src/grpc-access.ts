import { randomBytes } from 'node:crypto';
import { freePort } from './ports.js';

/** The gRPC API on every authority replica of a test or dev cluster. */
export interface GrpcOptions {
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** One port per authority replica; free ports when absent. */
  readonly ports?: readonly number[];
  /** Fixed tokens (default: random per cluster). */
  readonly adminToken?: string;
  readonly readToken?: string;
}

const token = (): string => randomBytes(24).toString('base64url');

/** Where each replica's gRPC API listens and the tokens it accepts: one with scope admin, one read-only. */
export class GrpcAccess {
  private constructor(
    readonly host: string,
    readonly ports: readonly number[],
    readonly adminToken: string,
    readonly readToken: string,
  ) {}

  static async allocate(options: true | GrpcOptions, replicas: number): Promise<GrpcAccess> {
    const o: GrpcOptions = options === true ? {} : options;
    const ports: number[] = [];
    for (let i = 0; i < replicas; i++) ports.push(o.ports?.[i] ?? (await freePort()));
    return new GrpcAccess(o.host ?? '127.0.0.1', ports, o.adminToken ?? token(), o.readToken ?? token());
  }

  /** `host:port` of replica i's API. */
  address(i = 0): string {
    const port = this.ports[i];
    if (port === undefined) throw new RangeError(`no gRPC port for authority ${i}`);
    return `${this.host}:${port}`;
  }

  /** The authority's environment that turns the API on. */
  env(i: number): Record<string, string> {
    return {
      VIGIL_GRPC_PORT: String(this.ports[i] ?? 0),
      VIGIL_GRPC_HOST: this.host,
      VIGIL_GRPC_TOKENS: `testkit-admin:admin:${this.adminToken},testkit-read:read:${this.readToken}`,
    };
  }
}
