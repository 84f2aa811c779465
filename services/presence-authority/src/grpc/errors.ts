import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';
import { admin, rpcDetails, rpcStatus } from '@vigil/proto';

const DETAILS_KEY = 'grpc-status-details-bin';
const TYPE_URL = 'type.googleapis.com/google.rpc.';

/** A field at fault, named as in the .proto (`jids[3]`, `contact_jid`). */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export interface ApiErrorDetail {
  readonly fieldViolations?: readonly FieldViolation[];
  readonly retryAfterMs?: number;
  readonly resource?: { readonly type: string; readonly name: string };
}

/**
 * A gRPC status with its google.rpc details (BadRequest, RetryInfo,
 * ResourceInfo), sent in the grpc-status-details-bin trailer. The message
 * also names the field, for clients that do not decode details.
 */
export class ApiError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly detail: ApiErrorDetail = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static invalid(field: string, description: string): ApiError {
    return new ApiError(status.INVALID_ARGUMENT, `${field}: ${description}`, { fieldViolations: [{ field, description }] });
  }

  static notFound(type: string, name: string, message = `no ${type} ${name}`): ApiError {
    return new ApiError(status.NOT_FOUND, message, { resource: { type, name } });
  }

  static unavailable(message: string, retryAfterMs: number): ApiError {
    return new ApiError(status.UNAVAILABLE, `${message}; retry in ${retryAfterMs} ms`, { retryAfterMs });
  }

  /** What grpc-js sends: code, message, and the details trailer. */
  toStatus(): ServerErrorResponse {
    const metadata = new Metadata();
    metadata.set(DETAILS_KEY, Buffer.from(rpcStatus.Status.encode({ code: this.code, message: this.message, details: this.#details() }).finish()));
    return Object.assign(new Error(this.message), { code: this.code, details: this.message, metadata });
  }

  #details(): { typeUrl: string; value: Buffer }[] {
    const out: { typeUrl: string; value: Buffer }[] = [];
    const d = this.detail;
    if (d.fieldViolations !== undefined) {
      out.push({ typeUrl: `${TYPE_URL}BadRequest`, value: Buffer.from(rpcDetails.BadRequest.encode({ fieldViolations: [...d.fieldViolations] }).finish()) });
    }
    if (d.retryAfterMs !== undefined) {
      const retryDelay = { seconds: Math.floor(d.retryAfterMs / 1000), nanos: (d.retryAfterMs % 1000) * 1_000_000 };
      out.push({ typeUrl: `${TYPE_URL}RetryInfo`, value: Buffer.from(rpcDetails.RetryInfo.encode({ retryDelay }).finish()) });
    }
    if (d.resource !== undefined) {
      const info = { resourceType: d.resource.type, resourceName: d.resource.name, owner: '', description: this.message };
      out.push({ typeUrl: `${TYPE_URL}ResourceInfo`, value: Buffer.from(rpcDetails.ResourceInfo.encode(info).finish()) });
    }
    return out;
  }
}

/** The owner's refusal as a gRPC status. */
export function fromAdminError(e: admin.AdminError, retryAfterMs: number): ApiError {
  const C = admin.AdminErrorCode;
  switch (e.code) {
    case C.ADMIN_ERROR_CODE_INVALID_ARGUMENT:
      return e.field === '' ? new ApiError(status.INVALID_ARGUMENT, e.message) : ApiError.invalid(e.field, e.message);
    case C.ADMIN_ERROR_CODE_NOT_FOUND:
      return ApiError.notFound(e.resourceType, e.resourceName, e.message);
    case C.ADMIN_ERROR_CODE_UNAVAILABLE:
      return ApiError.unavailable(e.message, retryAfterMs);
    case C.ADMIN_ERROR_CODE_RESOURCE_EXHAUSTED:
      return new ApiError(status.RESOURCE_EXHAUSTED, e.message);
    case C.ADMIN_ERROR_CODE_FAILED_PRECONDITION:
      return new ApiError(status.FAILED_PRECONDITION, e.message);
    default:
      return new ApiError(status.INTERNAL, e.message);
  }
}
