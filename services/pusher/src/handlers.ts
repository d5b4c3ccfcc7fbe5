import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import type { PusherHandlers } from 'pusher-bindings';

export interface ObjectMeta {
  readonly contentType?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/** The PutObject request for one backup: tags travel as the URL-encoded `x-amz-tagging` header. */
export function putObjectInput(bucket: string, key: string, content: string, meta: ObjectMeta = {}): PutObjectCommandInput {
  const tags = meta.tags && Object.keys(meta.tags).length > 0 ? new URLSearchParams({ ...meta.tags }).toString() : undefined;
  return {
    Bucket: bucket,
    Key: key,
    Body: content,
    ContentType: meta.contentType ?? 'text/plain; charset=utf-8',
    ...(tags ? { Tagging: tags } : {}),
  };
}

/** Pusher's implementation of its contract: each version writes one object and reports where. */
export function createPusherHandlers(s3: S3Client, bucket: string): PusherHandlers {
  async function put(key: string, content: string, meta?: ObjectMeta) {
    const out = await s3.send(new PutObjectCommand(putObjectInput(bucket, key, content, meta)));
    return { bucket, key, etag: out.ETag ?? '' };
  }
  return {
    sendToS3: (key, content) => put(key, content),
    sendToS3V2: (key, content, meta) => put(key, content, meta),
  };
}
