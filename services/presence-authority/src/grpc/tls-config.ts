import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ConfigError, type EnvReader } from '@vigil/config';

/** TLS of the gRPC API: the server's certificate, and with `clientCaPem` mutual TLS. */
export interface GrpcTlsConfig {
  readonly certChainPem: Buffer;
  readonly privateKeyPem: Buffer;
  /**
   * CA certificates that sign the clients' certificates. When present, a
   * client without a certificate that chains to one of them is refused during
   * the handshake (before any call, so before the bearer token is looked at).
   */
  readonly clientCaPem: Buffer | undefined;
}

function readPem(setting: string, file: string, check: (pem: Buffer) => void): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new ConfigError(setting, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    check(pem);
  } catch (e) {
    throw new ConfigError(setting, `${file} holds no usable PEM: ${e instanceof Error ? e.message : String(e)}`);
  }
  return pem;
}

const isCertificate = (pem: Buffer): void => void new X509Certificate(pem);
const isPrivateKey = (pem: Buffer): void => void createPrivateKey(pem);

/**
 * VIGIL_GRPC_TLS_CERT_FILE and VIGIL_GRPC_TLS_KEY_FILE turn TLS on (both or
 * neither); VIGIL_GRPC_TLS_CLIENT_CA_FILE on top of them requires client
 * certificates. The files are read once at start: rotating them means a
 * restart of the replica (one at a time; clients retry on UNAVAILABLE).
 */
export function readGrpcTlsConfig(env: EnvReader): GrpcTlsConfig | undefined {
  const certFile = env.string('VIGIL_GRPC_TLS_CERT_FILE', '', 'PEM certificate chain of the gRPC API; with VIGIL_GRPC_TLS_KEY_FILE turns TLS on');
  const keyFile = env.string('VIGIL_GRPC_TLS_KEY_FILE', '', 'PEM private key of the gRPC API certificate');
  const caFile = env.string('VIGIL_GRPC_TLS_CLIENT_CA_FILE', '', 'PEM CA certificates for client certificates; when set, every gRPC client must present one it signed (mTLS)');
  if (certFile === '' && keyFile === '') {
    if (caFile !== '') throw new ConfigError('VIGIL_GRPC_TLS_CLIENT_CA_FILE', 'mutual TLS needs the server certificate too: set VIGIL_GRPC_TLS_CERT_FILE and VIGIL_GRPC_TLS_KEY_FILE');
    return undefined;
  }
  if (certFile === '') throw new ConfigError('VIGIL_GRPC_TLS_CERT_FILE', 'VIGIL_GRPC_TLS_KEY_FILE is set but the certificate is not');
  if (keyFile === '') throw new ConfigError('VIGIL_GRPC_TLS_KEY_FILE', 'VIGIL_GRPC_TLS_CERT_FILE is set but the private key is not');
  return {
    certChainPem: readPem('VIGIL_GRPC_TLS_CERT_FILE', certFile, isCertificate),
    privateKeyPem: readPem('VIGIL_GRPC_TLS_KEY_FILE', keyFile, isPrivateKey),
    clientCaPem: caFile === '' ? undefined : readPem('VIGIL_GRPC_TLS_CLIENT_CA_FILE', caFile, isCertificate),
  };
}
