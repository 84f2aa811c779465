import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

/** The repository's proto/ directory, from this module's place in services/presence-authority/dist/grpc. */
const PROTO_ROOT = fileURLToPath(new URL('../../../../proto/', import.meta.url));
/** Directories whose files define what the API serves; their imports (google/rpc) load from PROTO_ROOT. */
const SERVED_DIRS = ['vigil/presence/v1', 'grpc/health/v1'] as const;

export class ReflectionSetupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReflectionSetupError';
  }
}

/**
 * Adds server reflection (grpc.reflection.v1 and v1alpha) describing
 * `services`, the fully-qualified names this server has added. The
 * descriptors come from the .proto sources, parsed at start: ts-proto's
 * generated code carries no descriptors. Services defined in the files but
 * not served here stay unlisted.
 */
export function addReflection(server: Server, services: readonly string[], protoRoot: string = PROTO_ROOT): void {
  let files: string[];
  try {
    files = SERVED_DIRS.flatMap((dir) => readdirSync(join(protoRoot, dir)).filter((f) => f.endsWith('.proto')).map((f) => `${dir}/${f}`));
  } catch (e) {
    throw new ReflectionSetupError(`server reflection needs the .proto sources under ${protoRoot}`, { cause: e });
  }
  const definition = loadSync(files, { includeDirs: [protoRoot] });
  new ReflectionService(definition, { services: [...services] }).addToServer(server);
}
