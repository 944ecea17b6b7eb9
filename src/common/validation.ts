import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import { fastCheckFor } from './fast-bodies';

function describe(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((e) => {
    const path = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) =>
      // class-validator says "property x should not exist": name the full path instead.
      m.startsWith(`property ${e.property} `) ? m.replace(`property ${e.property}`, `property ${path}`) : m.replace(e.property, path),
    );
    return [...own, ...describe(e.children ?? [], path)];
  });
}

/**
 * Nest's ValidationPipe, except that a body whose DTO registered a fast check (src/common/
 * fast-bodies.ts: the hot runner routes) and passes it is used as it is. Whatever the check does
 * not accept is validated in full, so the rules and the 400 messages are those of the DTO.
 */
class PulseValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && fastCheckFor(metadata.metatype)?.(value)) return Promise.resolve(value);
    return super.transform(value, metadata) as Promise<unknown>;
  }
}

/**
 * Bodies and queries are validated against their DTO classes; unknown fields are refused (400)
 * and every message names the field, with its full path for nested objects.
 */
export function validationPipe(): ValidationPipe {
  return new PulseValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    exceptionFactory: (errors) => new BadRequestException({ message: describe(errors), error: 'Bad Request' }),
  });
}

export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,63}$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
