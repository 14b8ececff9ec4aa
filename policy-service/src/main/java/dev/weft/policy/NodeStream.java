package dev.weft.policy;

import dev.weft.policy.core.NodeSink;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import org.jboss.logging.Logger;

import java.util.ArrayDeque;
import java.util.List;

/**
 * One agent's WatchPolicies stream. Events are handed to gRPC only while the transport is ready (HTTP/2 flow
 * control), the rest waits in a bounded queue; when more than {@code bufferSize} change events wait (the initial
 * snapshot does not count), the stream ends with RESOURCE_EXHAUSTED and the agent re-syncs. The engine never waits
 * for an agent.
 */
final class NodeStream implements NodeSink {

    private static final Logger LOG = Logger.getLogger(NodeStream.class);

    private final String node;
    private final String agentId;
    private final ServerCallStreamObserver<PolicyEvent> observer;
    private final int bufferSize;
    private final Runnable onOverflow;
    private final ArrayDeque<PolicyEvent> queue = new ArrayDeque<>();
    private int snapshotRemaining = -1;
    private long sequence;
    private boolean closed;

    NodeStream(String node, String agentId, ServerCallStreamObserver<PolicyEvent> observer, int bufferSize,
               Runnable onOverflow) {
        this.node = node;
        this.agentId = agentId;
        this.observer = observer;
        this.bufferSize = bufferSize;
        this.onOverflow = onOverflow;
    }

    @Override
    public String nodeName() {
        return node;
    }

    @Override
    public synchronized boolean deliver(List<PolicyEvent> events) {
        if (closed) {
            return false;
        }
        queue.addAll(events);
        if (snapshotRemaining < 0) {
            snapshotRemaining = events.size();
        }
        if (queue.size() - snapshotRemaining > bufferSize) {
            closed = true;
            queue.clear();
            onOverflow.run();
            LOG.warnf("Agent %s (node %s) is more than %d events behind: closing its stream, it will re-sync",
                    agentId, node, bufferSize);
            observer.onError(Status.RESOURCE_EXHAUSTED
                    .withDescription("agent too slow: more than " + bufferSize + " events buffered; re-sync")
                    .asRuntimeException());
            return false;
        }
        drain();
        return true;
    }

    /** Also the transport's on-ready handler. */
    synchronized void drain() {
        while (!closed && !queue.isEmpty() && observer.isReady()) {
            PolicyEvent e = queue.poll();
            if (snapshotRemaining > 0) {
                snapshotRemaining--;
            }
            observer.onNext(e.toBuilder().setSequence(++sequence).build());
        }
    }

    /** Events waiting for the transport. */
    synchronized int queued() {
        return queue.size();
    }

    synchronized void cancelled() {
        closed = true;
        queue.clear();
    }

    synchronized boolean closed() {
        return closed;
    }
}
