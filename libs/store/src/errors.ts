/** A store operation failed; carries the bucket and key it was about. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly bucket: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`${bucket}/${key}: ${message}`, options);
    this.name = 'StoreError';
  }
}

export class AccountExistsError extends StoreError {
  constructor(bucket: string, key: string) {
    super('account already exists', bucket, key);
    this.name = 'AccountExistsError';
  }
}

/** A compare-and-set lost: someone else wrote the key since we read it. */
export class RevisionConflictError extends StoreError {
  constructor(bucket: string, key: string, cause: unknown) {
    super('revision conflict', bucket, key, { cause });
    this.name = 'RevisionConflictError';
  }
}
