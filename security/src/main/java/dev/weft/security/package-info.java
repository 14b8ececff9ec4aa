/**
 * Control-plane security shared by ipam-service, policy-service and the agent: {@code dev.weft.security.tls} for
 * certificates and trust, {@code dev.weft.security.auth} for caller identity and authorization.
 */
package dev.weft.security;
