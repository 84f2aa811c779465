import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import { ConfigError } from '@vigil/config';

/**
 * Mozilla's "intermediate" server profile (TLS 1.2 and 1.3): only AEAD
 * ciphers with forward secrecy. Node's own default list is also safe but
 * keeps CBC-SHA256/SHA384 suites and the open-ended `HIGH` for TLS 1.2;
 * every client that speaks TLS 1.2 at all has one of these. DHE is left out:
 * it would need our own DH parameters for no client that lacks ECDHE. The
 * TLS 1.3 suites are listed so the string states the whole policy.
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const satisfies readonly SecureVersion[];
export type TlsMinVersion = (typeof TLS_VERSIONS)[number];

/** Where the certificate lives and what the handshake may negotiate. */
export interface TlsSettings {
  readonly certFile: string;
  readonly keyFile: string;
  readonly minVersion: TlsMinVersion;
  readonly ciphers: string;
}

/** What a loaded certificate says about itself, for logs. */
export interface CertificateSummary {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly validTo: string;
  /** The certificate names the XMPP domain (RFC 6125 DNS-ID, wildcards included). */
  readonly matchesDomain: boolean;
  readonly expired: boolean;
}

/**
 * The node's certificate and key, read from files, as a TLS context that
 * STARTTLS, direct TLS and wss all use. `reload()` (on SIGHUP) swaps in a
 * new context for connections that start afterwards; streams already
 * encrypted keep the one they negotiated. A failed reload keeps the old one.
 */
export class TlsCredentials {
  #options: SecureContextOptions;
  #context: SecureContext;
  #summary: CertificateSummary;

  private constructor(
    private readonly settings: TlsSettings,
    private readonly domain: string,
  ) {
    const loaded = load(settings, domain);
    this.#options = loaded.options;
    this.#context = loaded.context;
    this.#summary = loaded.summary;
  }

  /** Reads and checks the files; a problem is a ConfigError naming the variable. */
  static load(settings: TlsSettings, domain: string): TlsCredentials {
    return new TlsCredentials(settings, domain);
  }

  /** The context for a connection starting now. */
  get context(): SecureContext {
    return this.#context;
  }

  /** The same policy as options, for servers that build their own context (https.Server#setSecureContext). */
  get options(): SecureContextOptions {
    return this.#options;
  }

  get summary(): CertificateSummary {
    return this.#summary;
  }

  /** Re-reads both files; throws (keeping the current context) if they are unreadable or do not match. */
  reload(): CertificateSummary {
    const loaded = load(this.settings, this.domain);
    this.#options = loaded.options;
    this.#context = loaded.context;
    this.#summary = loaded.summary;
    return this.#summary;
  }
}

function load(settings: TlsSettings, domain: string): { options: SecureContextOptions; context: SecureContext; summary: CertificateSummary } {
  const cert = readPem(settings.certFile, 'VIGIL_TLS_CERT_FILE');
  const key = readPem(settings.keyFile, 'VIGIL_TLS_KEY_FILE');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new ConfigError('VIGIL_TLS_CERT_FILE', `${settings.certFile} is not a PEM certificate: ${message(e)}`);
  }
  try {
    // Node would accept a mismatched pair here and fail every handshake later.
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not belong to the certificate');
  } catch (e) {
    throw new ConfigError('VIGIL_TLS_KEY_FILE', `${settings.keyFile}: ${message(e)}`);
  }
  // RFC 8996: TLS 1.0 and 1.1 MUST NOT be negotiated (RFC 7590 applies BCP 195 to XMPP). maxVersion stays Node's, 1.3.
  const options: SecureContextOptions = { cert, key, minVersion: settings.minVersion, ciphers: settings.ciphers, honorCipherOrder: false };
  let context: SecureContext;
  try {
    context = createSecureContext(options);
  } catch (e) {
    throw new ConfigError('VIGIL_TLS_CIPHERS', `cannot build a TLS context: ${message(e)}`);
  }
  const summary: CertificateSummary = {
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: x509.validTo,
    matchesDomain: x509.checkHost(domain) !== undefined,
    expired: Date.parse(x509.validTo) < Date.now(),
  };
  return { options, context, summary };
}

function readPem(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(setting, `cannot read ${file}: ${message(e)}`);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
