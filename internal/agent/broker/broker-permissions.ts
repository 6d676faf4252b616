/**
 * Per-identity broker permissions (SPEC §10), built from the identity like choria's
 * broker auth: an agent subscribes only to its own submit/rpc/inbox subjects and to
 * discovery, and publishes only under `quickcmd.v1.<self>.` and to reply subjects; a
 * controller publishes submits, rpcs, inbox messages and discovery, and subscribes to
 * frames, heartbeats and its own reply inbox. Rendered as nats-server config blocks.
 */
import { INBOX_STREAM, inboxConsumerCreateSubject, inboxDurable } from './inbox-stream.js';
import { DISCOVER_SUBJECT, SUBJECT_PREFIX, agentInboxPrefix, controllerInboxPrefix, inboxSubject, rpcSubject, submitSubject } from './subjects.js';

/** nats-server permissions of one user. */
export interface BrokerPermissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
  /** Lets the user answer the reply subject of a request it received. */
  readonly allow_responses?: boolean;
}

/** Permissions of the agent `name`. */
export function agentPermissions(name: string): BrokerPermissions {
  const durable = inboxDurable(name);
  return {
    publish: {
      allow: [
        `${SUBJECT_PREFIX}.${name}.>`,
        // The offline inbox: only its own durable consumer, created with its own filter
        // (the filter is part of the API subject, so no other agent's inbox can be named).
        '$JS.API.INFO',
        inboxConsumerCreateSubject(name),
        `$JS.API.CONSUMER.INFO.${INBOX_STREAM}.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${INBOX_STREAM}.${durable}`,
        `$JS.ACK.${INBOX_STREAM}.${durable}.>`,
      ],
    },
    subscribe: { allow: [submitSubject(name), rpcSubject(name), inboxSubject(name), DISCOVER_SUBJECT, `${agentInboxPrefix(name)}.>`] },
    allow_responses: true,
  };
}

/** Permissions of the controller `id`. */
export function controllerPermissions(id: string): BrokerPermissions {
  return {
    publish: {
      allow: [
        `${SUBJECT_PREFIX}.*.submit`,
        `${SUBJECT_PREFIX}.*.rpc`,
        `${SUBJECT_PREFIX}.*.inbox`,
        DISCOVER_SUBJECT,
        // Create the inbox stream, read its state and look a queued job up by sequence.
        '$JS.API.INFO',
        `$JS.API.STREAM.CREATE.${INBOX_STREAM}`,
        `$JS.API.STREAM.INFO.${INBOX_STREAM}`,
        `$JS.API.STREAM.MSG.GET.${INBOX_STREAM}`,
      ],
    },
    subscribe: { allow: [`${SUBJECT_PREFIX}.*.out.>`, `${SUBJECT_PREFIX}.*.hb`, `${controllerInboxPrefix(id)}.>`] },
  };
}

/** One entry of a nats-server `authorization.users` list (JSON is valid nats-server config). */
export function userBlock(nkeyPublic: string, perms: BrokerPermissions, comment: string): string {
  return `# ${comment}\n${JSON.stringify({ nkey: nkeyPublic, permissions: perms }, null, 2)}`;
}
