export { createPusherHandlers, putObjectInput, type ObjectMeta } from './handlers.js';
export { assertBucket, createS3Client, s3ConfigFromEnv, type S3Config } from './s3.js';
