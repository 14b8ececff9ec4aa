package dev.weft.agent.ovsdb;

import java.io.IOException;

/** OVSDB unreachable, a transaction error reported by ovsdb-server, or a condition (e.g. no such bridge) not met. */
public class OvsdbException extends IOException {
    public OvsdbException(String message) {
        super(message);
    }

    public OvsdbException(String message, Throwable cause) {
        super(message, cause);
    }
}
