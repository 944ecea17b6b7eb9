import { registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { ENV_NAME_PATTERN } from './validation';

export const MAX_SCRIPT_BYTES = 1024 * 1024;

/** A script: a non-empty string (a run.sh) or an array of lines, at most 1 MiB in all. */
export function IsScript(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isScript',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate(value: unknown): boolean {
          const lines = typeof value === 'string' ? [value] : value;
          if (!Array.isArray(lines) || lines.length === 0) return false;
          let size = 0;
          for (const line of lines) {
            if (typeof line !== 'string') return false;
            size += Buffer.byteLength(line) + 1;
          }
          return size <= MAX_SCRIPT_BYTES && lines.some((l: string) => l.trim() !== '');
        },
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property ?? 'script'} must be a non-empty string or array of strings (at most 1 MiB)`,
      },
    });
}

/** An environment: names match ^[A-Za-z_][A-Za-z0-9_]*$, values are strings. */
export function IsEnvMap(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isEnvMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate(value: unknown): boolean {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value as Record<string, unknown>);
          return (
            entries.length <= 1000 &&
            entries.every(([k, v]) => ENV_NAME_PATTERN.test(k) && typeof v === 'string' && v.length <= 65536)
          );
        },
        defaultMessage: (args?: ValidationArguments) => {
          const bad = Object.entries((args?.value ?? {}) as Record<string, unknown>).find(
            ([k, v]) => !ENV_NAME_PATTERN.test(k) || typeof v !== 'string',
          );
          const detail = bad
            ? ENV_NAME_PATTERN.test(bad[0])
              ? `: the value of ${bad[0]} is not a string`
              : `: "${bad[0]}" is not a valid variable name`
            : '';
          return `${args?.property ?? 'env'} must map names matching ^[A-Za-z_][A-Za-z0-9_]*$ to strings${detail}`;
        },
      },
    });
}

/** True when a string, or any key or string inside an array or object, holds a NUL character. */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 64 || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => holdsNul(v, depth + 1));
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || holdsNul(v, depth + 1));
}

/**
 * No NUL character (`\u0000`) anywhere in the value: PostgreSQL cannot store one in text or
 * jsonb, and neither bash nor a process environment can carry one.
 */
export function NoNul(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'noNul',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown): boolean => !holdsNul(value),
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property ?? 'value'} must not contain NUL characters (\\u0000)`,
      },
    });
}
