package dev.weft.security.tls;

/** Certificates or keys that cannot be used: unreadable PEM, a key that is not the certificate's, an expired CA. */
public final class TlsMaterialException extends RuntimeException {
    public TlsMaterialException(String message) {
        super(message);
    }

    public TlsMaterialException(String message, Throwable cause) {
        super(message, cause);
    }
}
