/**
 * How a Binder's credentials reach a sidecar: the rendered config refers to environment
 * variables by name, and the webhook fills those variables from the Binder's Secret
 * (`env[].valueFrom.secretKeyRef`). Both take the names from sidecar-config/env.ts.
 */
import { binderEnvVarName } from '../../../sidecar-config/env.ts';
import type { BinderSpec } from '../api/types.ts';

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
