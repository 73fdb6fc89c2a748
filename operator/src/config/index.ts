/** The operator's runtime-config rendering, for the ConfigMap writer and the webhook. */
export { CONFIG_MAP_KEY, CONFIG_MAP_NAME, defaultBinderName, renderBinder, renderBinding, renderConfig } from './render.ts';
export {
  binderCredentialEnv,
  binderCredentialsRef,
  binderEnvReference,
  binderEnvVarName,
  type BinderCredentialsRef,
  type CredentialPart,
} from './credentials.ts';
