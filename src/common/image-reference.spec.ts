import { isImageReference } from './image-reference';

describe('isImageReference', () => {
  it.each(['debian:12', 'localhost/pulse-test:busybox', 'registry.example.com:5000/team/app:1.2', 'myhost:5000/app', `alpine@sha256:${'a'.repeat(64)}`, 'library/ubuntu', 'ghcr.io/org/tool_x-y:v1.0-rc.1'])(
    'accepts %s',
    (ref) => expect(isImageReference(ref)).toBe(true),
  );
  it.each(['', 'UPPER/case', 'Debian', 'not an image', 'ubuntu:', 'a//b', '-rf', 'x'.repeat(256), 'alpine@sha256:abc'])('refuses %j', (ref) =>
    expect(isImageReference(ref)).toBe(false),
  );
});
