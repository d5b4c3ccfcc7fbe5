import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { TaskbusError } from '@taskbus/runtime';

export interface S3Config {
  readonly bucket: string;
  /** Any S3-compatible endpoint; unset means AWS itself. */
  readonly endpoint: string | undefined;
  readonly region: string;
}

export function s3ConfigFromEnv(env: NodeJS.ProcessEnv = process.env): S3Config {
  return {
    bucket: env['S3_BUCKET'] || 'backups',
    endpoint: env['S3_ENDPOINT'] || undefined,
    region: env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || 'us-east-1',
  };
}

/** An S3 client for the config; credentials come from the standard AWS environment and files. */
export function createS3Client(config: S3Config): S3Client {
  // The SDK warns on every start that its 2027 releases need Node 22; the version in package-lock runs on
  // Node 20, so keep that notice out of service output unless the operator set the switch themselves.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
  });
}

/** Fails at start-up, not on the first task, when the bucket is missing or unreachable. */
export async function assertBucket(s3: S3Client, config: S3Config): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: config.bucket }));
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const why = status ? `HTTP ${status}` : e instanceof Error ? e.message : String(e);
    throw new TaskbusError(
      'E_S3_BUCKET',
      `bucket "${config.bucket}" is not usable at ${config.endpoint ?? 'AWS S3'} (${why}); create it or set S3_BUCKET/S3_ENDPOINT`,
      { cause: e },
    );
  }
}
