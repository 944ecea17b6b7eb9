/**
 * Container image references (SPEC section 9): `[registry[:port]/]path[:tag][@sha256:digest]`,
 * the grammar of the distribution reference (a registry host only when it has a dot or a port or is localhost; lower-case path components, a tag of up to 128
 * word characters, dots and dashes), at most 255 characters.
 */
export const IMAGE_REFERENCE =
  /^(?:(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?=:[0-9]+\/))(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export const IMAGE_REFERENCE_MAX = 255;

export const IMAGE_REFERENCE_MESSAGE = 'must be an image reference such as "debian:12", "registry.example.com:5000/team/app:1.2" or "alpine@sha256:<64 hex>"';

export function isImageReference(value: unknown): value is string {
  return typeof value === 'string' && value.length <= IMAGE_REFERENCE_MAX && IMAGE_REFERENCE.test(value);
}
