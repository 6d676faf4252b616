/**
 * The shape of a signature on the wire (SPEC §3), once for both sides: the one algorithm,
 * the hex form of an HMAC-SHA256, and the headers of a signed request (status, cancel,
 * stream). How a signature is computed is signing.ts.
 */

/** The only signature algorithm the wire format defines. */
export const SIGNATURE_ALGORITHM = 'HMAC-SHA256';

/** A signature as sent: 64 lowercase hex characters. */
export const SIGNATURE_HEX_RE = /^[0-9a-f]{64}$/;

/** Headers of a signed request, as a controller spells them (HTTP header names ignore case). */
export const SIGNED_REQUEST_HEADERS = {
  /** The signing controller's id. */
  controller: 'X-QuickCMD-Controller',
  /** Unix seconds of the request. */
  timestamp: 'X-QuickCMD-Timestamp',
  /** Lowercase hex HMAC-SHA256 of the signing string. */
  signature: 'X-QuickCMD-Signature',
} as const;
