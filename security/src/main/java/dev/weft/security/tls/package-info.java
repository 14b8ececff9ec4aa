/**
 * TLS for the control plane's gRPC: a self-managed CA ({@link dev.weft.security.tls.CertificateAuthority}) kept in the
 * Secret {@code weft-ca} and published as the bundle ConfigMap {@code weft-ca} ({@link
 * dev.weft.security.tls.ControlPlaneCa}); each service's short-lived serving certificate, served through the Quarkus
 * TLS registry and rotated at two thirds of its life ({@link dev.weft.security.tls.ServingTls}); and the clients'
 * verification of the server against the bundle under a fixed server name ({@link
 * dev.weft.security.tls.ClientTls}). docs/security.md describes the trust model.
 */
package dev.weft.security.tls;
