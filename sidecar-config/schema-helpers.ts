/** Schema helpers shared by the sidecar's config file and the CRDs (both are OpenAPI-shaped). */
import { Kind, Type, TypeRegistry, type TUnsafe } from '@sinclair/typebox';

/** A CEL rule of a CRD schema; `fieldPath` points the error at a field below the rule's object. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Rules the API server checks (`x-kubernetes-validations`); other readers of the schema ignore them. */
export const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

/**
 * A string enum as OpenAPI `enum` (TypeBox's union of literals would be `anyOf`, which CRDs
 * handle poorly). Its own kind, registered below, lets TypeBox's checker validate it too.
 */
export function StringEnum<T extends string[]>(values: [...T], options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ [Kind]: 'StringEnum', type: 'string', enum: values, ...options });
}

if (!TypeRegistry.Has('StringEnum')) {
  TypeRegistry.Set<{ enum: string[] }>('StringEnum', (schema, value) => typeof value === 'string' && schema.enum.includes(value));
}

/** Broker-side names: safe for a RabbitMQ exchange or queue and for a Kafka topic. */
export const BROKER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

export const GroupName = (description: string, options: Record<string, unknown> = {}) =>
  Type.String({ description, pattern: BROKER_NAME_PATTERN, minLength: 1, maxLength: 100, ...options });
