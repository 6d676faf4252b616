/**
 * Per-identity broker permissions (SPEC §10), built from the identity like choria's
 * broker auth: an agent subscribes only to its own submit/rpc/inbox subjects and to
 * discovery, and publishes only under `quickcmd.v1.<self>.` and to reply subjects; a
 * controller publishes submits, rpcs, inbox messages and discovery, and subscribes to
 * frames, heartbeats and its own reply inbox. Rendered as nats-server config blocks.
 */
import { DISCOVER_SUBJECT, SUBJECT_PREFIX, controllerInboxPrefix, inboxSubject, rpcSubject, submitSubject } from './subjects.js';

/** nats-server permissions of one user. */
export interface BrokerPermissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
  /** Lets the user answer the reply subject of a request it received. */
  readonly allow_responses?: boolean;
}

/** Permissions of the agent `name`. */
export function agentPermissions(name: string): BrokerPermissions {
  return {
    publish: { allow: [`${SUBJECT_PREFIX}.${name}.>`] },
    subscribe: { allow: [submitSubject(name), rpcSubject(name), inboxSubject(name), DISCOVER_SUBJECT] },
    allow_responses: true,
  };
}

/** Permissions of the controller `id`. */
export function controllerPermissions(id: string): BrokerPermissions {
  return {
    publish: { allow: [`${SUBJECT_PREFIX}.*.submit`, `${SUBJECT_PREFIX}.*.rpc`, `${SUBJECT_PREFIX}.*.inbox`, DISCOVER_SUBJECT] },
    subscribe: { allow: [`${SUBJECT_PREFIX}.*.out.>`, `${SUBJECT_PREFIX}.*.hb`, `${controllerInboxPrefix(id)}.>`] },
  };
}

/** One entry of a nats-server `authorization.users` list (JSON is valid nats-server config). */
export function userBlock(nkeyPublic: string, perms: BrokerPermissions, comment: string): string {
  return `# ${comment}\n${JSON.stringify({ nkey: nkeyPublic, permissions: perms }, null, 2)}`;
}
