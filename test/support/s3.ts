import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '@taskbus-example/pusher';
import type { LocalS3 } from '../../scripts/local-s3.js';
import { waitFor } from './broker.js';

export function clientFor(s3: LocalS3): S3Client {
  Object.assign(process.env, s3.env);
  return createS3Client({ bucket: 'backups', endpoint: s3.endpoint, region: 'us-east-1' });
}

export interface StoredObject {
  readonly body: string;
  readonly contentType: string | undefined;
  readonly etag: string | undefined;
}

/**
 * Waits until the object exists and reads it whole: the local server may answer 500, or a short body,
 * while the object is still being written.
 */
export function readObject(s3: S3Client, bucket: string, key: string): Promise<StoredObject> {
  return waitFor(`s3://${bucket}/${key}`, async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = await got.Body!.transformToString();
    if (Buffer.byteLength(body) !== got.ContentLength) return undefined;
    return { body, contentType: got.ContentType, etag: got.ETag };
  });
}
