/**
 * How a Binder's credentials reach a sidecar: the ConfigMap refers to environment variables
 * by name, and the webhook fills those variables from the Binder's Secret
 * (`env[].valueFrom.secretKeyRef`). Both sides take the names from here, so they agree.
 */
import type { BinderSpec } from '../api/types.ts';

export type CredentialPart = 'USERNAME' | 'PASSWORD';

/** `default-rabbit` -> `BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD`. */
export function binderEnvVarName(binderName: string, part: CredentialPart): string {
  return `BINDERY_BINDER_${binderName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${part}`;
}

/** `${BINDERY_BINDER_<NAME>_<PART>}`, expanded by the runtime's config loader. */
export function binderEnvReference(binderName: string, part: CredentialPart): string {
  return `\${${binderEnvVarName(binderName, part)}}`;
}

export interface BinderCredentialsRef {
  secretName: string;
  usernameKey: string;
  passwordKey: string;
}

/** The Secret and keys holding a Binder's user name and password, if it has any. */
export function binderCredentialsRef(spec: BinderSpec): BinderCredentialsRef | undefined {
  const secret = spec.type === 'rabbit' ? spec.rabbit?.credentialsSecret : spec.kafka?.sasl?.secret;
  if (!secret) return undefined;
  return {
    secretName: secret.name,
    usernameKey: secret.usernameKey ?? 'username',
    passwordKey: secret.passwordKey ?? 'password',
  };
}

/**
 * The env vars a sidecar needs for one Binder, each with the Secret key it comes from:
 * exactly what the webhook turns into `valueFrom.secretKeyRef`.
 */
export function binderCredentialEnv(
  binderName: string,
  spec: BinderSpec,
): Array<{ name: string; secretName: string; secretKey: string }> {
  const ref = binderCredentialsRef(spec);
  if (!ref) return [];
  return [
    { name: binderEnvVarName(binderName, 'USERNAME'), secretName: ref.secretName, secretKey: ref.usernameKey },
    { name: binderEnvVarName(binderName, 'PASSWORD'), secretName: ref.secretName, secretKey: ref.passwordKey },
  ];
}
