import { putObjectInput } from '@taskbus-example/pusher';
import { expect } from 'chai';

describe('pusher putObjectInput', () => {
  it('v1: plain text, no tagging', () => {
    expect(putObjectInput('b', 'k', 'c')).to.deep.equal({ Bucket: 'b', Key: 'k', Body: 'c', ContentType: 'text/plain; charset=utf-8' });
  });
  it('v2: content type, and tags URL-encoded as S3 expects', () => {
    const input = putObjectInput('b', 'k', 'c', { contentType: 'application/json', tags: { service: 'a b', 'x&y': '1=2' } });
    expect(input.ContentType).to.equal('application/json');
    expect(input.Tagging).to.equal('service=a+b&x%26y=1%3D2');
  });
  it('v2 with empty tags sends no tagging header', () => {
    expect(putObjectInput('b', 'k', 'c', { tags: {} })).not.to.have.property('Tagging');
  });
});
