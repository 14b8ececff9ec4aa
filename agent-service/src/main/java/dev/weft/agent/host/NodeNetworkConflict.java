package dev.weft.agent.host;

import java.io.IOException;

/**
 * The node has something the agent will not change because it is not the agent's: a bridge of another datapath type,
 * a port of the agent's name owned by someone else, a foreign route to a peer's pod CIDR. The message says what and
 * what an operator can do; the agent reports it (readiness) and retries, it never destroys the other party's state.
 */
public final class NodeNetworkConflict extends IOException {
    public NodeNetworkConflict(String message) {
        super(message);
    }
}
