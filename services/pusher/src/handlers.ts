import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { PusherHandlers } from 'pusher-bindings';

/** Pusher's implementation of its contract: each version writes one object and reports where. */
export function createPusherHandlers(s3: S3Client, bucket: string): PusherHandlers {
  async function put(key: string, content: string, contentType?: string, tags?: Readonly<Record<string, string>>) {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: content,
        ContentType: contentType ?? 'text/plain; charset=utf-8',
        ...(tags && Object.keys(tags).length > 0 ? { Tagging: new URLSearchParams(tags).toString() } : {}),
      }),
    );
    return { bucket, key, etag: out.ETag ?? '' };
  }
  return {
    sendToS3: (key, content) => put(key, content),
    sendToS3V2: (key, content, meta) => put(key, content, meta.contentType, meta.tags),
  };
}
