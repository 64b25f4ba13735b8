/** What the initializer needs from an object store (S3 and S3-compatible stores, GCS). */

/** One object of a listing. */
export interface StoreObject {
  readonly key: string;
  readonly size: number;
}

/** A bucket-and-key store, with its credentials already chosen. */
export interface ObjectStore {
  /** Where requests go, for messages (`http://minio:9000`, `https://storage.googleapis.com`). */
  readonly endpoint: string;
  /** Every object whose key starts with `prefix`. */
  list(bucket: string, prefix: string, pageSize: number): Promise<StoreObject[]>;
  /** Downloads one object into `file` (through the write cap, verified); returns its size. */
  download(bucket: string, key: string, file: string): Promise<number>;
  /** Closes kept-alive connections. */
  close(): void;
}
